// Writes a random gpt-oss checkpoint in exactly the Hugging Face layout (config.json, bf16 dense
// tensors, MXFP4 experts, optional shards with model.safetensors.index.json), deterministic by seed.
// Tests and the default demo use it; a real checkpoint drops in unchanged.
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { ConfigError } from '../errors.js';
import { float32ToBf16 } from './bf16.js';
import { Rng } from './random.js';
import { encodeSafetensors, DTYPE_BYTES, type SafetensorsDtype } from './safetensors.js';
import { EMBED_TOKENS, FINAL_NORM, LM_HEAD, layerTensorNames } from './tensor-names.js';

export interface CheckpointSpec {
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly experts: number;
  readonly topK: number;
  readonly intermediate: number;
  readonly vocab: number;
  readonly slidingWindow: number;
  readonly shards: number;
  readonly seed: number;
}

/** The default demo model: real gpt-oss vocabulary (so the harmony tokenizer works), tiny dims. */
export const DEFAULT_CHECKPOINT_SPEC: CheckpointSpec = {
  layers: 4,
  hidden: 64,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  experts: 8,
  topK: 4,
  intermediate: 64,
  vocab: 201088,
  slidingWindow: 16,
  shards: 2,
  seed: 0,
};

interface PlannedTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  generate: (rng: Rng) => Uint8Array;
}

function checkSpec(s: CheckpointSpec): void {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || (k === 'seed' ? v < 0 : v <= 0)) throw new ConfigError(`make-checkpoint: --${k} must be a positive integer, got ${v}`, k);
  }
  if (s.heads % s.kvHeads !== 0) throw new ConfigError('make-checkpoint: --heads must be a multiple of --kv-heads', 'kv-heads');
  if (s.hidden % 32 !== 0) throw new ConfigError('make-checkpoint: --hidden must be a multiple of 32 (MXFP4 blocks)', 'hidden');
  if (s.intermediate % 32 !== 0) throw new ConfigError('make-checkpoint: --intermediate must be a multiple of 32 (MXFP4 blocks)', 'intermediate');
  if (s.topK > s.experts) throw new ConfigError('make-checkpoint: --top-k must not exceed --experts', 'top-k');
  if (s.headDim % 2 !== 0 || s.headDim < 8) throw new ConfigError('make-checkpoint: --head-dim must be even and at least 8 (YaRN ramp)', 'head-dim');
}

export function configJson(s: CheckpointSpec): Record<string, unknown> {
  // Field set, order and value types of openai/gpt-oss-20b's config.json; only the dims differ.
  return {
    architectures: ['GptOssForCausalLM'],
    attention_bias: true,
    attention_dropout: 0.0,
    eos_token_id: 200002,
    experts_per_token: s.topK,
    head_dim: s.headDim,
    hidden_act: 'silu',
    hidden_size: s.hidden,
    initial_context_length: 4096,
    initializer_range: 0.02,
    intermediate_size: s.intermediate,
    layer_types: Array.from({ length: s.layers }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
    max_position_embeddings: 131072,
    model_type: 'gpt_oss',
    num_attention_heads: s.heads,
    num_experts_per_tok: s.topK,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.kvHeads,
    num_local_experts: s.experts,
    output_router_logits: false,
    pad_token_id: 199999,
    quantization_config: {
      modules_to_not_convert: ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens', 'lm_head'],
      quant_method: 'mxfp4',
    },
    rms_norm_eps: 1e-5,
    rope_scaling: { beta_fast: 32.0, beta_slow: 1.0, factor: 32.0, original_max_position_embeddings: 4096, rope_type: 'yarn', truncate: false },
    rope_theta: 150000,
    router_aux_loss_coef: 0.9,
    sliding_window: s.slidingWindow,
    swiglu_limit: 7.0,
    tie_word_embeddings: false,
    transformers_version: '4.55.0.dev0',
    use_cache: true,
    vocab_size: s.vocab,
  };
}

function planTensors(s: CheckpointSpec): PlannedTensor[] {
  // Standard deviations follow the golden set's generator at hidden 64, scaled by 1/sqrt(fan-in)
  // beyond that so activations stay in range at real sizes.
  const fan = (n: number): number => Math.sqrt(64 / n);
  const bf16 = (name: string, shape: number[], std: number, mean = 0): PlannedTensor => ({
    name,
    dtype: 'BF16',
    shape,
    generate: (rng) => {
      const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < v.length; i++) v[i] = mean + std * rng.normal();
      return float32ToBf16(v);
    },
  });
  const codes = (name: string, shape: number[]): PlannedTensor => ({
    name,
    dtype: 'U8',
    shape,
    generate: (rng) => {
      const v = new Uint8Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < v.length; i++) v[i] = rng.uint32() & 0xff;
      return v;
    },
  });
  const scales = (name: string, shape: number[], exponents: number[]): PlannedTensor => ({
    name,
    dtype: 'U8',
    shape,
    generate: (rng) => {
      const v = new Uint8Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < v.length; i++) v[i] = 127 + exponents[rng.int(exponents.length)]!;
      return v;
    },
  });
  const H = s.hidden;
  const I = s.intermediate;
  const E = s.experts;
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  // MXFP4 scale exponents shrink with fan-in like the dense stds (log2 of the 1/sqrt factor).
  const shift = (n: number): number => Math.round(Math.log2(fan(n)));
  const out: PlannedTensor[] = [bf16(LM_HEAD, [s.vocab, H], 0.5), bf16(EMBED_TOKENS, [s.vocab, H], 1.0)];
  for (let l = 0; l < s.layers; l++) {
    const n = layerTensorNames(l);
    out.push(
      bf16(n.inputNorm, [H], 0.1, 1),
      bf16(n.downBias, [E, H], 0.1),
      codes(n.downBlocks, [E, H, I / 32, 16]),
      scales(n.downScales, [E, H, I / 32], [-9, -8, -7].map((e) => e + shift(I))),
      bf16(n.gateUpBias, [E, 2 * I], 0.5),
      codes(n.gateUpBlocks, [E, 2 * I, H / 32, 16]),
      scales(n.gateUpScales, [E, 2 * I, H / 32], [-4, -3, -2].map((e) => e + shift(H))),
      bf16(n.routerBias, [E], 0.5),
      bf16(n.routerWeight, [E, H], 0.5 * fan(H)),
      bf16(n.postAttentionNorm, [H], 0.1, 1),
      bf16(n.kBias, [kv], 0.1),
      bf16(n.kWeight, [kv, H], 0.15 * fan(H)),
      bf16(n.oBias, [H], 0.05),
      bf16(n.oWeight, [H, q], 0.1 * fan(q)),
      bf16(n.qBias, [q], 0.1),
      bf16(n.qWeight, [q, H], 0.15 * fan(H)),
      bf16(n.sinks, [s.heads], 1.0),
      bf16(n.vBias, [kv], 0.1),
      bf16(n.vWeight, [kv, H], 0.15 * fan(H)),
    );
  }
  out.push(bf16(FINAL_NORM, [H], 0.1, 1));
  return out;
}

const byteSize = (t: PlannedTensor): number => t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];

/** Splits the tensors into `shards` contiguous groups of roughly equal bytes. */
function splitShards(tensors: PlannedTensor[], shards: number): PlannedTensor[][] {
  const total = tensors.reduce((n, t) => n + byteSize(t), 0);
  const groups: PlannedTensor[][] = [[]];
  let acc = 0;
  for (const t of tensors) {
    if (groups.length < shards && acc >= (total * groups.length) / shards && groups[groups.length - 1]!.length > 0) groups.push([]);
    groups[groups.length - 1]!.push(t);
    acc += byteSize(t);
  }
  return groups;
}

export async function writeRandomCheckpoint(dir: string, spec: CheckpointSpec, onTensor?: (name: string) => void): Promise<void> {
  checkSpec(spec);
  await mkdir(dir, { recursive: true });
  const tensors = planTensors(spec);
  const groups = splitShards(tensors, Math.min(spec.shards, tensors.length));
  const rng = new Rng(spec.seed);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let gi = 0; gi < groups.length; gi++) {
    const file = groups.length === 1 ? 'model.safetensors' : `model-${String(gi + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`;
    const group = groups[gi]!;
    // The header needs only shapes; bytes are generated and streamed one tensor at a time.
    const [len, header] = encodeSafetensors(group.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: new Uint8Array(byteSize(t)) })));
    const stream = createWriteStream(path.join(dir, file));
    const write = async (chunk: Uint8Array): Promise<void> => {
      if (!stream.write(chunk)) await once(stream, 'drain');
    };
    await write(len!);
    await write(header!);
    for (const t of group) {
      await write(t.generate(rng));
      weightMap[t.name] = file;
      totalSize += byteSize(t);
      onTensor?.(t.name);
    }
    stream.end();
    await once(stream, 'finish');
  }
  if (groups.length > 1) {
    await writeFile(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
  }
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(configJson(spec), null, 2) + '\n');
}
