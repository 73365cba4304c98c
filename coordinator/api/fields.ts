// Readers for request-body fields: each returns the typed value or throws InvalidRequestError naming
// the parameter by its path ("messages[2].role", "stream_options.include_usage"). As in OpenAI's
// API, an explicit null means "not given" for every optional field.
import { InvalidRequestError } from '../../common/errors.js';

export type Fields = Record<string, unknown>;

export function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Joins a parameter path: `at('messages[2]', 'role')` is "messages[2].role"; '' is the root. */
export function at(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** `o[key]`, own properties only (so "constructor" is not found); null counts as absent. */
export function get(o: Fields, key: string): unknown {
  if (!Object.hasOwn(o, key)) return undefined;
  const value = o[key];
  return value === null ? undefined : value;
}

export function invalid(param: string, message: string, code: string | null = null): InvalidRequestError {
  return new InvalidRequestError(`Invalid '${param}': ${message}`, param, code);
}

export function missing(param: string): InvalidRequestError {
  return new InvalidRequestError(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

export function requireObject(value: unknown, param: string): Fields {
  if (!isObject(value)) throw param === '' ? new InvalidRequestError('The request body must be a JSON object.', null) : invalid(param, 'expected an object.');
  return value;
}

export function optString(o: Fields, key: string, parent = ''): string | undefined {
  const value = get(o, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(at(parent, key), `expected a string, got ${typeName(value)}.`);
  return value;
}

export function reqString(o: Fields, key: string, parent = ''): string {
  const value = optString(o, key, parent);
  if (value === undefined) throw missing(at(parent, key));
  return value;
}

export function optBoolean(o: Fields, key: string, parent = ''): boolean | undefined {
  const value = get(o, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(at(parent, key), `expected a boolean, got ${typeName(value)}.`);
  return value;
}

export interface NumberRule {
  readonly min?: number;
  readonly max?: number;
  /** The minimum itself is not allowed. */
  readonly exclusiveMin?: boolean;
  readonly integer?: boolean;
}

export function optNumber(o: Fields, key: string, rule: NumberRule = {}, parent = ''): number | undefined {
  const value = get(o, key);
  if (value === undefined) return undefined;
  const param = at(parent, key);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(param, `expected a number, got ${typeName(value)}.`);
  if (rule.integer && !Number.isSafeInteger(value)) throw invalid(param, `expected an integer, got ${value}.`);
  const { min, max } = rule;
  if (min !== undefined && (rule.exclusiveMin ? value <= min : value < min)) {
    throw invalid(param, `${value} is ${rule.exclusiveMin ? 'less than or equal to' : 'less than'} the minimum of ${min}.`);
  }
  if (max !== undefined && value > max) throw invalid(param, `${value} is greater than the maximum of ${max}.`);
  return value;
}

export function optEnum<T extends string>(o: Fields, key: string, values: readonly T[], parent = ''): T | undefined {
  const value = get(o, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    throw invalid(at(parent, key), `expected one of ${values.map((v) => `'${v}'`).join(', ')}, got ${JSON.stringify(value)}.`);
  }
  return value as T;
}

export function optArray(o: Fields, key: string, parent = ''): unknown[] | undefined {
  const value = get(o, key);
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw invalid(at(parent, key), `expected an array, got ${typeName(value)}.`);
  return value;
}

export function optObject(o: Fields, key: string, parent = ''): Fields | undefined {
  const value = get(o, key);
  if (value === undefined) return undefined;
  return requireObject(value, at(parent, key));
}

/** `stop`: a string or an array of at most `max` non-empty strings. */
export function optStopStrings(o: Fields, key: string, max = 4): string[] {
  const value = get(o, key);
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw invalid(key, `expected a string or an array of strings, got ${typeName(value)}.`);
  if (list.length > max) throw invalid(key, `at most ${max} stop sequences are allowed, got ${list.length}.`);
  list.forEach((s, i) => {
    if (typeof s !== 'string') throw invalid(`${key}[${i}]`, `expected a string, got ${typeName(s)}.`);
    if (s.length === 0) throw invalid(`${key}[${i}]`, 'a stop sequence must not be empty.');
  });
  return list as string[];
}

/** A parameter we know but cannot honour: absent or its neutral value, else a 400. */
export function rejectUnsupported(o: Fields, key: string, neutral: (value: unknown) => boolean, what: string): void {
  const value = get(o, key);
  if (value !== undefined && !neutral(value)) throw invalid(key, `${what} is not supported by this server.`, 'unsupported_parameter');
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
