// y = x W^T + b for W held as q4x2 (q4x2-encoding.ts): one MatMulNBits (bits 4, blocks of 64,
// default zero point 8, fp32 scales 2^(e-1)) over the doubled input [x_j | 4 x_j] per MXFP4 block
// j, which the graph builds from x, so callers feed x as for any other precision. Each weight is
// exact and each product a·x or b·4x is one fp32 rounding, as in fp32's Gemm; only the summation
// order differs (measured within 2e-6 of max |y| on 20b-size matrices).
import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { Q4x2Weights } from './q4x2-encoding.js';

/**
 * MatMulNBits' accuracy_level for q4x2: 0 (unset) and 1 (fp32) both keep fp32 activations, so
 * both are exact; level 4 would quantize activations to int8 and is not offered. Level 1 is
 * onnxruntime's fused fp32 kernel (MLAS CompFp32); npm run bench -- experts compares the two.
 */
export type Q4x2AccuracyLevel = 0 | 1;
export const DEFAULT_Q4X2_ACCURACY_LEVEL: Q4x2AccuracyLevel = 1;

export function q4x2Projection(g: GraphBuilder, x: string, name: string, w: Q4x2Weights, outDim: number, inDim: number, accuracyLevel: Q4x2AccuracyLevel): string {
  const nb = inDim / 32;
  if (!Number.isInteger(nb)) throw new Error(`q4x2Projection ${name}: input size ${inDim} is not a multiple of 32`);
  const codes = g.initializer(`${name}_q4x2`, 'uint8', [outDim, nb, 32], w.codes);
  const scales = g.initializer(`${name}_q4x2_scales`, 'float32', [outDim * nb], w.scales);
  // [n, in] -> [n, nb, 32] -> [n, nb, 64] (x_j then 4 x_j) -> [n, 2 in]. Reshape's 0 keeps n.
  const blocks = g.op('Reshape', [x, g.int64s([0, nb, 32])]);
  const doubled = g.op('Concat', [blocks, g.op('Mul', [blocks, g.scalar(4)])], { axis: { i: 2 } });
  const wide = g.op('Reshape', [doubled, g.int64s([0, 2 * inDim])]);
  return g.op('MatMulNBits', [wide, codes, scales], { K: { i: 2 * inDim }, N: { i: outDim }, bits: { i: 4 }, block_size: { i: 64 }, accuracy_level: { i: accuracyLevel } }, 'com.microsoft');
}
