// KV cache, sliding window and batching: every way of splitting the same work gives the same logits.
import assert from 'node:assert/strict';
import { Engine } from '../../common/engine/engine.js';
import { argmax } from '../../common/engine/sampler.js';
import { maxAbsDiff } from '../helpers/golden.js';
import { tinyModel } from '../helpers/tiny-model.js';

// Same-shape runs are bitwise equal; different row counts may change onnxruntime's GEMM blocking.
const TOL = 1e-4;

function ids(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % 4096);
}

describe('engine cache and batching', () => {
  let engine: Engine;
  before(async () => {
    // Window 8 so that 40-token prompts cross it many times.
    engine = await Engine.loadLocal(await tinyModel({ slidingWindow: 8, seed: 3 }));
  });
  after(async () => engine?.close());

  async function prefillLogits(tokens: number[]): Promise<Float32Array> {
    const [l] = await engine.forward.step([{ cache: engine.newCache(), tokens, wantLogits: true }]);
    return l!;
  }

  it('engine - incremental decoding with the KV cache equals recomputing the whole sequence', async () => {
    const prompt = ids(12, 1);
    const r = await engine.generate({ promptIds: prompt, maxTokens: 30, sampling: { temperature: 0, topP: 1, topLogprobs: 0 } });
    const full = [...prompt, ...r.tokens.map((t) => t.id)];
    // Recompute from scratch at several points, past the window of 8.
    for (const cut of [13, 20, 41]) {
      const logits = await prefillLogits(full.slice(0, cut));
      assert.equal(argmax(logits), full[cut], `token at ${cut}`);
    }
    const cache = engine.newCache();
    await engine.forward.step([{ cache, tokens: full.slice(0, 25), wantLogits: false }]);
    let inc: Float32Array | null = null;
    for (let i = 25; i < 41; i++) [inc] = await engine.forward.step([{ cache, tokens: [full[i]!], wantLogits: true }]);
    const d = maxAbsDiff(inc!, await prefillLogits(full.slice(0, 41)));
    assert.ok(d <= TOL, `incremental vs recompute differ by ${d}`);
  });

  it('engine - chunked prefill equals one prefill, for prompts longer than the sliding window', async () => {
    const prompt = ids(45, 2);
    const whole = await prefillLogits(prompt);
    const cache = engine.newCache();
    let last: Float32Array | null = null;
    for (let i = 0; i < prompt.length; i += 10) [last] = await engine.forward.step([{ cache, tokens: prompt.slice(i, i + 10), wantLogits: true }]);
    const d = maxAbsDiff(last!, whole);
    assert.ok(d <= TOL, `chunked vs whole differ by ${d}`);
  });

  it('engine - a batch of different-length sequences equals each run alone', async () => {
    const prompts = [ids(3, 4), ids(17, 5), ids(40, 6), ids(9, 7)];
    const sampling = { temperature: 0, topP: 1, topLogprobs: 3 };
    const batch = await engine.generateBatch(prompts.map((p) => ({ promptIds: p, maxTokens: 12, sampling })));
    for (let i = 0; i < prompts.length; i++) {
      const alone = await engine.generate({ promptIds: prompts[i]!, maxTokens: 12, sampling });
      assert.deepEqual(batch[i]!.tokens.map((t) => t.id), alone.tokens.map((t) => t.id), `sequence ${i} tokens`);
      batch[i]!.tokens.forEach((t, s) => {
        const d = maxAbsDiff(t.top.map((x) => x.logprob), alone.tokens[s]!.top.map((x) => x.logprob));
        assert.ok(d <= TOL, `sequence ${i} step ${s} logprobs differ by ${d}`);
      });
    }
  });

  it('engine - a token id outside the vocabulary is refused with a RangeError naming it', async () => {
    await assert.rejects(prefillLogits([1, 2, 99999]), (e: Error) => e instanceof RangeError && /99999/.test(e.message));
  });
});
