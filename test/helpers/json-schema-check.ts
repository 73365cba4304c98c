// A small JSON Schema checker for the keywords the structured-output tests use (no validator
// package in the project): returns the first violation as a path and reason, or null.
type Schema = Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function schemaViolation(value: unknown, schema: Schema, root: Schema = schema, path = '$'): string | null {
  if (typeof schema['$ref'] === 'string') {
    const target = (schema['$ref'] as string).replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Schema)[k], root);
    return schemaViolation(value, target as Schema, root, path);
  }
  if (Array.isArray(schema['anyOf'])) {
    return (schema['anyOf'] as Schema[]).some((s) => schemaViolation(value, s, root, path) === null) ? null : `${path}: matches no anyOf branch`;
  }
  const t = typeOf(value);
  if (schema['type'] !== undefined) {
    const types = Array.isArray(schema['type']) ? (schema['type'] as string[]) : [schema['type'] as string];
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return `${path}: ${t} is not ${types.join('|')}`;
  }
  if (Array.isArray(schema['enum']) && !(schema['enum'] as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(value))) return `${path}: not in enum`;
  if ('const' in schema && JSON.stringify(schema['const']) !== JSON.stringify(value)) return `${path}: not the const`;
  if (typeof value === 'string') {
    const len = Array.from(value).length;
    if (typeof schema['minLength'] === 'number' && len < schema['minLength']) return `${path}: shorter than ${schema['minLength']}`;
    if (typeof schema['maxLength'] === 'number' && len > schema['maxLength']) return `${path}: longer than ${schema['maxLength']}`;
    if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern'] as string, 'u').test(value)) return `${path}: ${JSON.stringify(value)} does not match ${schema['pattern']}`;
  }
  if (typeof value === 'number') {
    if (typeof schema['minimum'] === 'number' && value < schema['minimum']) return `${path}: below ${schema['minimum']}`;
    if (typeof schema['maximum'] === 'number' && value > schema['maximum']) return `${path}: above ${schema['maximum']}`;
    if (typeof schema['exclusiveMinimum'] === 'number' && value <= schema['exclusiveMinimum']) return `${path}: not above ${schema['exclusiveMinimum']}`;
    if (typeof schema['exclusiveMaximum'] === 'number' && value >= schema['exclusiveMaximum']) return `${path}: not below ${schema['exclusiveMaximum']}`;
  }
  if (Array.isArray(value)) {
    if (typeof schema['minItems'] === 'number' && value.length < schema['minItems']) return `${path}: fewer than ${schema['minItems']} items`;
    if (typeof schema['maxItems'] === 'number' && value.length > schema['maxItems']) return `${path}: more than ${schema['maxItems']} items`;
    if (schema['items'] && typeof schema['items'] === 'object') {
      for (let i = 0; i < value.length; i++) {
        const v = schemaViolation(value[i], schema['items'] as Schema, root, `${path}[${i}]`);
        if (v) return v;
      }
    }
  }
  if (t === 'object') {
    const obj = value as Schema;
    const props = (schema['properties'] ?? {}) as Record<string, Schema>;
    for (const key of (schema['required'] ?? []) as string[]) if (!(key in obj)) return `${path}: missing ${key}`;
    for (const [key, v] of Object.entries(obj)) {
      if (props[key]) {
        const bad = schemaViolation(v, props[key]!, root, `${path}.${key}`);
        if (bad) return bad;
      } else if (schema['additionalProperties'] === false) return `${path}: unexpected property ${key}`;
    }
  }
  return null;
}
