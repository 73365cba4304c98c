import { DEFAULT_CHECKPOINT_SPEC, writeRandomCheckpoint, type CheckpointSpec } from '../../common/checkpoint/checkpoint-writer.js';
import { ConfigError } from '../../common/errors.js';
import { parseFlags } from '../../common/config/flags.js';

const FLAGS = {
  out: { type: 'string', description: 'output directory (required)' },
  layers: { type: 'int', min: 1, description: `layers (default ${DEFAULT_CHECKPOINT_SPEC.layers})` },
  hidden: { type: 'int', min: 32, description: `hidden size, a multiple of 32 (default ${DEFAULT_CHECKPOINT_SPEC.hidden})` },
  heads: { type: 'int', min: 1, description: `attention heads (default ${DEFAULT_CHECKPOINT_SPEC.heads})` },
  'kv-heads': { type: 'int', min: 1, description: `key/value heads (default ${DEFAULT_CHECKPOINT_SPEC.kvHeads})` },
  'head-dim': { type: 'int', min: 8, description: `head dimension (default ${DEFAULT_CHECKPOINT_SPEC.headDim})` },
  experts: { type: 'int', min: 1, description: `experts per layer (default ${DEFAULT_CHECKPOINT_SPEC.experts})` },
  'top-k': { type: 'int', min: 1, description: `experts per token (default ${DEFAULT_CHECKPOINT_SPEC.topK})` },
  intermediate: { type: 'int', min: 32, description: `expert intermediate size (default ${DEFAULT_CHECKPOINT_SPEC.intermediate})` },
  vocab: { type: 'int', min: 1, description: `vocabulary (default ${DEFAULT_CHECKPOINT_SPEC.vocab}, o200k_harmony)` },
  'sliding-window': { type: 'int', min: 1, description: `window of sliding layers (default ${DEFAULT_CHECKPOINT_SPEC.slidingWindow})` },
  shards: { type: 'int', min: 1, description: `safetensors files (default ${DEFAULT_CHECKPOINT_SPEC.shards})` },
  seed: { type: 'int', min: 0, description: `random seed (default ${DEFAULT_CHECKPOINT_SPEC.seed})` },
} as const;

export async function runMakeCheckpoint(argv: string[]): Promise<void> {
  const f = parseFlags(argv, FLAGS);
  if (!f.out) throw new ConfigError('make-checkpoint: --out DIR is required', 'out');
  const d = DEFAULT_CHECKPOINT_SPEC;
  const spec: CheckpointSpec = {
    layers: f.layers ?? d.layers,
    hidden: f.hidden ?? d.hidden,
    heads: f.heads ?? d.heads,
    kvHeads: f['kv-heads'] ?? d.kvHeads,
    headDim: f['head-dim'] ?? d.headDim,
    experts: f.experts ?? d.experts,
    topK: f['top-k'] ?? d.topK,
    intermediate: f.intermediate ?? d.intermediate,
    vocab: f.vocab ?? d.vocab,
    slidingWindow: f['sliding-window'] ?? d.slidingWindow,
    shards: f.shards ?? d.shards,
    seed: f.seed ?? d.seed,
  };
  await writeRandomCheckpoint(f.out, spec);
  process.stdout.write(`wrote ${f.out}\n`);
}
