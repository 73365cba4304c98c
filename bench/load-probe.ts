// Runs in its own process so each configuration's peak memory is its own:
//   node dist/bench/load-probe.js engine MODEL PRECISION        -> one JSON line (LoadFigures)
//   node dist/bench/load-probe.js worker MODEL PRECISION COUNT  -> an expert pool loading COUNT experts
//   node dist/bench/load-probe.js read MODEL                    -> reading every shard once (the floor)
// Times count from process start (performance.now()), so module loading is included.
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { readChunks } from '../common/checkpoint/safetensors.js';
import { Engine } from '../common/engine/engine.js';
import { EXPERT_PRECISIONS, type ExpertPrecision } from '../common/experts/expert-precision.js';
import { ExpertPool } from '../common/experts/expert-pool.js';
import { residentWeightBytes } from './load-weights.js';

export interface LoadFigures {
  /** Seconds from process start until the weights are loaded. */
  readonly loadS: number;
  /** Seconds from process start until the first generated token (engine only). */
  readonly firstTokenS?: number;
  readonly peakRssBytes: number;
  /** RSS once loaded (and, for the engine, after the first token). */
  readonly steadyRssBytes: number;
  /** What the loaded weights take in their resident precision. */
  readonly weightBytes: number;
  /** Bytes read (the floor case). */
  readonly bytesRead?: number;
}

/**
 * VmRSS and VmHWM (peak) of this process, in bytes. With --expose-gc, garbage is collected first,
 * so RSS counts what is still referenced, not what V8 has yet to collect.
 */
export function processMemory(): { rss: number; peak: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

const seconds = (): number => performance.now() / 1000;

function precisionArg(raw: string | undefined): ExpertPrecision {
  if (!EXPERT_PRECISIONS.includes(raw as ExpertPrecision)) throw new Error(`precision must be one of ${EXPERT_PRECISIONS.join(', ')}, got ${raw}`);
  return raw as ExpertPrecision;
}

async function engineFigures(model: string, precision: ExpertPrecision): Promise<LoadFigures> {
  const engine = await Engine.loadLocal(model, { denseThreads: 2, experts: { precision } });
  const loadS = seconds();
  await engine.generate({ promptIds: [1, 2, 3], maxTokens: 1, sampling: { temperature: 0, topP: 1, topLogprobs: 0 } });
  const firstTokenS = seconds();
  const mem = processMemory();
  const c = engine.config;
  await engine.close();
  return { loadS, firstTokenS, peakRssBytes: mem.peak, steadyRssBytes: mem.rss, weightBytes: residentWeightBytes(c, precision, c.numLayers * c.numExperts, true) };
}

async function workerFigures(model: string, precision: ExpertPrecision, count: number): Promise<LoadFigures> {
  const pool = await ExpertPool.create({ checkpointDir: model, threads: 2, runtime: { precision } });
  const c = pool.config;
  const slots = Array.from({ length: Math.min(count, c.numLayers * c.numExperts) }, (_, i) => i);
  await Promise.all(slots.map((s) => pool.load(Math.floor(s / c.numExperts), s % c.numExperts)));
  const loadS = seconds();
  const mem = processMemory();
  await pool.close();
  return { loadS, peakRssBytes: mem.peak, steadyRssBytes: mem.rss, weightBytes: residentWeightBytes(c, precision, slots.length, false) };
}

async function readFigures(model: string): Promise<LoadFigures> {
  const ckpt = await Checkpoint.open(model);
  const start = seconds();
  let bytesRead = 0;
  for (const file of ckpt.shardFiles()) {
    const size = (await stat(file)).size;
    await readChunks(file, 0, size, 8 << 20, '(whole file)', (b) => {
      bytesRead += b.length;
    });
  }
  const mem = processMemory();
  return { loadS: seconds() - start, peakRssBytes: mem.peak, steadyRssBytes: mem.rss, weightBytes: 0, bytesRead };
}

async function main(): Promise<void> {
  const [kind, model, precision, count] = process.argv.slice(2);
  if (!model) throw new Error('usage: load-probe engine|worker|read MODEL [PRECISION] [COUNT]');
  let figures: LoadFigures;
  if (kind === 'engine') figures = await engineFigures(model, precisionArg(precision));
  else if (kind === 'worker') figures = await workerFigures(model, precisionArg(precision), Number(count ?? 64));
  else if (kind === 'read') figures = await readFigures(model);
  else throw new Error(`unknown probe kind ${kind}`);
  process.stdout.write(JSON.stringify(figures) + '\n');
}

if (process.argv[1]?.endsWith('load-probe.js')) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(String(err instanceof Error ? err.stack : err) + '\n');
      process.exit(1);
    },
  );
}
