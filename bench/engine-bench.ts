// Engine benchmark on a generated model with real gpt-oss-20b layer sizes (2 layers): prefill and
// decode throughput, achieved GFLOP/s beside a raw onnxruntime MatMul measured in the same run,
// and the expert precision modes (resident bytes, time per expert matmul, distance from golden).
import os from 'node:os';
import path from 'node:path';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { Engine } from '../common/engine/engine.js';
import { ExpertSet } from '../common/experts/expert-set.js';
import { expertResidentBytes } from '../common/experts/expert-graph.js';
import type { ExpertRuntimeOptions } from '../common/experts/expert-precision.js';
import type { ModelConfig } from '../common/model/model-config.js';
import { goldenSets } from '../test/helpers/paths.js';
import { loadGolden, maxAbsDiff } from '../test/helpers/golden.js';
import { benchModel, rawMatmulGflops, table, timeIt, REAL_20B_LAYER_SPEC } from './bench-util.js';

const THREADS = os.cpus().length;

/** FLOPs of one token through the model (matmuls and the attention core at context `ctx`). */
export function flopsPerToken(c: ModelConfig, ctx: number, withLogits: boolean): number {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  let f = 0;
  for (let l = 0; l < c.numLayers; l++) {
    const span = c.layerTypes[l] === 'sliding_attention' ? Math.min(ctx, c.slidingWindow) : ctx;
    f += 2 * H * (q + 2 * kv) + 2 * q * H + 2 * H * c.numExperts; // qkv, o, router
    f += 4 * c.numHeads * c.headDim * span; // QK^T and PV
    f += c.expertsPerToken * (2 * H * 2 * I + 2 * I * H);
  }
  if (withLogits) f += 2 * H * c.vocabSize;
  return f;
}

async function expertModeRows(model: string): Promise<string[][]> {
  const ckpt = await Checkpoint.open(model);
  const c = ckpt.config;
  const modes: { label: string; opts: ExpertRuntimeOptions }[] = [
    { label: 'fp32 (exact)', opts: { precision: 'fp32', accuracyLevel: 0, intraOpThreads: THREADS } },
    { label: 'q8, accuracy 0', opts: { precision: 'q8', accuracyLevel: 0, intraOpThreads: THREADS } },
    { label: 'q8, accuracy 4', opts: { precision: 'q8', accuracyLevel: 4, intraOpThreads: THREADS } },
    { label: 'mxfp4 (exact, widened per run)', opts: { precision: 'mxfp4', accuracyLevel: 0, intraOpThreads: THREADS } },
  ];
  const rows: string[][] = [];
  for (const m of modes) {
    const set = new ExpertSet(c, ckpt, m.opts);
    await set.load(0, 0);
    const times: string[] = [];
    for (const t of [1, 16]) {
      const hidden = new Float32Array(t * c.hiddenSize).map((_, i) => Math.sin(i));
      const a = { tokens: Int32Array.from({ length: t }, (_, i) => i), experts: new Int32Array(t), weights: new Float32Array(t).fill(1) };
      times.push((await timeIt(() => set.weightedSum(0, hidden, t, a), 2, 8)).toFixed(2));
    }
    await set.close();
    const golden = await goldenDistance(m.opts);
    const bytes = expertResidentBytes(c, m.opts);
    const params = 3 * c.hiddenSize * c.intermediateSize;
    rows.push([m.label, (bytes / 2 ** 20).toFixed(1), ((bytes * 8) / params).toFixed(2), times[0]!, times[1]!, golden]);
  }
  return rows;
}

/** Max |top-5 logprob - reference| over every golden set, prompt and step, and whether tokens match. */
async function goldenDistance(opts: ExpertRuntimeOptions): Promise<string> {
  let worst = 0;
  let tokensEqual = true;
  for (const dir of goldenSets()) {
    const g = loadGolden(dir);
    const engine = await Engine.loadLocal(g.model, { experts: opts });
    for (const p of g.prompts) {
      const r = await engine.generate({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: { temperature: 0, topP: 1, topLogprobs: 5 } });
      tokensEqual &&= r.tokens.every((t, i) => t.id === p.greedy_tokens[i]);
      r.tokens.forEach((t, i) => {
        if (t.top.map((x) => x.id).join() === p.steps[i]!.top5_ids.join()) worst = Math.max(worst, maxAbsDiff(t.top.map((x) => x.logprob), p.steps[i]!.top5_logprobs));
      });
    }
    await engine.close();
  }
  return `${worst.toExponential(1)}${tokensEqual ? '' : ' (tokens differ)'}`;
}

export async function runEngineBench(): Promise<void> {
  const model = await benchModel('20b-layers', REAL_20B_LAYER_SPEC);
  console.log(`\n## Engine (model: ${path.basename(model)}: 2 layers of gpt-oss-20b size, vocab 201088; ${THREADS} threads, ${os.cpus()[0]?.model})\n`);
  const engine = await Engine.loadLocal(model, { denseThreads: THREADS, experts: { precision: 'fp32', accuracyLevel: 0 } });
  const c = engine.config;
  const prompt = Array.from({ length: 128 }, (_, i) => (i * 7919) % 200000);

  const rows: string[][] = [];
  const prefillMs = await timeIt(() => engine.forward.step([{ cache: engine.newCache(), tokens: prompt, wantLogits: true }]), 1, 3);
  let prefillFlops = 0;
  for (let i = 0; i < prompt.length; i++) prefillFlops += flopsPerToken(c, i + 1, i === prompt.length - 1);
  rows.push(['prefill 128 tokens, batch 1', ((prompt.length * 1000) / prefillMs).toFixed(1), (prefillFlops / (prefillMs * 1e6)).toFixed(1)]);

  for (const batch of [1, 16]) {
    const caches = Array.from({ length: batch }, () => engine.newCache());
    await engine.forward.step(caches.map((cache, b) => ({ cache, tokens: prompt.slice(0, 32).map((t) => (t + b) % 200000), wantLogits: false })));
    let step = 0;
    const ms = await timeIt(() => engine.forward.step(caches.map((cache) => ({ cache, tokens: [1000 + step++], wantLogits: true }))), 1, 5);
    const flops = batch * flopsPerToken(c, caches[0]!.length, true);
    rows.push([`decode, batch ${batch}`, ((batch * 1000) / ms).toFixed(1), (flops / (ms * 1e6)).toFixed(1)]);
  }
  await engine.close();
  for (const t of [1, 16, 128]) rows.push([`raw onnxruntime MatMul [${t},2880]x[2880,5760]`, '', (await rawMatmulGflops(t, THREADS)).toFixed(1)]);
  console.log(table(['engine', 'tokens/s', 'GFLOP/s'], rows));

  console.log('\n### Expert precision (one expert of gpt-oss-20b size; golden distance = max |top-5 logprob - reference| over the golden sets)\n');
  console.log(table(['mode', 'MiB resident / expert', 'bits / param', 'ms, 1 token', 'ms, 16 tokens', 'golden distance'], await expertModeRows(model)));
}
