// The unembedding split into row-block sessions computes the same logits as one session over the
// whole lm_head (each block is the same Gemm over its rows).
import assert from 'node:assert/strict';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { FINAL_NORM, LM_HEAD } from '../../common/checkpoint/tensor-names.js';
import { buildUnembedding } from '../../common/engine/dense-graphs.js';
import { BlockedUnembedding } from '../../common/engine/unembedding.js';
import { OrtGraph, f32 } from '../../common/onnx/session.js';
import { goldenSets } from '../helpers/paths.js';
import { loadGolden } from '../helpers/golden.js';

describe('blocked unembedding', () => {
  it('blocked unembedding - row blocks of 400 (the last one short) give the whole-matrix logits for 3 rows', async () => {
    const ckpt = await Checkpoint.open(loadGolden(goldenSets()[0]!).model);
    const c = ckpt.config;
    const H = c.hiddenSize;
    const blocked = await BlockedUnembedding.load(ckpt, { intraOpThreads: 1 }, undefined, 400 * H * 4);
    const whole = await OrtGraph.create(buildUnembedding(c, await ckpt.readFloat32(FINAL_NORM, [H]), await ckpt.readFloat32(LM_HEAD, [c.vocabSize, H])), { intraOpThreads: 1 });
    try {
      assert.ok(c.vocabSize % 400 !== 0 && c.vocabSize > 800, 'the test needs several blocks and a short last one');
      const x = Float32Array.from({ length: 3 * H }, (_, i) => Math.sin(i * 0.1));
      const got = (await blocked.run({ x: f32(x, [3, H]) }))['logits']!;
      const want = (await whole.run({ x: f32(x, [3, H]) }))['logits']!;
      assert.equal(got.length, 3 * c.vocabSize);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)), `logit ${i}: ${got[i]} vs ${want[i]}`);
    } finally {
      await blocked.release();
      await whole.release();
    }
  });
});
