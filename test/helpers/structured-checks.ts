// Strict checks of structured output: the text must be JSON as RFC 8259 defines it (JSON.parse
// rejects a raw control character inside a string, as Python's json.loads does) and valid against
// its schema by ajv (every keyword, formats included).
import assert from 'node:assert/strict';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

const ajv = new Ajv({ strict: false, allErrors: false });
addFormats.default(ajv);
const validators = new WeakMap<object, ValidateFunction>();

function validatorOf(schema: object): ValidateFunction {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = ajv.compile(schema)));
  return v;
}

/** The parsed value of `text`, after asserting that it is strict JSON valid against `schema`. */
export function assertValidJson(text: string, schema: object | null, label: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    assert.fail(`${label}: not JSON (${(err as Error).message}): ${JSON.stringify(text)}`);
  }
  if (schema !== null) {
    const validate = validatorOf(schema);
    assert.ok(validate(value), `${label}: ${ajv.errorsText(validate.errors)}: ${text}`);
  }
  return value;
}
