// Typed loaders for the two halves of the model: the dense weights (coordinator / engine) and one
// expert of one layer (worker), each read by byte range and checked against config.json's shapes.
import type { ModelConfig } from '../model/model-config.js';
import type { Checkpoint } from './checkpoint.js';
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerTensorNames } from './tensor-names.js';
import { readByteRange } from './safetensors.js';

export interface AttentionWeights {
  readonly inputNorm: Float32Array;
  /** q, k and v projections stacked by rows: [(heads + 2 kvHeads) * headDim, hidden]. */
  readonly qkvWeight: Float32Array;
  readonly qkvBias: Float32Array;
  readonly oWeight: Float32Array;
  readonly oBias: Float32Array;
  readonly sinks: Float32Array;
}

export interface RouterWeights {
  readonly postAttentionNorm: Float32Array;
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

export interface DenseWeights {
  /** bf16 rows kept as stored (half the memory); widened one row at a time on lookup. */
  readonly embedBf16: Uint8Array;
  readonly lmHead: Float32Array;
  readonly finalNorm: Float32Array;
  readonly layers: readonly { attention: AttentionWeights; router: RouterWeights }[];
}

/** One expert of one layer, MXFP4 as stored. */
export interface ExpertWeights {
  readonly layer: number;
  readonly expert: number;
  readonly gateUpBlocks: Uint8Array; // [2I, H/32, 16]
  readonly gateUpScales: Uint8Array; // [2I, H/32]
  readonly gateUpBias: Float32Array; // [2I], rows interleaved gate/up
  readonly downBlocks: Uint8Array; // [H, I/32, 16]
  readonly downScales: Uint8Array; // [H, I/32]
  readonly downBias: Float32Array; // [H]
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export async function loadDenseWeights(ckpt: Checkpoint, onTensor?: (name: string) => void): Promise<DenseWeights> {
  const c = ckpt.config;
  const H = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const read = async (name: string, shape: number[]): Promise<Float32Array> => {
    const t = await ckpt.readFloat32(name, shape);
    onTensor?.(name);
    return t;
  };
  const embedInfo = ckpt.info(EMBED_TOKENS, ['BF16'], [c.vocabSize, H]);
  const embedBf16 = await readByteRange(embedInfo.file, embedInfo.byteOffset, embedInfo.byteLength, EMBED_TOKENS);
  onTensor?.(EMBED_TOKENS);
  const layers = [];
  for (let l = 0; l < c.numLayers; l++) {
    const n = layerTensorNames(l);
    const attention: AttentionWeights = {
      inputNorm: await read(n.inputNorm, [H]),
      qkvWeight: concat([await read(n.qWeight, [qDim, H]), await read(n.kWeight, [kvDim, H]), await read(n.vWeight, [kvDim, H])]),
      qkvBias: concat([await read(n.qBias, [qDim]), await read(n.kBias, [kvDim]), await read(n.vBias, [kvDim])]),
      oWeight: await read(n.oWeight, [H, qDim]),
      oBias: await read(n.oBias, [H]),
      sinks: await read(n.sinks, [c.numHeads]),
    };
    const router: RouterWeights = {
      postAttentionNorm: await read(n.postAttentionNorm, [H]),
      weight: await read(n.routerWeight, [c.numExperts, H]),
      bias: await read(n.routerBias, [c.numExperts]),
    };
    layers.push({ attention, router });
  }
  return {
    embedBf16,
    lmHead: await read(LM_HEAD, [c.vocabSize, H]),
    finalNorm: await read(FINAL_NORM, [H]),
    layers,
  };
}

export function expertShapes(c: ModelConfig) {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const E = c.numExperts;
  return {
    gateUpBlocks: [E, 2 * I, H / 32, 16],
    gateUpScales: [E, 2 * I, H / 32],
    gateUpBias: [E, 2 * I],
    downBlocks: [E, H, I / 32, 16],
    downScales: [E, H, I / 32],
    downBias: [E, H],
  };
}

/** Reads only expert `expert`'s byte ranges of layer `layer`'s stacked expert tensors. */
export async function loadExpertWeights(ckpt: Checkpoint, layer: number, expert: number): Promise<ExpertWeights> {
  const n = layerTensorNames(layer);
  const s = expertShapes(ckpt.config);
  return {
    layer,
    expert,
    gateUpBlocks: await ckpt.readUint8Rows(n.gateUpBlocks, s.gateUpBlocks, expert, 1),
    gateUpScales: await ckpt.readUint8Rows(n.gateUpScales, s.gateUpScales, expert, 1),
    gateUpBias: await ckpt.readFloat32Rows(n.gateUpBias, s.gateUpBias, expert, 1),
    downBlocks: await ckpt.readUint8Rows(n.downBlocks, s.downBlocks, expert, 1),
    downScales: await ckpt.readUint8Rows(n.downScales, s.downScales, expert, 1),
    downBias: await ckpt.readFloat32Rows(n.downBias, s.downBias, expert, 1),
  };
}
