// The structured-output tests' oracle: ajv (JSON Schema 2020-12, the dialect of OpenAI's strict
// schemas, with ajv-formats), so every keyword a schema carries is enforced. Strict mode refuses a
// schema with a keyword ajv does not know rather than ignoring it. Returns every violation as
// "path: reason" lines, or null when the value is valid.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsPlugin from 'ajv-formats';

type Schema = Record<string, unknown>;

// ajv-formats is CommonJS whose module object is also its default export; NodeNext types it as the module.
const addFormats = ((formatsPlugin as unknown as { default?: unknown }).default ?? formatsPlugin) as (a: Ajv2020) => Ajv2020;
// strictSchema refuses unknown keywords; strictTypes is off since `{ minimum: 0 }` without a type is valid JSON Schema.
const ajv = new Ajv2020({ allErrors: true, strictSchema: true, strictNumbers: true, strictTypes: false, strictTuples: false, strictRequired: false });
addFormats(ajv);

const compiled = new WeakMap<Schema, ValidateFunction>();

export function schemaViolation(value: unknown, schema: Schema): string | null {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return null;
  return (validate.errors ?? []).map((e) => `$${e.instancePath}: ${e.message ?? e.keyword}`).join('\n');
}
