// OpenAI function-tool definitions, checked and reduced to what the `# Tools` section renders.
import { HarmonyRenderError } from './errors.js';
import { checkSchemaNesting, isJsonObject, type JsonObject, type JsonValue } from './json.js';
import type { FunctionToolSpec } from './tool-schema.js';

export interface FunctionDefinition {
  name: string;
  description?: string | null;
  /** JSON schema of the arguments object. */
  parameters?: JsonObject | null;
  strict?: boolean | null;
}

/** Chat Completions shape (`{type, function: {...}}`) or the flat Responses shape. */
export type ToolDefinition = { type: 'function'; function: FunctionDefinition } | ({ type: 'function' } & FunctionDefinition);

// OpenAI's rule for function names; it also keeps `to=functions.NAME` one header word.
export const FUNCTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function normalizeToolDefinitions(tools: unknown, param = 'tools'): FunctionToolSpec[] {
  if (tools === undefined || tools === null) return [];
  if (!Array.isArray(tools)) throw new HarmonyRenderError(param, 'must be an array of tools');
  const seen = new Set<string>();
  return tools.map((tool: unknown, i): FunctionToolSpec => {
    const at = `${param}[${i}]`;
    if (!isJsonObject(tool)) throw new HarmonyRenderError(at, 'must be an object');
    if (tool['type'] !== 'function') {
      throw new HarmonyRenderError(`${at}.type`, `unsupported tool type ${JSON.stringify(tool['type'])}; only "function" tools are supported`);
    }
    const nested = tool['function'];
    const fn = isJsonObject(nested) ? nested : tool;
    const fnAt = isJsonObject(nested) ? `${at}.function` : at;
    const name = fn['name'];
    if (typeof name !== 'string' || !FUNCTION_NAME_PATTERN.test(name)) {
      throw new HarmonyRenderError(`${fnAt}.name`, 'must be 1-64 characters of a-z, A-Z, 0-9, _ and -');
    }
    if (seen.has(name)) throw new HarmonyRenderError(`${fnAt}.name`, `duplicate function name ${name}`);
    seen.add(name);
    const description = fn['description'];
    if (description !== undefined && description !== null && typeof description !== 'string') {
      throw new HarmonyRenderError(`${fnAt}.description`, 'must be a string');
    }
    const parameters = fn['parameters'];
    if (parameters !== undefined && parameters !== null) {
      if (!isJsonObject(parameters)) throw new HarmonyRenderError(`${fnAt}.parameters`, 'must be a JSON schema object');
      // First: checkSchema, the renderer and the grammar compiler all recurse through it.
      checkSchemaNesting(parameters, `${fnAt}.parameters`);
      checkSchema(parameters, `${fnAt}.parameters`);
    }
    return {
      name,
      description: typeof description === 'string' ? description : '',
      ...(isJsonObject(parameters) ? { parameters } : {}),
    };
  });
}

// Only the keywords the renderer reads are checked; anything else passes through untouched.
function checkSchema(schema: JsonValue, at: string): void {
  if (typeof schema === 'boolean') return;
  if (!isJsonObject(schema)) throw new HarmonyRenderError(at, 'must be a JSON schema (object or boolean)');
  const type = schema['type'];
  if (type !== undefined && typeof type !== 'string' && !(Array.isArray(type) && type.every((t) => typeof t === 'string'))) {
    throw new HarmonyRenderError(`${at}.type`, 'must be a string or an array of strings');
  }
  const properties = schema['properties'];
  if (properties !== undefined) {
    if (!isJsonObject(properties)) throw new HarmonyRenderError(`${at}.properties`, 'must be an object');
    for (const [key, value] of Object.entries(properties)) checkSchema(value, `${at}.properties.${key}`);
  }
  const required = schema['required'];
  if (required !== undefined && !(Array.isArray(required) && required.every((r) => typeof r === 'string'))) {
    throw new HarmonyRenderError(`${at}.required`, 'must be an array of strings');
  }
  for (const keyword of ['oneOf', 'anyOf', 'allOf', 'enum'] as const) {
    const value = schema[keyword];
    if (value !== undefined && !Array.isArray(value)) throw new HarmonyRenderError(`${at}.${keyword}`, 'must be an array');
  }
  const oneOf = schema['oneOf'];
  if (Array.isArray(oneOf)) oneOf.forEach((variant, i) => checkSchema(variant, `${at}.oneOf[${i}]`));
  const items = schema['items'];
  if (items !== undefined && !Array.isArray(items)) checkSchema(items, `${at}.items`);
}
