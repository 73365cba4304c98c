// Structured-output costs over the o200k_harmony vocabulary (201,088 tokens): building xgrammar's
// tokenizer info, compiling a schema (first time and cached), and per decoded token the matcher's
// bitmask plus applying it to the logits; also top_k and min_p per token. Logits are random with a
// few strong tokens, decoded greedily under the grammar until it ends.
import { fileURLToPath } from 'node:url';
import { MinPProcessor, TopKProcessor } from '../common/engine/logits-processors.js';
import { GrammarProcessor } from '../common/grammar/grammar-processor.js';
import { JsonGrammars } from '../common/grammar/json-grammars.js';
import { getHarmonyTokenizer, HarmonyTokens } from '../common/harmony/index.js';
import { table } from './bench-util.js';

const VOCAB = 201088;
const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 12 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    tags: { type: 'array', items: { enum: ['a', 'bb', 'ccc'] }, maxItems: 4 },
    nested: { type: 'object', properties: { x: { type: ['string', 'null'], pattern: '^[a-z]{1,6}$' } }, required: ['x'], additionalProperties: false },
  },
  required: ['name', 'age', 'tags', 'nested'],
  additionalProperties: false,
};

function randomLogits(): Float32Array {
  const l = new Float32Array(VOCAB);
  for (let i = 0; i < VOCAB; i++) l[i] = Math.random() * 10 - 5;
  for (let j = 0; j < 50; j++) l[Math.floor(Math.random() * VOCAB)] = 8 + Math.random();
  return l;
}

function argmax(l: Float32Array): number {
  let best = 0;
  for (let i = 1; i < l.length; i++) if (l[i]! > l[best]!) best = i;
  return best;
}

export async function runGrammarBench(): Promise<void> {
  let t0 = performance.now();
  const grammars = await JsonGrammars.create(getHarmonyTokenizer(), VOCAB);
  const infoMs = performance.now() - t0;
  t0 = performance.now();
  const grammar = await grammars.compile({ kind: 'json_schema', schema: SCHEMA }, 'schema');
  const compileMs = performance.now() - t0;
  t0 = performance.now();
  await grammars.compile({ kind: 'json_schema', schema: SCHEMA }, 'schema');
  const cachedMs = performance.now() - t0;

  let maskMs = 0;
  let applyMs = 0;
  let tokens = 0;
  for (let run = 0; run < 10; run++) {
    const p = new GrammarProcessor(grammars, grammar, [HarmonyTokens.RETURN]);
    for (let i = 0; i < 200; i++) {
      const logits = randomLogits();
      let a = performance.now();
      await p.prepare();
      maskMs += performance.now() - a;
      a = performance.now();
      p.apply(logits);
      applyMs += performance.now() - a;
      const id = argmax(logits);
      p.accept(id);
      tokens++;
      if (id === HarmonyTokens.RETURN) break;
    }
    p.close();
  }
  const perToken = (proc: { apply(l: Float32Array): void }): number => {
    let ms = 0;
    for (let i = 0; i < 20; i++) {
      const l = randomLogits();
      const a = performance.now();
      proc.apply(l);
      ms += performance.now() - a;
    }
    return ms / 20;
  };
  process.stdout.write(`\n### Structured outputs and logits processors (vocab ${VOCAB}; ${tokens} grammar-constrained tokens)\n\n`);
  process.stdout.write(
    table(
      ['step', 'ms'],
      [
        ['xgrammar tokenizer info (once per process)', infoMs.toFixed(0)],
        ['compile a JSON schema (first time)', compileMs.toFixed(1)],
        ['compile the same schema (cached)', cachedMs.toFixed(3)],
        ['next-token bitmask (xgrammar, per token)', (maskMs / tokens).toFixed(3)],
        ['apply the bitmask to the logits (per token)', (applyMs / tokens).toFixed(3)],
        ['top_k 50 (per token)', perToken(new TopKProcessor(50)).toFixed(3)],
        ['min_p 0.05 at temperature 1 (per token)', perToken(new MinPProcessor(0.05, 1)).toFixed(3)],
      ],
    ) + '\n',
  );
}

// Run on its own: `node dist/bench/grammar-bench.js` (kept out of bench/main.ts's part list).
if (process.argv[1] === fileURLToPath(import.meta.url)) await runGrammarBench();
