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

/** The one onnxruntime graph's worth of dense weights a loader reads at a time. */
export interface LayerWeights {
  readonly attention: AttentionWeights;
  readonly router: RouterWeights;
}

export interface UnembeddingWeights {
  readonly finalNorm: Float32Array;
  readonly lmHead: Float32Array;
}

type OnTensor = ((name: string) => void) | undefined;

async function readTensor(ckpt: Checkpoint, name: string, shape: number[], onTensor: OnTensor): Promise<Float32Array> {
  const t = await ckpt.readFloat32(name, shape);
  onTensor?.(name);
  return t;
}

/** Layer `l`'s attention and router weights, widened to fp32, q/k/v stacked by rows. */
export async function loadLayerWeights(ckpt: Checkpoint, l: number, onTensor?: (name: string) => void): Promise<LayerWeights> {
  const c = ckpt.config;
  const H = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const n = layerTensorNames(l);
  const read = (name: string, shape: number[]): Promise<Float32Array> => readTensor(ckpt, name, shape, onTensor);
  // q, k and v are read straight into their rows of the stacked matrix: no per-tensor copies.
  const qkvWeight = new Float32Array((qDim + 2 * kvDim) * H);
  await ckpt.readFloat32Into(n.qWeight, [qDim, H], qkvWeight.subarray(0, qDim * H));
  await ckpt.readFloat32Into(n.kWeight, [kvDim, H], qkvWeight.subarray(qDim * H, (qDim + kvDim) * H));
  await ckpt.readFloat32Into(n.vWeight, [kvDim, H], qkvWeight.subarray((qDim + kvDim) * H));
  for (const name of [n.qWeight, n.kWeight, n.vWeight]) onTensor?.(name);
  const attention: AttentionWeights = {
    inputNorm: await read(n.inputNorm, [H]),
    qkvWeight,
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
  return { attention, router };
}

export async function loadUnembeddingWeights(ckpt: Checkpoint, onTensor?: (name: string) => void): Promise<UnembeddingWeights> {
  const c = ckpt.config;
  return {
    lmHead: await readTensor(ckpt, LM_HEAD, [c.vocabSize, c.hiddenSize], onTensor),
    finalNorm: await readTensor(ckpt, FINAL_NORM, [c.hiddenSize], onTensor),
  };
}

/** The embedding table as stored (bf16 rows, half the memory of fp32). */
export async function loadEmbeddingBf16(ckpt: Checkpoint, onTensor?: (name: string) => void): Promise<Uint8Array> {
  const c = ckpt.config;
  const info = ckpt.info(EMBED_TOKENS, ['BF16'], [c.vocabSize, c.hiddenSize]);
  const bytes = await readByteRange(info.file, info.byteOffset, info.byteLength, EMBED_TOKENS);
  onTensor?.(EMBED_TOKENS);
  return bytes;
}

/**
 * Every dense weight at once. Loaders that hand weights to onnxruntime use the per-part functions
 * above instead, so only one graph's weights are in JavaScript memory at a time.
 */
export async function loadDenseWeights(ckpt: Checkpoint, onTensor?: (name: string) => void): Promise<DenseWeights> {
  const embedBf16 = await loadEmbeddingBf16(ckpt, onTensor);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < ckpt.config.numLayers; l++) layers.push(await loadLayerWeights(ckpt, l, onTensor));
  const u = await loadUnembeddingWeights(ckpt, onTensor);
  return { embedBf16, lmHead: u.lmHead, finalNorm: u.finalNorm, layers };
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
