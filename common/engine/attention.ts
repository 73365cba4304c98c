// The attention core for one sequence's new tokens against its KV cache: grouped-query attention
// with learned sinks (an extra softmax column per head, not scaled, then dropped) and an optional
// sliding window (a query at q sees keys k with q - W < k <= q). Accumulates in float64.

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
export function attendNewTokens(
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
