// The model's hyperparameters, read only from the checkpoint's config.json (Hugging Face layout).
// Every field is validated; an error names the field. Field names follow transformers' GptOssConfig.
import { ConfigError } from '../errors.js';

export type LayerType = 'sliding_attention' | 'full_attention';

export interface YarnRopeScaling {
  readonly factor: number;
  readonly betaFast: number;
  readonly betaSlow: number;
  readonly originalMaxPositionEmbeddings: number;
  readonly truncate: boolean;
}

export interface ModelConfig {
  readonly numLayers: number;
  readonly hiddenSize: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly numExperts: number;
  readonly expertsPerToken: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  readonly slidingWindow: number;
  readonly layerTypes: readonly LayerType[];
  readonly ropeTheta: number;
  readonly ropeScaling: YarnRopeScaling | null;
  readonly rmsNormEps: number;
  readonly swigluLimit: number;
  readonly maxPositionEmbeddings: number;
  readonly eosTokenIds: readonly number[];
  /** Warnings for tolerated oddities (e.g. eos id outside the vocabulary, as in the golden set). */
  readonly warnings: readonly string[];
}

type Json = Record<string, unknown>;

function positiveInt(raw: Json, field: string): number {
  const v = raw[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(`config.json: "${field}" must be a positive integer, got ${JSON.stringify(v)}`, field);
  }
  return v;
}

function positiveNumber(raw: Json, field: string, fallback?: number): number {
  const v = raw[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(`config.json: "${field}" must be a positive number, got ${JSON.stringify(raw[field])}`, field);
  }
  return v;
}

function parseRopeScaling(raw: unknown): YarnRopeScaling | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError('config.json: "rope_scaling" must be an object', 'rope_scaling');
  }
  const r = raw as Json;
  const type = r['rope_type'] ?? r['type'];
  if (type !== 'yarn') {
    throw new ConfigError(`config.json: "rope_scaling.rope_type" must be "yarn", got ${JSON.stringify(type)}`, 'rope_scaling.rope_type');
  }
  const num = (f: string, fallback: number): number => {
    const v = r[f] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ConfigError(`config.json: "rope_scaling.${f}" must be a positive number`, `rope_scaling.${f}`);
    }
    return v;
  };
  const truncate = r['truncate'] ?? true;
  if (typeof truncate !== 'boolean') {
    throw new ConfigError('config.json: "rope_scaling.truncate" must be a boolean', 'rope_scaling.truncate');
  }
  return {
    factor: num('factor', 32),
    betaFast: num('beta_fast', 32),
    betaSlow: num('beta_slow', 1),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings', 4096),
    truncate,
  };
}

export function parseModelConfig(raw: unknown): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('config.json must hold a JSON object', '<root>');
  }
  const r = raw as Json;
  if (r['model_type'] !== undefined && r['model_type'] !== 'gpt_oss') {
    throw new ConfigError(`config.json: "model_type" must be "gpt_oss", got ${JSON.stringify(r['model_type'])}`, 'model_type');
  }
  const numLayers = positiveInt(r, 'num_hidden_layers');
  const hiddenSize = positiveInt(r, 'hidden_size');
  const numHeads = positiveInt(r, 'num_attention_heads');
  const numKvHeads = positiveInt(r, 'num_key_value_heads');
  const headDim = positiveInt(r, 'head_dim');
  const numExperts = positiveInt(r, r['num_local_experts'] !== undefined ? 'num_local_experts' : 'num_experts');
  const expertsPerToken = positiveInt(r, r['num_experts_per_tok'] !== undefined ? 'num_experts_per_tok' : 'experts_per_token');
  const intermediateSize = positiveInt(r, 'intermediate_size');
  const vocabSize = positiveInt(r, 'vocab_size');
  const slidingWindow = positiveInt(r, 'sliding_window');
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(`config.json: "num_attention_heads" (${numHeads}) must be a multiple of "num_key_value_heads" (${numKvHeads})`, 'num_key_value_heads');
  }
  if (expertsPerToken > numExperts) {
    throw new ConfigError(`config.json: "num_experts_per_tok" (${expertsPerToken}) exceeds "num_local_experts" (${numExperts})`, 'num_experts_per_tok');
  }
  if (headDim % 2 !== 0) throw new ConfigError('config.json: "head_dim" must be even (RoPE rotates halves)', 'head_dim');
  // MXFP4 blocks are 32 values along the input dimension of both expert matrices.
  if (hiddenSize % 32 !== 0) throw new ConfigError(`config.json: "hidden_size" (${hiddenSize}) must be a multiple of 32 (MXFP4 block)`, 'hidden_size');
  if (intermediateSize % 32 !== 0) {
    throw new ConfigError(`config.json: "intermediate_size" (${intermediateSize}) must be a multiple of 32 (MXFP4 block)`, 'intermediate_size');
  }

  let layerTypes: LayerType[];
  const lt = r['layer_types'];
  if (lt === undefined) {
    // Reference model.py: "sliding window only on every other layer", starting with layer 0.
    layerTypes = Array.from({ length: numLayers }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
  } else {
    if (!Array.isArray(lt) || lt.length !== numLayers) {
      throw new ConfigError(`config.json: "layer_types" must be an array of ${numLayers} entries`, 'layer_types');
    }
    layerTypes = lt.map((t, i) => {
      if (t !== 'sliding_attention' && t !== 'full_attention') {
        throw new ConfigError(`config.json: "layer_types[${i}]" must be "sliding_attention" or "full_attention", got ${JSON.stringify(t)}`, 'layer_types');
      }
      return t;
    });
  }

  const ropeScaling = parseRopeScaling(r['rope_scaling']);
  if (ropeScaling) {
    const dHalf = headDim / 2;
    const theta = positiveNumber(r, 'rope_theta', 150000);
    const low = (dHalf * Math.log(ropeScaling.originalMaxPositionEmbeddings / (ropeScaling.betaFast * 2 * Math.PI))) / Math.log(theta);
    const high = (dHalf * Math.log(ropeScaling.originalMaxPositionEmbeddings / (ropeScaling.betaSlow * 2 * Math.PI))) / Math.log(theta);
    if (!(low > 0 && low < high && high < dHalf - 1)) {
      // The reference asserts the same; a model outside it has a degenerate YaRN ramp.
      throw new ConfigError(`config.json: YaRN ramp needs 0 < low < high < head_dim/2 - 1, got low=${low.toFixed(4)} high=${high.toFixed(4)}`, 'rope_scaling');
    }
  }

  const warnings: string[] = [];
  const eos = r['eos_token_id'];
  const eosList = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  const eosTokenIds: number[] = [];
  for (const id of eosList) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new ConfigError(`config.json: "eos_token_id" must be a non-negative integer or a list of them`, 'eos_token_id');
    }
    if (id >= vocabSize) warnings.push(`eos_token_id ${id} is outside the vocabulary (${vocabSize}); it will never be sampled`);
    else eosTokenIds.push(id);
  }
  const pad = r['pad_token_id'];
  if (typeof pad === 'number' && pad >= vocabSize) warnings.push(`pad_token_id ${pad} is outside the vocabulary (${vocabSize})`);

  const quant = r['quantization_config'];
  if (quant !== undefined && quant !== null) {
    const method = (quant as Json)['quant_method'];
    if (method !== 'mxfp4') {
      throw new ConfigError(`config.json: "quantization_config.quant_method" must be "mxfp4", got ${JSON.stringify(method)}`, 'quantization_config.quant_method');
    }
  }

  return {
    numLayers,
    hiddenSize,
    numHeads,
    numKvHeads,
    headDim,
    numExperts,
    expertsPerToken,
    intermediateSize,
    vocabSize,
    slidingWindow,
    layerTypes,
    ropeTheta: positiveNumber(r, 'rope_theta', 150000),
    ropeScaling,
    rmsNormEps: positiveNumber(r, 'rms_norm_eps', 1e-5),
    swigluLimit: positiveNumber(r, 'swiglu_limit', 7),
    maxPositionEmbeddings: positiveNumber(r, 'max_position_embeddings', 131072),
    eosTokenIds,
    warnings,
  };
}
