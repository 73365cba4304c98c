// JSON values as they arrive from request bodies (JSON.parse output), typed without `any`.
import { InvalidRequestError } from '../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value[key]` when value is an object that owns key; own-property check so "constructor" etc. miss. */
export function jsonGet(value: JsonValue | undefined, key: string): JsonValue | undefined {
  if (!isJsonObject(value) || !Object.hasOwn(value, key)) return undefined;
  return value[key];
}

/**
 * Schemas nested deeper than this are refused, wherever they arrive (response formats, tool
 * parameters): xgrammar's converter recurses per level on a small WebAssembly stack (~110 levels
 * of objects overflow it, a trap that corrupts the instance; 100 still compile), and so do the
 * renderers of the schema into the prompt. Counted in JSON levels (objects and arrays).
 */
export const MAX_SCHEMA_NESTING = 64;

/**
 * How many levels of objects and arrays `value` nests, counted without recursion (a request body
 * may nest 100,000 levels: JSON.parse takes it, recursive code overflows the stack).
 */
export function jsonNesting(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    deepest = Math.max(deepest, depth);
    for (const child of Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** Refuses a schema nested deeper than MAX_SCHEMA_NESTING, before anything recursive reads it. */
export function checkSchemaNesting(schema: unknown, param: string): void {
  const depth = jsonNesting(schema);
  if (depth > MAX_SCHEMA_NESTING) {
    throw new InvalidRequestError(`Invalid '${param}': the JSON schema is nested ${depth} levels deep; at most ${MAX_SCHEMA_NESTING} are supported.`, param, 'invalid_json_schema');
  }
}
