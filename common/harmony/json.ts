// JSON values as they arrive from request bodies (JSON.parse output), typed without `any`.

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
