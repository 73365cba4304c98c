// Decode cost against context length and batch on a model with gpt-oss's full attention width
// (4 layers alternating sliding/full, hidden 2880, 64/8 heads, head_dim 64, vocab 201,088) and
// experts replaced by a zero backend, so the step is the coordinator's dense half alone. Caches are
// filled with random keys and values (prefilling 16k tokens would measure prefill, not decode).
// The step is split by timing the dense graphs from outside: what remains of the step is the
// attention core plus the glue around it (embedding, KV appends, routing, residual adds).
import os from 'node:os';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { DEFAULT_CHECKPOINT_SPEC, type CheckpointSpec } from '../common/checkpoint/checkpoint-writer.js';
import { Rng } from '../common/checkpoint/random.js';
import { DenseModel } from '../common/engine/dense-model.js';
import { ForwardPass } from '../common/engine/forward-pass.js';
import { KvCache } from '../common/engine/kv-cache.js';
import { Sampler } from '../common/engine/sampler.js';
import type { ExpertBackend } from '../common/experts/expert-backend.js';
import type { OrtGraph } from '../common/onnx/session.js';
import { benchModel, rawMatmulGflops, table } from './bench-util.js';

const THREADS = os.cpus().length;

export const CONTEXT_SPEC: CheckpointSpec = {
  ...DEFAULT_CHECKPOINT_SPEC,
  layers: 4,
  hidden: 2880,
  heads: 64,
  kvHeads: 8,
  headDim: 64,
  experts: 4,
  topK: 2,
  intermediate: 32,
  vocab: 201088,
  slidingWindow: 128,
  shards: 2,
};

const ZERO_EXPERTS: ExpertBackend = {
  runLayer: async (_layer, hidden) => new Float32Array(hidden.length),
  close: async () => {},
};

/** Accumulates the milliseconds spent inside a graph's `run` (the bench's only view inside a step). */
class GraphTimer {
  ms = 0;
  wrap(graph: Pick<OrtGraph, 'run'>): void {
    const run = graph.run.bind(graph);
    graph.run = async (feeds) => {
      const t0 = performance.now();
      try {
        return await run(feeds);
      } finally {
        this.ms += performance.now() - t0;
      }
    };
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A cache holding `ctx` positions of random post-RoPE keys and values (the same for every cache). */
function filledCache(dense: DenseModel, ctx: number, random: { keys: Float32Array; values: Float32Array }): KvCache {
  const c = dense.config;
  const kvDim = c.numKvHeads * c.headDim;
  const cache = new KvCache(c.numLayers, kvDim);
  const keys = Array.from({ length: c.numLayers }, () => random.keys.subarray(0, ctx * kvDim));
  const values = Array.from({ length: c.numLayers }, () => random.values.subarray(0, ctx * kvDim));
  cache.importRange(Array.from({ length: ctx }, (_, i) => (i * 7919) % 200000), keys, values);
  return cache;
}

/** FLOPs of the attention core for one query at `span` visible keys, summed over layers. */
function attentionFlops(dense: DenseModel, ctx: number): number {
  const c = dense.config;
  let f = 0;
  for (let l = 0; l < c.numLayers; l++) {
    const span = c.layerTypes[l] === 'sliding_attention' ? Math.min(ctx, c.slidingWindow) : ctx;
    f += 4 * c.numHeads * c.headDim * span;
  }
  return f;
}

/** FLOPs of one token through the layers' dense matmuls (qkv, o, router; zero experts). */
function denseFlopsPerToken(dense: DenseModel): number {
  const c = dense.config;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  return c.numLayers * (2 * c.hiddenSize * (q + 2 * kv) + 2 * q * c.hiddenSize + 2 * c.hiddenSize * c.numExperts);
}

const CONFIGS: readonly (readonly [ctx: number, batch: number])[] = [
  [128, 1],
  [1024, 1],
  [4096, 1],
  [16384, 1],
  [1024, 8],
  [4096, 8],
  [1024, 32],
  [4096, 32],
];

export async function runContextBench(): Promise<void> {
  const model = await benchModel('context-4l', CONTEXT_SPEC);
  const dense = await DenseModel.load(await Checkpoint.open(model), { intraOpThreads: THREADS });
  const c = dense.config;
  const forward = new ForwardPass(dense, ZERO_EXPERTS);
  const graphs = new GraphTimer();
  const unembed = new GraphTimer();
  for (const layer of dense.layers) {
    graphs.wrap(layer.attentionIn);
    graphs.wrap(layer.attentionOut);
  }
  unembed.wrap(dense.unembedding);

  const kvDim = c.numKvHeads * c.headDim;
  const maxCtx = Math.max(...CONFIGS.map(([ctx]) => ctx));
  const rng = new Rng(1);
  const random = { keys: new Float32Array(maxCtx * kvDim), values: new Float32Array(maxCtx * kvDim) };
  for (let i = 0; i < random.keys.length; i++) {
    random.keys[i] = rng.uniform() * 2 - 1;
    random.values[i] = rng.uniform() * 2 - 1;
  }

  console.log(
    `\n## Context (4 layers sliding/full, hidden ${c.hiddenSize}, ${c.numHeads}/${c.numKvHeads} heads, head_dim ${c.headDim}, ` +
      `vocab ${c.vocabSize}, window ${c.slidingWindow}; zero experts; ${THREADS} threads; ms per decode step, median of 5)\n`,
  );
  // The sampler's code is compiled by the JIT before it is timed.
  const warm = new Sampler({ temperature: 0.8, topP: 0.9, seed: 0, topLogprobs: 0 });
  const warmLogits = Float32Array.from({ length: c.vocabSize }, () => rng.normal());
  for (let i = 0; i < 20; i++) warm.sample(warmLogits);

  const rows: string[][] = [];
  const stepMs = new Map<string, { step: number; topP: number; tokensPerSecond: number }>();
  const steps = 5;
  for (const [ctx, batch] of CONFIGS) {
    const caches = Array.from({ length: batch }, () => filledCache(dense, ctx, random));
    const entries = () => caches.map((cache, b) => ({ cache, tokens: [(cache.length * 31 + b) % 200000], wantLogits: true }));
    await forward.step(entries());
    const total: number[] = [];
    const graphMs: number[] = [];
    const unembedMs: number[] = [];
    const topPMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      graphs.ms = 0;
      unembed.ms = 0;
      const t0 = performance.now();
      const logits = await forward.step(entries());
      total.push(performance.now() - t0);
      graphMs.push(graphs.ms);
      unembedMs.push(unembed.ms);
      const samplers = logits.map((_, b) => new Sampler({ temperature: 0.8, topP: 0.9, seed: b + i, topLogprobs: 0 }));
      const s0 = performance.now();
      logits.forEach((l, b) => samplers[b]!.sample(l!));
      topPMs.push(performance.now() - s0);
    }
    const step = median(total);
    stepMs.set(`${ctx}/${batch}`, { step, topP: median(topPMs), tokensPerSecond: (batch * 1000) / step });
    const core = median(total.map((t, i) => t - graphMs[i]! - unembedMs[i]!));
    const coreGflops = (batch * attentionFlops(dense, ctx)) / (core * 1e6);
    rows.push([
      String(ctx),
      String(batch),
      step.toFixed(0),
      median(graphMs).toFixed(0),
      core.toFixed(0),
      coreGflops.toFixed(1),
      median(unembedMs).toFixed(0),
      median(topPMs).toFixed(1),
      ((batch * 1000) / step).toFixed(1),
    ]);
  }
  console.log(
    table(
      ['context', 'batch', 'step', 'qkv/o/router graphs', 'attention core + glue', 'core GFLOP/s', 'unembedding', 'top_p 0.9 sampling', 'tokens/s'],
      rows,
    ),
  );

  const at = (ctx: number, batch: number) => stepMs.get(`${ctx}/${batch}`)!;
  console.log(
    `\ncontext: decode 4k/128=${(at(4096, 1).step / at(128, 1).step).toFixed(2)} 16k/128=${(at(16384, 1).step / at(128, 1).step).toFixed(2)} ` +
      `top_p_cost=${((at(128, 1).topP / at(128, 1).step) * 100).toFixed(1)}% batch32_ctx1k=${at(1024, 32).tokensPerSecond.toFixed(1)} tok/s`,
  );

  // Prefill: a long prompt in one step. Its time should grow as its FLOPs (dense matmuls linear in
  // the length, attention quadratic), no faster: ms per GFLOP stays flat.
  const prefillRows: string[][] = [];
  // CONTEXT_BENCH_PREFILL (comma-separated lengths) lets a slow build be measured on shorter prompts.
  const lengths = (process.env['CONTEXT_BENCH_PREFILL'] ?? '1024,2048,4096').split(',').map(Number);
  for (const length of lengths) {
    const prompt = Array.from({ length }, (_, i) => (i * 7919) % 200000);
    const t0 = performance.now();
    await forward.step([{ cache: new KvCache(c.numLayers, kvDim), tokens: prompt, wantLogits: true }]);
    const ms = performance.now() - t0;
    let gflop = 0;
    for (let i = 0; i < length; i++) gflop += (attentionFlops(dense, i + 1) + denseFlopsPerToken(dense)) / 1e9;
    prefillRows.push([String(length), ms.toFixed(0), ((length * 1000) / ms).toFixed(1), gflop.toFixed(0), (ms / gflop).toFixed(1)]);
  }
  console.log('\nPrefill of one prompt in one step:\n');
  console.log(table(['prompt tokens', 'ms', 'tokens/s', 'GFLOP (dense + attention)', 'ms per GFLOP'], prefillRows));
  for (const t of [1, 16, 128]) console.log(`raw onnxruntime MatMul [${t},2880]x[2880,5760]: ${(await rawMatmulGflops(t, THREADS)).toFixed(1)} GFLOP/s`);
  await dense.close();
}
