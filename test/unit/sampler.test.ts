import assert from 'node:assert/strict';
import { Sampler, topK, logSumExp, argmax } from '../../common/engine/sampler.js';
import { exactNucleus, sampleNucleus, sampleOrdered, weigh } from '../../common/engine/nucleus.js';
import { Rng } from '../../common/checkpoint/random.js';
import { ReferenceSampler, sortedNucleus } from '../helpers/reference-sampler.js';

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

describe('sampler - nucleus without sorting the vocabulary', () => {
  const rng = new Rng(9);
  const normal = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  // The full vocabulary once; smaller ones elsewhere keep the reference's full sorts affordable.
  const vocab = 40_000;
  const shapes: [string, Float32Array][] = [
    ['flat (random-model logits), the whole o200k vocabulary', normal(201_088, 1)],
    ['peaked (a trained model)', normal(vocab, 4).map((v, i) => (i % 997 === 0 ? v + 25 : v))],
    ['one dominant token', normal(vocab, 1).map((v, i) => (i === 12_345 ? 40 : v))],
    ['many exact ties, signed zeros and -Infinity', Float32Array.from({ length: vocab }, (_, i) => (i % 7 === 0 ? -Infinity : i % 11 === 0 ? -0 : Math.round(rng.normal() * 4) / 2))],
    ['small vocabulary', normal(64, 2)],
  ];

  for (const [name, logits] of shapes) {
    it(`sampler - ${name}: the same tokens as the full sort, for every temperature, top_p and seed`, () => {
      for (const temperature of [0.5, 1.3]) {
        for (const topP of [0.05, 0.5, 0.9, 0.999]) {
          for (const seed of [1, 2]) {
            const fast = new Sampler({ temperature, topP, seed, topLogprobs: 0 });
            const slow = new ReferenceSampler(temperature, topP, seed);
            for (let draw = 0; draw < 2; draw++) assert.equal(fast.sample(logits).id, slow.draw(logits), `T=${temperature} top_p=${topP} seed=${seed} draw ${draw}`);
          }
        }
      }
    });
  }

  it('sampler - the nucleus is the full sort\'s prefix, in its order', () => {
    const logits = shapes[3]![1];
    const max = logits.reduce((m, v) => Math.max(m, v), -Infinity);
    for (const topP of [0.01, 0.3, 0.9]) {
      const input = weigh(logits, max, 0.8, topP, new Float64Array(logits.length));
      assert.deepEqual([...exactNucleus(input)], sortedNucleus(input.probs, input.sum, topP));
    }
  });

  it('sampler - the bucket walk decides nearly every draw itself, always as the ordered walk does', () => {
    for (const [, logits] of shapes.slice(0, 4)) {
      const max = logits.reduce((m, v) => Math.max(m, v), -Infinity);
      for (const topP of [0.3, 0.9]) {
        const input = weigh(logits, max, 0.8, topP, new Float64Array(logits.length));
        const probs = input.probs;
        const ordered = exactNucleus(input);
        let decided = 0;
        for (let k = 0; k < 50; k++) {
          const u = (k + 0.5) / 50;
          const fast = sampleNucleus(input, u);
          if (fast === null) continue;
          decided++;
          assert.equal(fast, sampleOrdered(probs, ordered, u), `top_p ${topP}, u ${u}`);
        }
        assert.ok(decided >= 48, `only ${decided} of 50 draws decided without the full order`);
      }
    }
  });
});
