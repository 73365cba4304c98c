// The CPU-heavy half of loading an expert: the checkpoint's MXFP4 bytes turned into what its graph
// holds in the chosen precision (fp32 values, exact pairs of 4-bit matrices), or the bytes as they
// are for mxfp4, whose graph is fed them on each run.
import { decodeMxfp4 } from '../checkpoint/mxfp4.js';
import { mxfp4ToQ4x2 } from './q4x2-encoding.js';
import type { ExpertWeights } from '../checkpoint/weights.js';
import type { ModelConfig } from '../model/model-config.js';
import type { ExpertPrecision } from './expert-precision.js';

export type DecodedProjection =
  | { readonly kind: 'fp32'; readonly weight: Float32Array }
  | { readonly kind: 'q4x2'; readonly codes: Uint8Array; readonly scales: Float32Array }
  | { readonly kind: 'mxfp4'; readonly blocks: Uint8Array; readonly scales: Uint8Array };

export interface DecodedExpert {
  readonly layer: number;
  readonly expert: number;
  readonly gateUp: DecodedProjection; // [2I, H], rows interleaved gate/up
  readonly gateUpBias: Float32Array;
  readonly down: DecodedProjection; // [H, I]
  readonly downBias: Float32Array;
}

function decodeProjection(precision: ExpertPrecision, blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number, what: string): DecodedProjection {
  switch (precision) {
    case 'fp32':
      return { kind: 'fp32', weight: decodeMxfp4(blocks, scales, rows, cols) };
    case 'q4x2':
      return { kind: 'q4x2', ...mxfp4ToQ4x2(blocks, scales, rows, cols, what) };
    case 'mxfp4':
      return { kind: 'mxfp4', blocks, scales };
  }
}

export function decodeExpert(c: ModelConfig, w: ExpertWeights, precision: ExpertPrecision): DecodedExpert {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  return {
    layer: w.layer,
    expert: w.expert,
    gateUp: decodeProjection(precision, w.gateUpBlocks, w.gateUpScales, 2 * I, H, `layer ${w.layer} expert ${w.expert} gate_up`),
    gateUpBias: w.gateUpBias,
    down: decodeProjection(precision, w.downBlocks, w.downScales, H, I, `layer ${w.layer} expert ${w.expert} down`),
    downBias: w.downBias,
  };
}
