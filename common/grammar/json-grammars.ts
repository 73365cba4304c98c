// JSON grammars compiled by xgrammar against the o200k_harmony vocabulary, cached by schema.
// The vocabulary is handed over in GPT-2's byte-level spelling (each byte as one printable
// character) because o200k tokens are raw bytes that are often not valid UTF-8 on their own, and
// strings are all that cross into the WebAssembly side; xgrammar decodes them back to the bytes.
// Special tokens are given as empty strings, which xgrammar never allows inside a grammar; the
// matcher's stop tokens are allowed exactly where the grammar can end.
// A schema goes through xgrammar's converter to EBNF, whose string productions are made JSON-safe
// (json-string-rules.ts) before compiling; matchers' masks are further kept to JSON text by the
// vocabulary's JsonTextAutomaton.
import { InvalidRequestError } from '../errors.js';
import { checkSchemaNesting, FIRST_SPECIAL_ID, type HarmonyTokenizer } from '../harmony/index.js';
import { JsonTextAutomaton } from './json-text-automaton.js';
import { jsonSafeStrings } from './json-string-rules.js';
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
    /** Which tokens keep the output JSON text, from each lexical state. */
    readonly jsonText: JsonTextAutomaton,
  ) {}

  /** Builds xgrammar's tokenizer info for o200k_harmony (~0.5 s, once per process); `fresh` on a
   *  new xgrammar instance. */
  static async create(tokenizer: HarmonyTokenizer, vocabSize: number, fresh = false): Promise<JsonGrammars> {
    const xg = xgrammar(fresh);
    const vocab = new Array<string>(vocabSize).fill('');
    const bytes = (id: number): Uint8Array | null => (id < FIRST_SPECIAL_ID ? tokenizer.tokenBytes(id) : null);
    for (let id = 0; id < Math.min(vocabSize, FIRST_SPECIAL_ID); id++) vocab[id] = byteLevel(bytes(id)!);
    const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, 'byte_level', false, vocabSize);
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, true);
    return new JsonGrammars(xg, compiler, vocabSize, JsonTextAutomaton.build(vocabSize, bytes));
  }

  /**
   * The compiled grammar for a spec; a schema xgrammar cannot take is an InvalidRequestError on
   * `param` that says why. Equal schemas (same JSON text) share one compilation.
   */
  async compile(spec: JsonGrammarSpec, param: string): Promise<CompiledGrammar> {
    // Checked before anything recursive reads the schema (stableJson, the converter).
    const text = spec.kind === 'json_object' ? null : checkSchema(spec.schema, param);
    const key = spec.kind === 'json_object' ? 'object' : `schema:${stableJson(spec.schema)}`;
    let hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    hit = this.compileUncached(text, param);
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

  /** `schemaText` null: any JSON object (json_object). */
  private async compileUncached(schemaText: string | null, param: string): Promise<CompiledGrammar> {
    // One line, `, ` and `: ` separators (json.dumps' defaults): no free whitespace for a model to
    // wander in. Strict mode: no properties or items the schema does not name. The converter's
    // EBNF is only reachable through xgrammar's `Testings` (compileJSONSchema is that text parsed).
    const [text, strict] = schemaText === null ? ['{"type": "object"}', false] : [schemaText, true];
    try {
      const ebnf = await withXGrammarReason(() => this.xg.Testings._jsonSchemaToEBNF(text, false, -1, [', ', ': '], strict));
      const safe = jsonSafeStrings(ebnf);
      const grammar = await withXGrammarReason(() => this.xg.Grammar.fromEBNF(safe));
      try {
        return await withXGrammarReason(() => this.compiler.compileGrammar(grammar));
      } finally {
        grammar.dispose();
      }
    } catch (err) {
      if (err instanceof XGrammarRejection) {
        if (err.trapped) this.broken = true;
        throw new InvalidRequestError(`Invalid JSON schema: ${err.message}`, param, 'invalid_json_schema');
      }
      if (err instanceof InvalidRequestError && err.param === null) throw new InvalidRequestError(err.message, param, err.code);
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
  checkSchemaNesting(schema, param);
  const name = rawPropertyName(schema);
  if (name !== null) {
    throw new InvalidRequestError(`Invalid JSON schema: property name ${JSON.stringify(name)} holds a character JSON must escape (a control character, '"' or '\\'); such names are not supported.`, param, 'invalid_json_schema');
  }
  return JSON.stringify(schema);
}

/** A `properties` key the converter would write raw into the output though JSON must escape it. */
function rawPropertyName(schema: object): string | null {
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    const properties = (node as Record<string, unknown>)['properties'];
    if (!Array.isArray(node) && typeof properties === 'object' && properties !== null) {
      const bad = Object.keys(properties).find((k) => /["\\\u0000-\u001f]/.test(k));
      if (bad !== undefined) return bad;
    }
    stack.push(...Object.values(node));
  }
  return null;
}

/** JSON with object keys sorted, so that equal schemas share a cache entry (nesting is checked). */
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
