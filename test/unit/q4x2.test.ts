// q4x2 re-encodes MXFP4 exactly (2v = a + 4b per value, one scale 2^(e-1) per block) and its
// MatMulNBits product must equal fp32's Gemm on the decoded weights up to fp32 summation order.
import assert from 'node:assert/strict';
import { decodeMxfp4 } from '../../common/checkpoint/mxfp4.js';
import { Rng } from '../../common/checkpoint/random.js';
import { ExpertEncodingError } from '../../common/errors.js';
import { mxfp4ToQ4x2, splitFp4 } from '../../common/experts/q4x2-encoding.js';
import { q4x2Projection } from '../../common/experts/q4x2-projection.js';
import { GraphBuilder } from '../../common/onnx/graph-builder.js';
import { OrtGraph, f32 } from '../../common/onnx/session.js';

/** The value q4x2 stores for element k of row r: (a + 4b) · scale, read back from its codes. */
function q4x2Value(codes: Uint8Array, scales: Float32Array, cols: number, r: number, k: number): number {
  const block = r * (cols / 32) + Math.floor(k / 32);
  const i = k % 32;
  const nibble = (byte: number): number => ((i & 1) === 0 ? byte & 15 : byte >> 4) - 8;
  const a = nibble(codes[block * 32 + (i >> 1)]!);
  const b = nibble(codes[block * 32 + 16 + (i >> 1)]!);
  assert.ok(Math.abs(a) <= 3 && Math.abs(b) <= 3, `element [${r}, ${k}]: a = ${a}, b = ${b} outside -3..3`);
  // In fp32, as MatMulNBits dequantizes (the largest scales overflow to ±Inf as decodeMxfp4 does).
  return Math.fround((a + 4 * b) * scales[block]!);
}

function randomMxfp4(rng: Rng, rows: number, cols: number): { blocks: Uint8Array; scales: Uint8Array } {
  const blocks = Uint8Array.from({ length: (rows * cols) / 2 }, () => rng.uint32() & 0xff);
  // Exponents around 2^-6, as the checkpoint writer's gate_up scales at hidden 2880.
  const scales = Uint8Array.from({ length: (rows * cols) / 32 }, () => 118 + (rng.uint32() % 6));
  return { blocks, scales };
}

/** x W^T in fp32 Gemm (weights decoded) and in q4x2, one graph each. */
async function products(x: Float32Array, n: number, blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number): Promise<{ fp32: Float32Array; q4x2: Float32Array }> {
  const run = async (build: (g: GraphBuilder, input: string) => string): Promise<Float32Array> => {
    const g = new GraphBuilder('q4x2_test');
    const input = g.input('x', 'float32', ['n', cols]);
    g.node('Identity', [build(g, input)], ['y']);
    g.output('y', 'float32', ['n', rows]);
    const graph = await OrtGraph.create(g.build(), { intraOpThreads: 1 });
    try {
      return (await graph.run({ x: f32(x, [n, cols]) })).y!;
    } finally {
      await graph.release();
    }
  };
  const w = decodeMxfp4(blocks, scales, rows, cols);
  return {
    fp32: await run((g, input) => g.op('Gemm', [input, g.initializer('w', 'float32', [rows, cols], w)], { transB: { i: 1 } })),
    q4x2: await run((g, input) => q4x2Projection(g, input, 'p', mxfp4ToQ4x2(blocks, scales, rows, cols, 'test'), rows, cols, 1)),
  };
}

describe('q4x2 (MXFP4 as two exact 4-bit matrices)', () => {
  it('q4x2 - every e2m1 value doubled is a + 4b with a, b in -3..3, sign on both', () => {
    for (let code = 0; code < 16; code++) {
      const { a, b } = splitFp4(code);
      assert.ok(Math.abs(a) <= 3 && Math.abs(b) <= 3, `code ${code}`);
      assert.ok(a * b >= 0, `code ${code}: a = ${a}, b = ${b} differ in sign`);
    }
    // codes 1, 4, 5, 6, 7, 15 are 0.5, 2, 3, 4, 6, -6: doubled 1, 4, 6, 8, 12, -12.
    assert.deepEqual([1, 4, 5, 6, 7, 15].map(splitFp4), [{ a: 1, b: 0 }, { a: 0, b: 1 }, { a: 2, b: 1 }, { a: 0, b: 2 }, { a: 0, b: 3 }, { a: 0, b: -3 }]);
  });

  it('q4x2 - re-encoding is exact: (a + 4b) x scale equals decodeMxfp4 for every byte and every finite scale', () => {
    // Every byte value appears (checked below) and the scales sweep 0..254.
    const rows = 254;
    const cols = 64;
    const blocks = Uint8Array.from({ length: (rows * cols) / 2 }, (_, i) => (i * 7 + (i >> 5)) & 0xff);
    const scales = Uint8Array.from({ length: (rows * cols) / 32 }, (_, i) => i % 255);
    const seen = new Set(blocks);
    assert.equal(seen.size, 256);
    const ref = decodeMxfp4(blocks, scales, rows, cols);
    const { codes, scales: s } = mxfp4ToQ4x2(blocks, scales, rows, cols, 'test');
    assert.equal(codes.length, rows * cols);
    assert.equal(s.length, (rows * cols) / 32);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < cols; k++) {
        const want = ref[r * cols + k]!;
        const got = q4x2Value(codes, s, cols, r, k);
        assert.ok(got === want, `element [${r}, ${k}]: ${got} vs ${want}`);
      }
    }
  });

  it('q4x2 - codes at an odd byte offset re-encode the same', () => {
    const rng = new Rng(3);
    const { blocks, scales } = randomMxfp4(rng, 4, 64);
    const shifted = new Uint8Array(blocks.length + 1);
    shifted.set(blocks, 1);
    const a = mxfp4ToQ4x2(blocks, scales, 4, 64, 'test');
    const b = mxfp4ToQ4x2(shifted.subarray(1), scales, 4, 64, 'test');
    assert.deepEqual(b.codes, a.codes);
    assert.deepEqual(b.scales, a.scales);
  });

  it('q4x2 - refuses codes or scales that do not fit the shape, a width not a multiple of 32, and the NaN scale 255', () => {
    const bad = (f: () => unknown, pattern: RegExp, block: number | null = null): void =>
      assert.throws(f, (err: unknown) => err instanceof ExpertEncodingError && pattern.test(err.message) && err.tensor === 'layer 1 expert 2 down' && err.block === block);
    bad(() => mxfp4ToQ4x2(new Uint8Array(15), new Uint8Array(1), 1, 32, 'layer 1 expert 2 down'), /15 code bytes \/ 1 scales do not fit \[1, 32\]/);
    bad(() => mxfp4ToQ4x2(new Uint8Array(16), new Uint8Array(2), 1, 32, 'layer 1 expert 2 down'), /do not fit/);
    bad(() => mxfp4ToQ4x2(new Uint8Array(24), new Uint8Array(1), 1, 48, 'layer 1 expert 2 down'), /multiple of 32/);
    bad(() => mxfp4ToQ4x2(new Uint8Array(0), new Uint8Array(0), 0, 32, 'layer 1 expert 2 down'), /not positive rows/);
    bad(() => mxfp4ToQ4x2(new Uint8Array(32), Uint8Array.of(127, 255), 2, 32, 'layer 1 expert 2 down'), /block 1 has e8m0 scale 255 \(NaN\)/, 1);
  });

  for (const n of [1, 4, 16, 64]) {
    it(`q4x2 - the product equals fp32's Gemm on random weights within 1e-5 of max |y| (${n} token${n > 1 ? 's' : ''}, [96, 2880])`, async () => {
      // fp32 sums 2880 products in some order; q4x2 sums 5760 (a·x and b·4x), each product one
      // rounding, in another. Both stay within a few 1e-7 of max |y| at this length (measured
      // up to 2e-6 on [5760, 2880]); one wrong weight (off by >= 2^-11 here) would move its
      // outputs by over 1e-4 of max |y|.
      const rows = 96;
      const cols = 2880;
      const rng = new Rng(11 + n);
      const { blocks, scales } = randomMxfp4(rng, rows, cols);
      const x = Float32Array.from({ length: n * cols }, () => rng.normal());
      const { fp32, q4x2 } = await products(x, n, blocks, scales, rows, cols);
      assert.equal(q4x2.length, n * rows);
      let maxY = 0;
      for (const v of fp32) maxY = Math.max(maxY, Math.abs(v));
      let worst = 0;
      for (let i = 0; i < fp32.length; i++) worst = Math.max(worst, Math.abs(q4x2[i]! - fp32[i]!));
      assert.ok(maxY > 0);
      assert.ok(worst <= 1e-5 * maxY, `max |q4x2 - fp32| = ${worst} against max |y| = ${maxY} (${(worst / maxY).toExponential(2)})`);
    });
  }
});
