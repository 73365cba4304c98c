import { parseFlags } from '../../common/config/flags.js';
import { ConfigError } from '../../common/errors.js';
import { EXPERT_PRECISION_HELP, EXPERT_PRECISIONS, RETIRED_EXPERT_PRECISIONS, type ExpertPrecision } from '../../common/experts/expert-precision.js';
import type { Engine } from '../../common/engine/engine.js';
import { Engine as LocalEngine } from '../../common/engine/engine.js';
import { harmonyTokenizer, renderConversation, STOP_TOKEN_IDS } from '../../common/harmony/index.js';
import { startLocalCluster } from '../local-cluster.js';
import { ALL_CORES, threadsHelp } from '../thread-defaults.js';

const FLAGS = {
  model: { type: 'string', description: 'checkpoint directory (Hugging Face layout)' },
  prompt: { type: 'string', description: 'a user message, rendered with the harmony chat format' },
  'prompt-ids': { type: 'ints', description: 'raw token ids, no chat template' },
  'max-tokens': { type: 'int', min: 1, description: 'tokens to generate (default 16)' },
  temperature: { type: 'number', min: 0, description: 'sampling temperature; 0 = greedy (default 0)' },
  'top-p': { type: 'number', min: 0, description: 'nucleus sampling mass (default 1)' },
  seed: { type: 'int', min: 0, description: 'sampling seed' },
  'top-logprobs': { type: 'int', min: 0, description: 'report the K most likely ids per step (default 0)' },
  json: { type: 'bool', description: 'print one JSON object' },
  workers: { type: 'int', min: 1, description: 'run distributed over N local worker processes' },
  replication: { type: 'int', min: 1, description: 'with --workers: holders per expert (default 1)' },
  'expert-precision': { type: 'string', choices: EXPERT_PRECISIONS, retired: RETIRED_EXPERT_PRECISIONS, description: EXPERT_PRECISION_HELP },
  threads: { type: 'int', min: 1, description: threadsHelp('onnxruntime threads for the dense graphs') },
} as const;

export async function runGenerate(argv: string[]): Promise<void> {
  const f = parseFlags(argv, FLAGS);
  if (!f.model) throw new ConfigError('generate: --model DIR is required', 'model');
  if ((f.prompt === undefined) === (f['prompt-ids'] === undefined)) {
    throw new ConfigError('generate: give exactly one of --prompt TEXT or --prompt-ids 1,2,3', 'prompt');
  }
  if (f['top-p'] !== undefined && f['top-p'] > 1) throw new ConfigError('--top-p must be in (0, 1]', 'top-p');
  const precision = (f['expert-precision'] ?? 'fp32') as ExpertPrecision;
  const tokenizer = harmonyTokenizer();
  const chat = f.prompt !== undefined;
  const promptIds = chat ? renderConversation([{ role: 'user', content: f.prompt! }]) : f['prompt-ids']!;

  const loadStarted = performance.now();
  let engine: Engine;
  let stop: () => Promise<void>;
  if (f.workers !== undefined) {
    const cluster = await startLocalCluster({ model: f.model, workers: f.workers, replication: f.replication ?? 1, expertPrecision: precision, quiet: true, denseThreads: f.threads ?? ALL_CORES });
    engine = cluster.engine;
    stop = () => cluster.stop();
  } else {
    engine = await LocalEngine.loadLocal(f.model, { denseThreads: f.threads ?? ALL_CORES, experts: { precision } });
    stop = () => engine.close();
  }
  const loadMs = performance.now() - loadStarted;
  try {
    for (const id of promptIds) {
      if (id >= engine.config.vocabSize) throw new ConfigError(`prompt token id ${id} is outside the model's vocabulary (${engine.config.vocabSize})`, 'prompt-ids');
    }
    const result = await engine.generate({
      promptIds,
      maxTokens: f['max-tokens'] ?? 16,
      sampling: { temperature: f.temperature ?? 0, topP: f['top-p'] ?? 1, seed: f.seed, topLogprobs: f['top-logprobs'] ?? 0 },
      // Raw ids get exactly --max-tokens tokens (as the reference's golden runs); chat stops on
      // harmony's <|return|> / <|call|> and the checkpoint's eos ids.
      stopTokenIds: chat ? [...STOP_TOKEN_IDS, ...engine.config.eosTokenIds] : [],
    });
    const tokens = result.tokens.map((t) => t.id);
    const text = tokenizer.decode(tokens);
    if (f.json) {
      const out = {
        prompt_ids: [...promptIds],
        tokens,
        text,
        top_logprobs: result.tokens.map((t) => t.top.map((x) => ({ id: x.id, logprob: x.logprob }))),
        timings: { load_ms: round(loadMs), prefill_ms: round(result.timings.prefillMs), decode_ms_per_token: result.timings.decodeMsPerToken === null ? null : round(result.timings.decodeMsPerToken) },
      };
      process.stdout.write(JSON.stringify(out) + '\n');
    } else {
      process.stdout.write(text + '\n');
    }
  } finally {
    await stop();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
