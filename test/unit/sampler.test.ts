import assert from 'node:assert/strict';
import { Sampler, topK, logSumExp, argmax } from '../../common/engine/sampler.js';

describe('sampler', () => {
  const logits = Float32Array.of(1, 3, 2, 3, -1, 0.5);

  it('sampler - topK is most likely first, lower id first on ties', () => {
    assert.deepEqual(topK(logits, 4), [1, 3, 2, 0]);
    assert.equal(argmax(logits), 1);
  });

  it('sampler - greedy picks the argmax and reports log-softmax values', () => {
    const s = new Sampler({ temperature: 0, topP: 1, topLogprobs: 2 }).sample(logits);
    assert.equal(s.id, 1);
    const lse = logSumExp(logits);
    assert.ok(Math.abs(s.logprob - (3 - lse)) < 1e-12);
    assert.deepEqual(s.top.map((t) => t.id), [1, 3]);
    const total = [...logits].reduce((a, l) => a + Math.exp(l - lse), 0);
    assert.ok(Math.abs(total - 1) < 1e-12);
  });

  it('sampler - the same seed gives the same draws, another seed other draws', () => {
    const draw = (seed: number) => Array.from({ length: 50 }, ((s) => () => s.sample(logits).id)(new Sampler({ temperature: 1, topP: 1, seed, topLogprobs: 0 })));
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
  });

  it('sampler - top_p keeps only the nucleus', () => {
    const peaked = Float32Array.of(10, 9.9, 0, 0, 0);
    const s = new Sampler({ temperature: 1, topP: 0.5, seed: 1, topLogprobs: 0 });
    for (let i = 0; i < 100; i++) assert.equal(s.sample(peaked).id, 0);
    const wide = new Sampler({ temperature: 1, topP: 0.95, seed: 1, topLogprobs: 0 });
    const seen = new Set(Array.from({ length: 200 }, () => wide.sample(peaked).id));
    assert.deepEqual([...seen].sort(), [0, 1]);
  });

  it('sampler - temperature sampling follows the softmax distribution', () => {
    const s = new Sampler({ temperature: 1, topP: 1, seed: 3, topLogprobs: 0 });
    const two = Float32Array.of(0, Math.log(3));
    let ones = 0;
    for (let i = 0; i < 4000; i++) ones += s.sample(two).id;
    assert.ok(Math.abs(ones / 4000 - 0.75) < 0.03, `frequency ${ones / 4000}`);
  });
});
