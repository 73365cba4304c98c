// The previous scalar attention core and RoPE rotation (float64 accumulation), kept as the reference
// the onnxruntime attention core and the rotation inside the attention-in graph are held to.
import type { RotaryTable } from '../../common/engine/rope.js';

export interface AttentionShape {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/**
 * q: rows of the step's qkv output (row stride `qkvStride`, queries first); keys/values: the
 * layer's cache [position, kvHeads*headDim] already holding positions up to the last new token.
 * Writes [numHeads*headDim] per new token into `out` at row `outRow + i`.
 */
export function attendReference(
  shape: AttentionShape,
  qkv: Float32Array,
  qkvStride: number,
  firstRow: number,
  newTokens: number,
  firstPosition: number,
  keys: Float32Array,
  values: Float32Array,
  sinks: Float32Array,
  window: number,
  out: Float32Array,
  scores: Float64Array,
): void {
  const { numHeads, numKvHeads, headDim } = shape;
  const kvDim = numKvHeads * headDim;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const acc = new Float64Array(headDim);
  for (let i = 0; i < newTokens; i++) {
    const pos = firstPosition + i;
    const start = window > 0 ? Math.max(0, pos - window + 1) : 0;
    const qRow = (firstRow + i) * qkvStride;
    const outRow = (firstRow + i) * numHeads * headDim;
    for (let h = 0; h < numHeads; h++) {
      const qo = qRow + h * headDim;
      const kvo = Math.floor(h / group) * headDim;
      let max = sinks[h]!;
      for (let k = start; k <= pos; k++) {
        const ko = k * kvDim + kvo;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += qkv[qo + d]! * keys[ko + d]!;
        const s = Math.fround(dot) * scale;
        scores[k - start] = s;
        if (s > max) max = s;
      }
      let denom = Math.exp(sinks[h]! - max);
      acc.fill(0);
      for (let k = start; k <= pos; k++) {
        const p = Math.exp(scores[k - start]! - max);
        denom += p;
        const vo = k * kvDim + kvo;
        for (let d = 0; d < headDim; d++) acc[d] += p * values[vo + d]!;
      }
      const oo = outRow + h * headDim;
      for (let d = 0; d < headDim; d++) out[oo + d] = acc[d]! / denom;
    }
  }
}

/** Rotates `heads` consecutive heads of `headDim` values at data[offset] to `position`, in place. */
export function rotateReference(table: RotaryTable, data: Float32Array, offset: number, heads: number, position: number): void {
  const half = table.halfDim;
  const cos = new Float32Array(half);
  const sin = new Float32Array(half);
  table.fill(position, cos, sin, 0);
  for (let h = 0; h < heads; h++) {
    const o = offset + h * 2 * half;
    for (let i = 0; i < half; i++) {
      const x1 = data[o + i]!;
      const x2 = data[o + half + i]!;
      data[o + i] = x1 * cos[i]! - x2 * sin[i]!;
      data[o + half + i] = x2 * cos[i]! + x1 * sin[i]!;
    }
  }
}
