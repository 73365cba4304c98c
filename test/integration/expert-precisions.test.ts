// Every expert precision computes what fp32 computes: the same experts of one random checkpoint,
// loaded in each precision, give fp32's weighted sums up to fp32 summation order.
import assert from 'node:assert/strict';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { Rng } from '../../common/checkpoint/random.js';
import { EXPERT_PRECISIONS, type ExpertPrecision } from '../../common/experts/expert-precision.js';
import { ExpertSet } from '../../common/experts/expert-set.js';
import { tinyModel } from '../helpers/tiny-model.js';

/** Wide enough that sums run over hundreds of products, small enough to load in a moment. */
const SPEC = { layers: 1, hidden: 512, heads: 4, kvHeads: 2, headDim: 16, experts: 4, topK: 2, intermediate: 384, shards: 1 };

async function weightedSums(precision: ExpertPrecision, tokens: number): Promise<Float32Array> {
  const ckpt = await Checkpoint.open(await tinyModel(SPEC));
  const c = ckpt.config;
  const set = new ExpertSet(c, ckpt, { precision, intraOpThreads: 1 });
  try {
    for (let e = 0; e < c.numExperts; e++) await set.load(0, e);
    const rng = new Rng(tokens);
    const hidden = Float32Array.from({ length: tokens * c.hiddenSize }, () => rng.normal());
    // Every token to every expert, with unequal weights.
    const pairs = tokens * c.numExperts;
    const a = {
      tokens: Int32Array.from({ length: pairs }, (_, i) => Math.floor(i / c.numExperts)),
      experts: Int32Array.from({ length: pairs }, (_, i) => i % c.numExperts),
      weights: Float32Array.from({ length: pairs }, (_, i) => 0.1 + (i % 7) / 10),
    };
    return await set.weightedSum(0, hidden, tokens, a);
  } finally {
    await set.close();
  }
}

describe('expert precisions against fp32', () => {
  for (const tokens of [1, 16]) {
    for (const precision of EXPERT_PRECISIONS.filter((p) => p !== 'fp32')) {
      it(`expert precisions - ${precision} weighted sums equal fp32's within 1e-5 of max |y| (${tokens} token${tokens > 1 ? 's' : ''}, random weights)`, async () => {
        const want = await weightedSums('fp32', tokens);
        const got = await weightedSums(precision, tokens);
        assert.equal(got.length, want.length);
        let maxY = 0;
        let worst = 0;
        for (let i = 0; i < want.length; i++) {
          maxY = Math.max(maxY, Math.abs(want[i]!));
          worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        }
        assert.ok(maxY > 0);
        assert.ok(worst <= 1e-5 * maxY, `${precision}: max |diff| ${worst} against max |y| ${maxY} (${(worst / maxY).toExponential(2)})`);
      });
    }
  }
});
