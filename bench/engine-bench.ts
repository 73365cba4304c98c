// Engine benchmark on a generated model with real gpt-oss-20b layer sizes (2 layers): prefill and
// decode throughput and achieved GFLOP/s beside a raw onnxruntime MatMul measured in the same run.
// The expert precisions have a part of their own (experts-bench.ts).
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../common/engine/engine.js';
import type { ModelConfig } from '../common/model/model-config.js';
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

export async function runEngineBench(): Promise<void> {
  const model = await benchModel('20b-layers', REAL_20B_LAYER_SPEC);
  console.log(`\n## Engine (model: ${path.basename(model)}: 2 layers of gpt-oss-20b size, vocab 201088; ${THREADS} threads, ${os.cpus()[0]?.model})\n`);
  const engine = await Engine.loadLocal(model, { denseThreads: THREADS, experts: { precision: 'fp32' } });
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
  console.log('\n(Expert precisions: npm run bench -- experts.)');
}
