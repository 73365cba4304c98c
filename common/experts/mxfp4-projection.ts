// y = x W^T + b with W kept as the checkpoint's MXFP4 bytes and widened inside the graph on every
// run, with standard ONNX ops only (so any execution provider runs it; onnxruntime 1.30 has no CPU
// kernel for FLOAT4E2M1 DequantizeLinear or Cast):
//   codes, read as uint16 pairs of bytes -> Cast int32 -> Gather over a [65536, 4] table (each
//   byte pair -> its four e2m1 values, element 2j the low nibble of byte j) -> [rows, in/32, 32]
//   scales uint8 -> Cast int32 -> Gather over [256] (2^(s - 127)) -> [rows, in/32, 1]
//   W = values x scale; y = (W x^T)^T + b
// onnxruntime's Gather costs about the same per index whatever the row it copies, so a byte pair
// per index (a 1 MiB table) halves the widening time of one byte per index. The rows are split
// into chunks whose widened weights stay a few MiB, so they are still in cache for the Gemm and
// the per-run scratch stays small. The weights are inputs, so there is nothing to constant-fold.
import { FP4_VALUES } from '../checkpoint/mxfp4.js';
import ort from 'onnxruntime-node';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import { f32, type Feeds } from '../onnx/session.js';

/** Widened weights per chunk (2 MiB of fp32): of 1, 2, 8 MiB and no chunks, 2 MiB measured fastest. */
export const MXFP4_CHUNK_VALUES = 1 << 19;

const ONNX_INT32 = 6;

/** [65536, 4]: little-endian byte pair p -> e2m1 of (p & 15, p >> 4 & 15, p >> 8 & 15, p >> 12). */
export function fp4QuadTable(): Float32Array {
  const t = new Float32Array(65536 * 4);
  for (let p = 0; p < 65536; p++) {
    for (let j = 0; j < 4; j++) t[4 * p + j] = FP4_VALUES[(p >> (4 * j)) & 0x0f]!;
  }
  return t;
}

/** [256]: e8m0 byte s -> 2^(s - 127) in fp32 (255, e8m0's NaN, widens to +Inf as decodeMxfp4 does). */
export function e8m0Table(): Float32Array {
  const t = new Float32Array(256);
  for (let s = 0; s < 256; s++) t[s] = Math.pow(2, s - 127);
  return t;
}

/** The lookup tables as initializers of one graph. */
export interface Mxfp4Tables {
  readonly quads: string;
  readonly scales: string;
}

let tables: { quads: Float32Array; scales: Float32Array } | null = null;

/** Adds the tables to a graph, for all its projections (built once per thread, shared by every graph built here). */
export function addMxfp4Tables(g: GraphBuilder): Mxfp4Tables {
  tables ??= { quads: fp4QuadTable(), scales: e8m0Table() };
  return {
    quads: g.initializer('mxfp4_fp4_quads', 'float32', [65536, 4], tables.quads),
    scales: g.initializer('mxfp4_e8m0_scales', 'float32', [256], tables.scales),
  };
}

/** The row ranges of a projection's chunks (each widened and multiplied on its own). */
export function mxfp4Chunks(outDim: number, inDim: number, chunkValues = MXFP4_CHUNK_VALUES): { first: number; rows: number }[] {
  const rowsPerChunk = Math.max(1, Math.min(outDim, Math.floor(chunkValues / inDim)));
  const chunks: { first: number; rows: number }[] = [];
  for (let first = 0; first < outDim; first += rowsPerChunk) chunks.push({ first, rows: Math.min(rowsPerChunk, outDim - first) });
  return chunks;
}

/**
 * The projection's nodes. Its weights are graph inputs (`${name}_${i}_codes`, `${name}_${i}_scales` per
 * chunk, `${name}_bias`), bound on each run by mxfp4Feeds: one session then serves every expert of
 * a process, and loading an expert is reading its bytes, with no session to create and no copy
 * held by onnxruntime. The widening costs the same either way, since it runs on every run anyway.
 */
export function mxfp4Projection(g: GraphBuilder, tables: Mxfp4Tables, x: string, name: string, outDim: number, inDim: number, chunkValues = MXFP4_CHUNK_VALUES): string {
  if (!Number.isInteger(inDim / 32)) throw new Error(`mxfp4Projection ${name}: input size ${inDim} is not a multiple of 32`);
  const parts = mxfp4Chunks(outDim, inDim, chunkValues).map(({ rows }, i) => {
    const w = widenMxfp4(g, tables, `${name}_${i}`, rows, inDim);
    // W x^T rather than x W^T: the widened weights are Gemm's A, which is streamed as it is, and
    // only the few activation rows (B) get packed; as B they would be repacked on every run.
    return g.op('Gemm', [w, x], { transB: { i: 1 } });
  });
  const yT = parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: { i: 0 } });
  return g.op('Add', [g.op('Transpose', [yT], { perm: { ints: [1, 0] } }), g.input(`${name}_bias`, 'float32', [outDim])]);
}

/** The inputs of mxfp4Projection `name` for one matrix: views of its bytes, nothing copied (unless the codes sit at an odd offset). */
export function mxfp4Feeds(name: string, blocks: Uint8Array, scales: Uint8Array, bias: Float32Array, outDim: number, inDim: number, chunkValues = MXFP4_CHUNK_VALUES): Feeds {
  const nb = inDim / 32;
  if (!Number.isInteger(nb) || blocks.byteLength !== outDim * nb * 16 || scales.byteLength !== outDim * nb || bias.length !== outDim) {
    throw new Error(`mxfp4 ${name}: ${blocks.byteLength} code bytes / ${scales.byteLength} scales / ${bias.length} biases do not fit [${outDim}, ${inDim}]`);
  }
  const pairs = bytePairs(blocks);
  const feeds: Feeds = { [`${name}_bias`]: f32(bias, [outDim]) };
  mxfp4Chunks(outDim, inDim, chunkValues).forEach(({ first, rows }, i) => {
    feeds[`${name}_${i}_codes`] = new ort.Tensor('uint16', pairs.subarray(first * nb * 8, (first + rows) * nb * 8), [rows, nb, 8]);
    feeds[`${name}_${i}_scales`] = new ort.Tensor('uint8', scales.subarray(first * nb, (first + rows) * nb), [rows, nb, 1]);
  });
  return feeds;
}

/** The nodes that widen MXFP4 codes [rows, in/32, 16] and scales [rows, in/32] (graph inputs) into fp32 W [rows, in]. */
function widenMxfp4(g: GraphBuilder, tables: Mxfp4Tables, name: string, rows: number, inDim: number): string {
  const nb = inDim / 32;
  const sc = g.input(`${name}_scales`, 'uint8', [rows, nb, 1]);
  const pairs = g.input(`${name}_codes`, 'uint16', [rows, nb, 8]);
  const values = g.op('Gather', [tables.quads, g.op('Cast', [pairs], { to: { i: ONNX_INT32 } })], { axis: { i: 0 } });
  const blockScale = g.op('Gather', [tables.scales, g.op('Cast', [sc], { to: { i: ONNX_INT32 } })], { axis: { i: 0 } });
  const scaled = g.op('Mul', [g.op('Reshape', [values, g.int64s([rows, nb, 32])]), blockScale]);
  return g.op('Reshape', [scaled, g.int64s([rows, inDim])]);
}

/** The same bytes as little-endian uint16 (a view when aligned, else one copy). */
function bytePairs(bytes: Uint8Array): Uint16Array {
  return bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : new Uint16Array(bytes.slice().buffer);
}
