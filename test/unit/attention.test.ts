import assert from 'node:assert/strict';
import { AttentionCore } from '../../common/engine/attention.js';
import { Rng } from '../../common/checkpoint/random.js';
import { attendReference } from '../helpers/reference-attention.js';

// The onnxruntime attention core against the previous scalar float64 implementation, on random
// caches: decode and prefill chunks at and across the sliding window's edges, full attention, and
// a prefill long enough to be split into query blocks.
describe('attention core', () => {
  const shape = { numHeads: 8, numKvHeads: 2, headDim: 64 };
  const qDim = shape.numHeads * shape.headDim;
  const kvDim = shape.numKvHeads * shape.headDim;
  const qkvDim = qDim + 2 * kvDim;
  const rng = new Rng(42);
  const random = (n: number) => Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);
  let core: AttentionCore;

  before(async () => {
    core = await AttentionCore.create(shape, { intraOpThreads: 2 });
  });
  after(async () => core.release());

  async function compare(firstPosition: number, count: number, window: number, leadingRows = 3): Promise<number> {
    const total = firstPosition + count;
    const keys = random(total * kvDim);
    const values = random(total * kvDim);
    const sinks = random(shape.numHeads).map((s) => s * 3);
    const rows = leadingRows + count;
    const qkv = random(rows * qkvDim);
    const got = new Float32Array(rows * qDim);
    await core.attend({ qkv, firstRow: leadingRows, count, firstPosition, keys, values, sinks, window }, got);
    const want = new Float32Array(rows * qDim);
    attendReference(shape, qkv, qkvDim, leadingRows, count, firstPosition, keys, values, sinks, window, want, new Float64Array(total));
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    assert.equal(got.subarray(0, leadingRows * qDim).some((v) => v !== 0), false, 'rows of other sequences untouched');
    return worst;
  }

  const W = 16;
  const cases: [string, number, number, number][] = [
    ['decode at position 0', 0, 1, W],
    ['decode just inside the window', W - 2, 1, W],
    ['decode at the window edge', W - 1, 1, W],
    ['decode one past the window', W, 1, W],
    ['decode far past the window', 300, 1, W],
    ['decode, full attention', 300, 1, 0],
    ['prefill from 0 across the window', 0, 40, W],
    ['prefill chunk straddling the window edge', 10, 25, W],
    ['prefill chunk far into the sequence', 200, 33, W],
    ['prefill chunk, full attention', 57, 31, 0],
    ['prefill split into query blocks, window', 0, 700, W],
    ['prefill split into query blocks, full attention', 5, 600, 0],
  ];
  for (const [name, first, count, window] of cases) {
    it(`attention core - ${name} equals the scalar reference`, async () => {
      const worst = await compare(first, count, window);
      assert.ok(worst < 2e-6, `max |onnxruntime - reference| = ${worst}`);
    });
  }

  it('attention core - a token outside the window has no influence', async () => {
    const first = 40;
    const keys = random((first + 1) * kvDim);
    const values = random((first + 1) * kvDim);
    const sinks = new Float32Array(shape.numHeads);
    const qkv = random(qkvDim);
    const a = new Float32Array(qDim);
    const b = new Float32Array(qDim);
    await core.attend({ qkv, firstRow: 0, count: 1, firstPosition: first, keys, values, sinks, window: W }, a);
    values.fill(1e6, 0, (first - W + 1) * kvDim);
    await core.attend({ qkv, firstRow: 0, count: 1, firstPosition: first, keys, values, sinks, window: W }, b);
    assert.deepEqual(a, b);
    values.fill(1e6, (first - W + 1) * kvDim, (first - W + 2) * kvDim);
    await core.attend({ qkv, firstRow: 0, count: 1, firstPosition: first, keys, values, sinks, window: W }, b);
    assert.notDeepEqual(a, b);
  });

  it('attention core - a step of many sequences (decode tokens packed into one run, prefill chunks and long contexts alone) equals the reference', async () => {
    const sinks = random(shape.numHeads);
    const layouts: [firstPosition: number, count: number][] = [[0, 1], [5, 1], [W - 1, 1], [W + 3, 1], [200, 1], [1100, 1], [30, 12], [3, 1], [0, 7]];
    for (const window of [W, 0]) {
      const rows = layouts.reduce((n, [, count]) => n + count, 0);
      const qkv = random(rows * qkvDim);
      let row = 0;
      const sequences = layouts.map(([firstPosition, count]) => {
        const total = firstPosition + count;
        const seq = { qkv, firstRow: row, count, firstPosition, keys: random(total * kvDim), values: random(total * kvDim), sinks, window };
        row += count;
        return seq;
      });
      const got = new Float32Array(rows * qDim);
      await core.attendAll(sequences, got);
      const want = new Float32Array(rows * qDim);
      for (const a of sequences) attendReference(shape, qkv, qkvDim, a.firstRow, a.count, a.firstPosition, a.keys, a.values, sinks, window, want, new Float64Array(a.firstPosition + a.count));
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      assert.ok(worst < 2e-6, `window ${window}: max |onnxruntime - reference| = ${worst}`);
    }
  });
});
