// One pure parser for command-line flags: every flag is declared with its type and default, an
// unknown flag or a bad value is a ConfigError naming the flag.
import { ConfigError } from '../errors.js';

export type FlagType = 'string' | 'int' | 'number' | 'bool' | 'ints';

export interface FlagSpec {
  readonly type: FlagType;
  readonly description: string;
  readonly min?: number;
  readonly choices?: readonly string[];
  /** Former choices, each with what to say instead of "must be one of" (what replaced it). */
  readonly retired?: Readonly<Record<string, string>>;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<T extends FlagType> = T extends 'string' ? string : T extends 'int' | 'number' ? number : T extends 'bool' ? boolean : number[];

export type ParsedFlags<S extends FlagSpecs> = { -readonly [K in keyof S]?: ValueOf<S[K]['type']> };

/** `--help` or `-h` among a command's flags: the caller prints usage(command, specs) and exits 0. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
  constructor(readonly specs: FlagSpecs) {
    super('help requested');
  }
}

export function parseFlags<S extends FlagSpecs>(argv: readonly string[], specs: S): ParsedFlags<S> {
  // Asked for anywhere, help wins over any other flag (valid or not).
  if (argv.some((a) => a === '--help' || a === '-h')) throw new HelpRequested(specs);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`, arg);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const spec = specs[name];
    if (!spec) throw new ConfigError(`unknown flag --${name}`, name);
    if (spec.type === 'bool') {
      out[name] = value === undefined ? true : parseBool(name, value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`--${name} needs a value`, name);
    }
    out[name] = parseValue(name, spec, value);
  }
  return out as ParsedFlags<S>;
}

function parseBool(name: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(`--${name} must be true or false, got "${v}"`, name);
}

function parseValue(name: string, spec: FlagSpec, v: string): unknown {
  switch (spec.type) {
    case 'string':
      if (spec.retired && Object.hasOwn(spec.retired, v)) throw new ConfigError(`--${name} ${v} ${spec.retired[v]}`, name);
      if (spec.choices && !spec.choices.includes(v)) throw new ConfigError(`--${name} must be one of ${spec.choices.join(', ')}, got "${v}"`, name);
      return v;
    case 'int':
    case 'number': {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        throw new ConfigError(`--${name} must be ${spec.type === 'int' ? 'an integer' : 'a number'}, got "${v}"`, name);
      }
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`--${name} must be at least ${spec.min}, got ${n}`, name);
      return n;
    }
    case 'ints': {
      const parts = v.split(',').map((s) => s.trim());
      const nums = parts.map(Number);
      if (parts.some((p) => p === '') || nums.some((n) => !Number.isInteger(n) || n < 0)) {
        throw new ConfigError(`--${name} must be a comma-separated list of non-negative integers, got "${v}"`, name);
      }
      return nums;
    }
    case 'bool':
      return parseBool(name, v);
  }
}

const VALUE_NAMES: Record<FlagType, string> = { string: '<text>', int: '<int>', number: '<number>', bool: '', ints: '<id,id,...>' };

/** A command's help, from its flag definitions: each flag, its value, description (with the
 *  default it names), choices and minimum. */
export function usage(command: string, specs: FlagSpecs, summary?: string): string {
  const names = Object.entries(specs).map(([k, s]) => `--${k}${s.type === 'bool' ? '' : ` ${s.choices ? `<${s.choices.join('|')}>` : VALUE_NAMES[s.type]}`}`);
  const width = Math.max(...names.map((n) => n.length), 0) + 2;
  const lines = Object.values(specs).map((s, i) => {
    const min = s.min !== undefined && s.type !== 'bool' ? ` (at least ${s.min})` : '';
    return `  ${names[i]!.padEnd(width)}${s.description}${min}`;
  });
  const head = [`usage: gptoss ${command} [flags]`, ...(summary ? ['', summary] : [])];
  return [...head, '', 'flags:', ...lines, `  ${'--help, -h'.padEnd(width)}print this help`, ''].join('\n');
}
