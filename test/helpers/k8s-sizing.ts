// The sizing arithmetic behind deploy/README.md ("Sizing") and the overlays' --capacity values,
// from the models' real tensor shapes. deploy-sizing.test.ts checks that the README's table is
// exactly what this renders and that every overlay's numbers fit.
import { expertResidentBytes } from '../../common/experts/expert-graph.js';
import { parseModelConfig, type ModelConfig } from '../../common/model/model-config.js';
import { DEFAULT_CHECKPOINT_SPEC } from '../../common/checkpoint/checkpoint-writer.js';
import { EXPERT_PRECISIONS, type ExpertPrecision } from '../../common/experts/expert-precision.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Share of a GPU's memory the experts may use; the rest is CUDA context, arena and activations. */
export const USABLE_FRACTION = 0.85;
/** Nominal GPU memory sizes of the table's columns, GiB. */
export const GPU_GIB = [16, 24, 48, 80] as const;

function gptOssConfig(layers: number, experts: number): ModelConfig {
  // The fields of openai/gpt-oss-{20b,120b}/config.json that sizing depends on.
  return parseModelConfig({
    model_type: 'gpt_oss',
    num_hidden_layers: layers,
    hidden_size: 2880,
    num_attention_heads: 64,
    num_key_value_heads: 8,
    head_dim: 64,
    num_local_experts: experts,
    num_experts_per_tok: 4,
    intermediate_size: 2880,
    vocab_size: 201088,
    sliding_window: 128,
    layer_types: Array.from({ length: layers }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
    rope_theta: 150000,
    rope_scaling: { rope_type: 'yarn', factor: 32, beta_fast: 32, beta_slow: 1, original_max_position_embeddings: 4096, truncate: false },
    max_position_embeddings: 131072,
    quantization_config: { quant_method: 'mxfp4' },
  });
}

export const MODELS: Record<'gpt-oss-20b' | 'gpt-oss-120b' | 'demo', ModelConfig> = {
  'gpt-oss-20b': gptOssConfig(24, 32),
  'gpt-oss-120b': gptOssConfig(36, 128),
  demo: parseModelConfig({
    num_hidden_layers: DEFAULT_CHECKPOINT_SPEC.layers,
    hidden_size: DEFAULT_CHECKPOINT_SPEC.hidden,
    num_attention_heads: DEFAULT_CHECKPOINT_SPEC.heads,
    num_key_value_heads: DEFAULT_CHECKPOINT_SPEC.kvHeads,
    head_dim: DEFAULT_CHECKPOINT_SPEC.headDim,
    num_local_experts: DEFAULT_CHECKPOINT_SPEC.experts,
    num_experts_per_tok: DEFAULT_CHECKPOINT_SPEC.topK,
    intermediate_size: DEFAULT_CHECKPOINT_SPEC.intermediate,
    vocab_size: DEFAULT_CHECKPOINT_SPEC.vocab,
    sliding_window: DEFAULT_CHECKPOINT_SPEC.slidingWindow,
  }),
};

/** Expert slots: one per (layer, expert). */
export function slots(c: ModelConfig): number {
  return c.numLayers * c.numExperts;
}

/** Parameters of one expert's two matrices: gate_up [2I, H] and down [H, I]. */
export function expertParams(c: ModelConfig): number {
  return 3 * c.hiddenSize * c.intermediateSize;
}

/** Bias values of one expert: gate_up_bias [2I] and down_bias [H]. */
export function expertBiasValues(c: ModelConfig): number {
  return 2 * c.intermediateSize + c.hiddenSize;
}

/** One expert's bytes in the checkpoint: MXFP4 codes (4 bits) + e8m0 scales (1 byte / 32) + bf16 biases. */
export function expertCheckpointBytes(c: ModelConfig): number {
  const p = expertParams(c);
  return p / 2 + p / 32 + 2 * expertBiasValues(c);
}

/**
 * One expert's resident bytes on a worker: fp32 (32 bits/param), q4x2 (two 4-bit codes + an fp32
 * scale per 32 = 9 bits/param) or mxfp4 (the checkpoint's 4-bit codes + e8m0 scale byte per 32 = 4.25
 * bits/param); fp32 biases.
 */
export function expertBytes(c: ModelConfig, precision: ExpertPrecision): number {
  const p = expertParams(c);
  const weights = precision === 'fp32' ? p * 4 : precision === 'q4x2' ? (p * 9) / 8 : p / 2 + p / 32;
  return weights + 4 * expertBiasValues(c);
}

/** Parameters the coordinator holds, by part. */
export function denseParams(c: ModelConfig): { embedding: number; lmHead: number; attention: number; router: number; norms: number } {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayerAttention = q * H + q + 2 * (kv * H + kv) + H * q + H + c.numHeads; // q, k, v, o (+ biases), sinks
  return {
    embedding: c.vocabSize * H,
    lmHead: c.vocabSize * H,
    attention: c.numLayers * perLayerAttention,
    router: c.numLayers * (c.numExperts * H + c.numExperts),
    norms: c.numLayers * 2 * H + H,
  };
}

/** The coordinator's resident weights: embeddings kept bf16, everything else (lm_head included) fp32. */
export function coordinatorBytes(c: ModelConfig): number {
  const d = denseParams(c);
  return d.embedding * 2 + (d.lmHead + d.attention + d.router + d.norms) * 4;
}

/** The dense weights as the checkpoint stores them (bf16). */
export function denseCheckpointBytes(c: ModelConfig): number {
  const d = denseParams(c);
  return (d.embedding + d.lmHead + d.attention + d.router + d.norms) * 2;
}

/** KV bytes per token as this project keeps them (coordinator memory and Redis): K and V, every layer, fp32. */
export function kvBytesPerToken(c: ModelConfig): number {
  return c.numLayers * 2 * c.numKvHeads * c.headDim * 4;
}

/** Expert slots one worker holds on a GPU of `gpuBytes`, keeping `USABLE_FRACTION` of it for experts. */
export function slotsPerWorker(c: ModelConfig, precision: ExpertPrecision, gpuBytes: number): number {
  return Math.floor((USABLE_FRACTION * gpuBytes) / expertBytes(c, precision));
}

/** Workers (one GPU each) to hold every expert `replication` times; never fewer than `replication`. */
export function workersNeeded(c: ModelConfig, precision: ExpertPrecision, gpuBytes: number, replication: number): number {
  const per = slotsPerWorker(c, precision, gpuBytes);
  if (per === 0) return Infinity;
  return Math.max(replication, Math.ceil((replication * slots(c)) / per));
}

/** The project's own resident-bytes function, for cross-checking. */
export function projectExpertBytes(c: ModelConfig, precision: ExpertPrecision): number {
  return expertResidentBytes(c, { precision });
}

export function gib(n: number): number {
  return n * GIB;
}

export function mib(n: number): number {
  return n * MIB;
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const gb = (n: number): string => `${(n / 1e9).toFixed(2)} GB`;

/** The per-model figures table of deploy/README.md, as markdown. */
export function renderModelTable(): string {
  const m20 = MODELS['gpt-oss-20b'];
  const m120 = MODELS['gpt-oss-120b'];
  const row = (label: string, f: (c: ModelConfig) => string): string => `| ${label} | ${f(m20)} | ${f(m120)} |`;
  return [
    '| | gpt-oss-20b | gpt-oss-120b |',
    '|---|---:|---:|',
    row('expert slots (layers x experts)', (c) => `${c.numLayers} x ${c.numExperts} = ${fmt(slots(c))}`),
    row('one expert in the checkpoint (MXFP4 + bf16 biases)', (c) => `${fmt(expertCheckpointBytes(c))} B`),
    row('all experts in the checkpoint', (c) => gb(slots(c) * expertCheckpointBytes(c))),
    row('one expert resident, fp32', (c) => `${fmt(expertBytes(c, 'fp32'))} B`),
    row('one expert resident, q4x2', (c) => `${fmt(expertBytes(c, 'q4x2'))} B`),
    row('one expert resident, mxfp4', (c) => `${fmt(expertBytes(c, 'mxfp4'))} B`),
    row('all experts resident, fp32', (c) => gb(slots(c) * expertBytes(c, 'fp32'))),
    row('all experts resident, q4x2', (c) => gb(slots(c) * expertBytes(c, 'q4x2'))),
    row('all experts resident, mxfp4', (c) => gb(slots(c) * expertBytes(c, 'mxfp4'))),
    row('dense weights in the checkpoint (bf16)', (c) => gb(denseCheckpointBytes(c))),
    row('coordinator resident (embeddings bf16, rest fp32)', (c) => `${fmt(coordinatorBytes(c))} B (${gb(coordinatorBytes(c))})`),
    row('KV per token (fp32, every layer)', (c) => `${fmt(kvBytesPerToken(c))} B (${kvBytesPerToken(c) / 1024} KiB)`),
  ].join('\n');
}

/** The workers-needed table of deploy/README.md, as markdown. */
export function renderWorkersTable(): string {
  const lines = [
    `| model | experts | replication | ${GPU_GIB.map((g) => `${g} GiB GPU`).join(' | ')} |`,
    `|---|---|---:|${GPU_GIB.map(() => '---:').join('|')}|`,
  ];
  for (const name of ['gpt-oss-20b', 'gpt-oss-120b'] as const) {
    for (const precision of EXPERT_PRECISIONS) {
      for (const r of [1, 2]) {
        const c = MODELS[name];
        const cells = GPU_GIB.map((g) => `${workersNeeded(c, precision, gib(g), r)} (${slotsPerWorker(c, precision, gib(g))} slots)`);
        lines.push(`| ${name} | ${precision} | ${r} | ${cells.join(' | ')} |`);
      }
    }
  }
  return lines.join('\n');
}
