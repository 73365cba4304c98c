// JSON grammars compiled by xgrammar against the o200k_harmony vocabulary, cached by schema.
// The vocabulary is handed over in GPT-2's byte-level spelling (each byte as one printable
// character) because o200k tokens are raw bytes that are often not valid UTF-8 on their own, and
// strings are all that cross into the WebAssembly side; xgrammar decodes them back to the bytes.
// Special tokens are given as empty strings, which xgrammar never allows inside a grammar; the
// matcher's stop tokens are allowed exactly where the grammar can end.
import { InvalidRequestError } from '../errors.js';
import { FIRST_SPECIAL_ID, type HarmonyTokenizer } from '../harmony/index.js';
import { withXGrammarReason, xgrammar, XGrammarRejection, type XGrammarModule } from './xgrammar.js';
import type { CompiledGrammar, GrammarCompiler, GrammarMatcher } from '@mlc-ai/web-xgrammar';

/** What the output must be. */
export type JsonGrammarSpec =
  /** Any JSON object (response_format json_object). */
  | { readonly kind: 'json_object' }
  /** A value valid against this JSON schema (json_schema, strict tools). */
  | { readonly kind: 'json_schema'; readonly schema: unknown };

/** Compiled grammars kept; least recently used ones are dropped past this. */
const CACHE_SIZE = 256;

export class JsonGrammars {
  private readonly cache = new Map<string, Promise<CompiledGrammar>>();
  /** Set when a WebAssembly trap may have corrupted this instance: the owner makes a new one. */
  broken = false;

  private constructor(
    private readonly xg: XGrammarModule,
    private readonly compiler: GrammarCompiler,
    readonly vocabSize: number,
  ) {}

  /** Builds xgrammar's tokenizer info for o200k_harmony (~0.5 s, once per process); `fresh` on a
   *  new xgrammar instance. */
  static async create(tokenizer: HarmonyTokenizer, vocabSize: number, fresh = false): Promise<JsonGrammars> {
    const xg = xgrammar(fresh);
    const vocab = new Array<string>(vocabSize).fill('');
    for (let id = 0; id < Math.min(vocabSize, FIRST_SPECIAL_ID); id++) vocab[id] = byteLevel(tokenizer.tokenBytes(id));
    const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, 'byte_level', false, vocabSize);
    return new JsonGrammars(xg, await xg.GrammarCompiler.createGrammarCompiler(info, true), vocabSize);
  }

  /**
   * The compiled grammar for a spec; a schema xgrammar cannot take is an InvalidRequestError on
   * `param` that says why. Equal schemas (same JSON text) share one compilation.
   */
  async compile(spec: JsonGrammarSpec, param: string): Promise<CompiledGrammar> {
    const key = spec.kind === 'json_object' ? 'object' : `schema:${stableJson(spec.schema)}`;
    let hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    hit = this.compileUncached(spec, param);
    this.cache.set(key, hit);
    hit.catch(() => this.cache.delete(key));
    if (this.cache.size > CACHE_SIZE) {
      const [oldest, grammar] = this.cache.entries().next().value as [string, Promise<CompiledGrammar>];
      this.cache.delete(oldest);
      void grammar.then((g) => g.dispose(), () => undefined);
    }
    return hit;
  }

  /** Number of grammars compiled and cached (tests). */
  get cached(): number {
    return this.cache.size;
  }

  async matcher(grammar: CompiledGrammar, stopTokenIds: readonly number[]): Promise<GrammarMatcher> {
    return this.xg.GrammarMatcher.createGrammarMatcher(grammar, [...stopTokenIds]);
  }

  private async compileUncached(spec: JsonGrammarSpec, param: string): Promise<CompiledGrammar> {
    // One line, `, ` and `: ` separators (json.dumps' defaults): no free whitespace for a model to
    // wander in. Strict mode: no properties or items the schema does not name.
    const [text, strict] = spec.kind === 'json_object' ? ['{"type": "object"}', false] : [checkSchema(spec.schema, param), true];
    try {
      return await withXGrammarReason(() => this.compiler.compileJSONSchema(text, false, -1, [', ', ': '], strict));
    } catch (err) {
      if (err instanceof XGrammarRejection) {
        if (err.trapped) this.broken = true;
        throw new InvalidRequestError(`Invalid JSON schema: ${err.message}`, param, 'invalid_json_schema');
      }
      throw err;
    }
  }
}

/** The schema as JSON text, after the checks xgrammar would otherwise abort on without a reason. */
function checkSchema(schema: unknown, param: string): string {
  if (typeof schema === 'boolean') return JSON.stringify(schema);
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new InvalidRequestError(`Invalid JSON schema: expected an object, got ${schema === null ? 'null' : Array.isArray(schema) ? 'an array' : typeof schema}.`, param, 'invalid_json_schema');
  }
  const depth = nesting(schema);
  if (depth > MAX_SCHEMA_NESTING) {
    throw new InvalidRequestError(`Invalid JSON schema: nested ${depth} levels deep; at most ${MAX_SCHEMA_NESTING} are supported.`, param, 'invalid_json_schema');
  }
  return JSON.stringify(schema);
}

// xgrammar's converter recurses per level on a small WebAssembly stack: ~110 levels of objects
// overflow it (a trap that corrupts the instance), 100 still compile. Counted in JSON levels.
const MAX_SCHEMA_NESTING = 64;

function nesting(value: unknown, depth = 0): number {
  if (depth > MAX_SCHEMA_NESTING) return depth;
  if (typeof value !== 'object' || value === null) return depth;
  let max = depth + 1;
  for (const v of Object.values(value)) max = Math.max(max, nesting(v, depth + 1));
  return max;
}

/** JSON with object keys sorted, so that equal schemas share a cache entry. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

// GPT-2's bytes_to_unicode: printable latin1 bytes stand for themselves, the other 68 bytes map to
// U+0100 onward in byte order.
const BYTE_CHARS: readonly string[] = (() => {
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return out;
})();

function byteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_CHARS[b]!;
  return s;
}
