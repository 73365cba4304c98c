// What a loaded engine or worker holds in weights, by the same arithmetic as the loaders: the dense
// half as the engine keeps it (embedding bf16, everything else fp32) plus experts in their
// resident precision. The load benchmark and the memory test compare RSS against it.
import { expertResidentBytes } from '../common/experts/expert-graph.js';
import type { ExpertPrecision } from '../common/experts/expert-precision.js';
import type { ModelConfig } from '../common/model/model-config.js';

export function denseResidentBytes(c: ModelConfig): number {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer = (q + 2 * kv) * H + (q + 2 * kv) + H * q + H + c.numHeads + c.numExperts * H + c.numExperts + 2 * H;
  return c.vocabSize * H * 2 + (c.vocabSize * H + H + c.numLayers * perLayer) * 4;
}

export function residentWeightBytes(c: ModelConfig, precision: ExpertPrecision, experts: number, withDense: boolean): number {
  return (withDense ? denseResidentBytes(c) : 0) + experts * expertResidentBytes(c, { precision });
}
