// Every output a JSON grammar allows is JSON a strict parser takes: random walks through the real
// compiled grammars (xgrammar, the o200k_harmony vocabulary, the production GrammarProcessor),
// each step a random token among those the processor leaves, many seeds per schema. No model is
// involved, so thousands of tokens cover the string paths of xgrammar's converter (length-bounded
// strings, regex patterns, formats) that a sampled model only sometimes reaches.
import assert from 'node:assert/strict';
import { InvalidRequestError, UnsatisfiableGrammarError } from '../../common/errors.js';
import { GrammarProcessor } from '../../common/grammar/grammar-processor.js';
import { JsonGrammars, type JsonGrammarSpec } from '../../common/grammar/json-grammars.js';
import { getHarmonyTokenizer, HarmonyTokens } from '../../common/harmony/index.js';
import { assertValidJson } from '../helpers/structured-checks.js';

const VOCAB = 201088;
const STOP: readonly number[] = [HarmonyTokens.RETURN];
const WALKS_PER_SCHEMA = 12;
const MAX_STEPS = 60;

type Schema = Record<string, unknown>;
const obj = (properties: Record<string, unknown>): Schema => ({ type: 'object', properties, required: Object.keys(properties), additionalProperties: false });

/**
 * [label, schema, whether xgrammar's reading of it matches ajv's]. Where it does not, only JSON
 * validity is checked here: xgrammar 0.1.27 lets an integer bounded by 0..120 reach 129, allows minute 60 in date-time, and its email and uri
 * grammars differ from ajv-formats' (separate defects from the one tested here).
 */
const SCHEMAS: Array<[string, Schema, boolean]> = [
  ['bounded strings (the report)', obj({ name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 }, tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 } }), false],
  ['bounded strings', obj({ name: { type: 'string', maxLength: 12 }, tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 } }), true],
  ['minLength and maxLength', obj({ s: { type: 'string', minLength: 2, maxLength: 6 }, t: { type: ['string', 'null'], maxLength: 4 } }), true],
  ['pattern with .', obj({ code: { type: 'string', pattern: '^.{1,6}$' } }), true],
  ['negated class and \\s', obj({ a: { type: 'string', pattern: '^[^a-z]{1,4}\\s\\S$' } }), true],
  ['pattern with a literal tab', obj({ t: { type: 'string', pattern: '^a\\tb$' } }), true],
  ['enum and const with control characters', obj({ e: { enum: ['a\tb', 'q"x', 'back\\slash'] }, c: { const: 'x\u0001y' } }), true],
  ['format json-pointer', obj({ p: { type: 'string', format: 'json-pointer' } }), true],
  ['format email', obj({ m: { type: 'string', format: 'email' } }), false],
  ['format uri', obj({ u: { type: 'string', format: 'uri' } }), false],
  ['format date-time', obj({ d: { type: 'string', format: 'date-time' } }), false],
];

/** xorshift32: the walks repeat. */
function random(seed: number): () => number {
  let x = seed * 2654435761 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('JSON grammars allow only JSON text (random walks, real xgrammar and vocabulary)', () => {
  const tokenizer = getHarmonyTokenizer();
  let grammars: JsonGrammars;
  /** Tokens that close something (a quote, a brace, a bracket), an email's `@`, or the stop token:
   *  walks take one now and then, so that unbounded strings end. */
  let closers: Uint8Array;

  before(async () => {
    grammars = await JsonGrammars.create(tokenizer, VOCAB);
    closers = new Uint8Array(VOCAB);
    for (let id = 0; id < VOCAB; id++) {
      if (STOP.includes(id)) closers[id] = 1;
      else if (id < 199998 && tokenizer.tokenBytes(id).some((b) => b === 0x22 || b === 0x7d || b === 0x5d || b === 0x40)) closers[id] = 1;
    }
  });

  /** One walk: the tokens before the stop token, or null if it ran out of steps. */
  async function walk(spec: JsonGrammarSpec, seed: number): Promise<number[] | null> {
    const processor = new GrammarProcessor(grammars, await grammars.compile(spec, 'schema'), STOP);
    const next = random(seed);
    const logits = new Float32Array(VOCAB);
    const out: number[] = [];
    try {
      for (let step = 0; step < MAX_STEPS; step++) {
        await processor.prepare();
        logits.fill(0);
        processor.apply(logits);
        const allowed: number[] = [];
        const closing: number[] = [];
        for (let id = 0; id < VOCAB; id++) {
          if (logits[id] === -Infinity) continue;
          allowed.push(id);
          if (closers[id]) closing.push(id);
        }
        const pool = closing.length > 0 && next() < 0.3 ? closing : allowed;
        const token = pool[Math.floor(next() * pool.length)]!;
        processor.accept(token);
        if (STOP.includes(token)) return out;
        out.push(token);
      }
      return null;
    } finally {
      processor.close();
    }
  }

  for (const [label, schema, ajvAgrees] of SCHEMAS) {
    it(`grammar json - ${label}: ${WALKS_PER_SCHEMA} walks, each complete output is strict JSON${ajvAgrees ? ' valid against the schema' : ''}`, async () => {
      let complete = 0;
      for (let seed = 1; seed <= WALKS_PER_SCHEMA; seed++) {
        const tokens = await walk({ kind: 'json_schema', schema }, seed);
        if (tokens === null) continue;
        complete++;
        assertValidJson(tokenizer.decode(tokens), ajvAgrees ? schema : null, `${label}, seed ${seed}`);
      }
      assert.ok(complete >= WALKS_PER_SCHEMA / 4, `only ${complete} of ${WALKS_PER_SCHEMA} walks ended`);
    });
  }

  it('grammar json - json_object: each complete output is a strict JSON object', async () => {
    let complete = 0;
    for (let seed = 1; seed <= WALKS_PER_SCHEMA; seed++) {
      const tokens = await walk({ kind: 'json_object' }, seed);
      if (tokens === null) continue;
      complete++;
      const value = assertValidJson(tokenizer.decode(tokens), null, `seed ${seed}`);
      assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value));
    }
    assert.ok(complete >= WALKS_PER_SCHEMA / 4, `only ${complete} of ${WALKS_PER_SCHEMA} walks ended`);
  });

  it('grammar json - a pattern that needs a raw quote fails the sequence with UnsatisfiableGrammarError, never invalid JSON', async () => {
    await assert.rejects(walk({ kind: 'json_schema', schema: { type: 'string', pattern: '^a"b$' } }, 1), UnsatisfiableGrammarError);
  });

  it('grammar json - schemas JSON cannot spell are 400s naming the parameter', async () => {
    const refused = async (schema: Schema, message: RegExp): Promise<void> => {
      await assert.rejects(grammars.compile({ kind: 'json_schema', schema }, 'response_format.json_schema.schema'), (err: unknown) => {
        assert.ok(err instanceof InvalidRequestError);
        assert.equal(err.param, 'response_format.json_schema.schema');
        assert.match(err.message, message);
        return true;
      });
    };
    await refused({ type: 'string', pattern: '^[\\t\\n]$' }, /only characters that a JSON string must escape/);
    await refused(obj({ 'a\tb': { type: 'integer' } }), /property name "a\\tb" holds a character JSON must escape/);
  });
});
