import { existsSync } from 'node:fs';
import path from 'node:path';
import { writeRandomCheckpoint, DEFAULT_CHECKPOINT_SPEC, type CheckpointSpec } from '../common/checkpoint/checkpoint-writer.js';
import { GraphBuilder } from '../common/onnx/graph-builder.js';
import { OrtGraph, f32 } from '../common/onnx/session.js';
import { TMP_ROOT } from '../test/helpers/paths.js';

/** gpt-oss-20b's layer sizes and vocabulary, 2 layers. */
export const REAL_20B_LAYER_SPEC: CheckpointSpec = {
  ...DEFAULT_CHECKPOINT_SPEC,
  layers: 2,
  hidden: 2880,
  heads: 64,
  kvHeads: 8,
  headDim: 64,
  experts: 32,
  topK: 4,
  intermediate: 2880,
  vocab: 201088,
  slidingWindow: 128,
  shards: 3,
};

/** Generated once into .tmp/bench-models and reused by later runs. */
export async function benchModel(name: string, spec: CheckpointSpec): Promise<string> {
  const dir = path.join(TMP_ROOT, 'bench-models', name);
  if (!existsSync(path.join(dir, 'config.json'))) {
    process.stderr.write(`generating ${dir} ...\n`);
    await writeRandomCheckpoint(dir, spec);
  }
  return dir;
}

/** Median milliseconds of `runs` calls after `warmup` calls. */
export async function timeIt(fn: () => Promise<unknown>, warmup: number, runs: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)]!;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** GFLOP/s of a raw onnxruntime MatMul [rows, 2880] x [2880, 5760]: the machine's matmul speed, measured beside a bench. */
export async function rawMatmulGflops(rows: number, threads: number): Promise<number> {
  const K = 2880;
  const N = 5760;
  const g = new GraphBuilder('bench_matmul');
  const x = g.input('x', 'float32', ['n', K]);
  const w = g.initializer('w', 'float32', [K, N], new Float32Array(K * N).map((_, i) => ((i % 13) - 6) / 13));
  g.node('MatMul', [x, w], ['y']);
  g.output('y', 'float32', ['n', N]);
  const s = await OrtGraph.create(g.build(), { intraOpThreads: threads });
  const input = f32(new Float32Array(rows * K).fill(0.5), [rows, K]);
  const ms = await timeIt(() => s.run({ x: input }), 3, 10);
  await s.release();
  return (2 * rows * K * N) / (ms * 1e6);
}
