// The mxfp4 expert projection widens the checkpoint's bytes inside an onnxruntime graph; it must
// equal decoding them in TypeScript (decodeMxfp4) followed by an fp32 matmul, chunks or not.
import assert from 'node:assert/strict';
import { decodeMxfp4, FP4_VALUES } from '../../common/checkpoint/mxfp4.js';
import { addMxfp4Tables, fp4QuadTable, mxfp4Feeds, mxfp4Projection } from '../../common/experts/mxfp4-projection.js';
import { GraphBuilder } from '../../common/onnx/graph-builder.js';
import { OrtGraph, f32 } from '../../common/onnx/session.js';

function reference(x: Float32Array, n: number, w: Float32Array, bias: Float32Array, outDim: number, inDim: number): Float64Array {
  const y = new Float64Array(n * outDim);
  for (let t = 0; t < n; t++) {
    for (let o = 0; o < outDim; o++) {
      let acc = bias[o]!;
      for (let k = 0; k < inDim; k++) acc += x[t * inDim + k]! * w[o * inDim + k]!;
      y[t * outDim + o] = acc;
    }
  }
  return y;
}

describe('mxfp4 projection (widened in the graph)', () => {
  it('mxfp4 projection - the byte-pair table holds each uint16\'s four e2m1 values, low nibble of the low byte first', () => {
    const t = fp4QuadTable();
    const p = 0x7f92; // bytes 0x92 (low 2 = +1, high 9 = -0.5), 0x7f (low 15 = -6, high 7 = +6)
    assert.deepEqual([...t.subarray(4 * p, 4 * p + 4)], [1, -0.5, -6, 6]);
    assert.equal(t[4 * 0xffff + 3], FP4_VALUES[15]);
  });

  for (const chunkValues of [1 << 19, 64 * 5]) {
    it(`mxfp4 projection - equals decodeMxfp4 then an fp32 matmul (${chunkValues === 1 << 19 ? 'one chunk' : 'rows in chunks of 5, last one short'})`, async () => {
      const outDim = 23;
      const inDim = 64;
      const n = 3;
      const blocks = Uint8Array.from({ length: outDim * (inDim / 32) * 16 }, (_, i) => (i * 97 + 13) & 0xff);
      const scales = Uint8Array.from({ length: outDim * (inDim / 32) }, (_, i) => 118 + (i % 13));
      const bias = Float32Array.from({ length: outDim }, (_, i) => Math.cos(i));
      const x = Float32Array.from({ length: n * inDim }, (_, i) => Math.sin(i * 0.37));
      const g = new GraphBuilder('mxfp4_projection_test');
      const input = g.input('x', 'float32', ['n', inDim]);
      const y = mxfp4Projection(g, addMxfp4Tables(g), input, 'p', outDim, inDim, chunkValues);
      g.node('Identity', [y], ['y']);
      g.output('y', 'float32', ['n', outDim]);
      const graph = await OrtGraph.create(g.build(), { intraOpThreads: 1 });
      try {
        const { y: got } = await graph.run({ ...mxfp4Feeds('p', blocks, scales, bias, outDim, inDim, chunkValues), x: f32(x, [n, inDim]) });
        const want = reference(x, n, decodeMxfp4(blocks, scales, outDim, inDim), bias, outDim, inDim);
        assert.equal(got!.length, want.length);
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got![i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)), `element ${i}: ${got![i]} vs ${want[i]}`);
      } finally {
        await graph.release();
      }
    });
  }

  it('mxfp4 projection - refuses codes, scales or biases that do not fit the shape, and an input size not a multiple of 32', () => {
    assert.throws(() => mxfp4Feeds('p', new Uint8Array(15), new Uint8Array(1), new Float32Array(1), 1, 32), /do not fit/);
    assert.throws(() => mxfp4Feeds('p', new Uint8Array(16), new Uint8Array(2), new Float32Array(1), 1, 32), /do not fit/);
    assert.throws(() => mxfp4Feeds('p', new Uint8Array(16), new Uint8Array(1), new Float32Array(2), 1, 32), /do not fit/);
    const g = new GraphBuilder('bad');
    assert.throws(() => mxfp4Projection(g, addMxfp4Tables(g), 'x', 'p', 1, 48), /multiple of 32/);
  });
});
