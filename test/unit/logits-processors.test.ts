// The logits processors on hand-made logits: each changes exactly the logits it should.
import assert from 'node:assert/strict';
import { applyTokenBitmask, LogitsPipeline, MinPProcessor, PenaltyProcessor, samplingProcessors, TokenHistory, TopKProcessor } from '../../common/engine/logits-processors.js';

describe('logits processors', () => {
  it('logits - presence, frequency and repetition penalties follow OpenAI and vLLM', () => {
    const history = new TokenHistory([0]);
    for (const t of [1, 1, 2]) history.accept(t);
    const logits = Float32Array.of(2, 2, -2, 1);
    new PenaltyProcessor({ presence: 0.5, frequency: 0.25, repetition: 2 }).apply(logits, history);
    // id 0: prompt only -> repetition; id 1: twice -> /2, -0.5, -0.5; id 2: once, negative -> *2, -0.5, -0.25
    assert.deepEqual([...logits], [1, 1 - 0.5 - 0.5, -4 - 0.5 - 0.25, 1]);
  });

  it('logits - top_k keeps the k largest, min_p keeps those within a factor of the best', () => {
    const logits = Float32Array.of(0, 3, 1, 2, -1);
    new TopKProcessor(2).apply(logits);
    assert.deepEqual([...logits], [-Infinity, 3, -Infinity, 2, -Infinity]);
    const l2 = Float32Array.of(0, Math.log(0.5), Math.log(0.2), Math.log(0.05));
    new MinPProcessor(0.3, 1).apply(l2);
    assert.deepEqual([...l2].map((v) => v === -Infinity), [false, false, true, true]);
  });

  it('logits - top_k keeps exactly the k largest of a vocabulary-sized row, small k or large', () => {
    let x = 12345;
    const row = Float32Array.from({ length: 201088 }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) * 40 - 20);
    const sorted = Float32Array.from(row).sort();
    for (const k of [1, 50, 5000]) {
      const logits = Float32Array.from(row);
      new TopKProcessor(k).apply(logits);
      const kept = logits.filter((v) => v !== -Infinity);
      assert.equal(kept.length, k, `k=${k}`);
      assert.equal(Math.min(...kept), sorted[sorted.length - k]);
    }
  });

  it('logits - a bitmask leaves allowed ids and -Infinity elsewhere', () => {
    const logits = new Float32Array(70).fill(1);
    const mask = Int32Array.of(-1, 0, 0b101);
    applyTokenBitmask(logits, mask);
    const allowed = [...logits.keys()].filter((i) => logits[i] === 1);
    assert.deepEqual(allowed, [...Array.from({ length: 32 }, (_, i) => i), 64, 66]);
  });

  it('logits - neutral settings make no processors; greedy drops top_k and min_p', () => {
    assert.equal(samplingProcessors({ temperature: 1, presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1, logitBias: new Map(), topK: 0, minP: 0 }).length, 0);
    assert.equal(samplingProcessors({ temperature: 0, topK: 5, minP: 0.5 }).length, 0);
    assert.equal(new LogitsPipeline([1], []).empty, true);
  });
});
