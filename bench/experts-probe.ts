// The measurements of `npm run bench -- experts`, each in a process of its own so that its memory
// (resident bytes, peak RSS) is its own and is handed back when it ends. Prints one JSON line:
//   node dist/bench/experts-probe.js pool MODEL PRECISION LEVEL   -> PoolFigures
//   node dist/bench/experts-probe.js engine MODEL PRECISION LEVEL -> ModelFigures (one process)
//   node dist/bench/experts-probe.js cluster MODEL PRECISION N    -> ModelFigures (N worker processes)
// LEVEL is the MatMulNBits accuracy level ('-' for the precision's default).
import { readFileSync, readdirSync } from 'node:fs';
import { startLocalCluster } from '../cli/local-cluster.js';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { Engine } from '../common/engine/engine.js';
import { ExpertSet } from '../common/experts/expert-set.js';
import type { ModelConfig } from '../common/model/model-config.js';
import { ExpertPool } from '../common/experts/expert-pool.js';
import { EXPERT_PRECISIONS, type ExpertPrecision, type ExpertRuntimeOptions } from '../common/experts/expert-precision.js';
import { processMemory } from './load-probe.js';

/** Token counts per expert the pool is timed at. */
export const POOL_TOKENS = [1, 4, 16, 64] as const;
/** Experts timed together (distinct, spread over the 2 threads), after one warm-up expert per thread. */
export const POOL_EXPERTS = 16;
export const POOL_THREADS = 2;
/** The prompt whole-model prefill is timed on, and the tokens decoded after it. */
export const PROMPT_TOKENS = 128;
export const DECODE_TOKENS = 16;
/** Generations timed per whole-model case (the fastest counts). */
export const GENERATIONS = 3;

export interface PoolFigures {
  /** RSS grown per expert loaded (after gc), over POOL_EXPERTS experts held by one ExpertSet. */
  readonly residentBytesPerExpert: number;
  /** ms per expert by token count: one pool run over POOL_EXPERTS distinct experts, divided by them. */
  readonly msPerExpert: Record<string, number>;
}

export interface ModelFigures {
  /** Seconds from process start until the model is loaded (weights held, workers settled). */
  readonly loadS: number;
  readonly prefillTokensPerS: number;
  readonly decodeMsPerToken: number;
  /** The greedy tokens decoded, to compare precisions token for token. */
  readonly tokens: number[];
  /** Peak RSS (VmHWM) of this process and of every process it started (workers, nats-server). */
  readonly peakRssBytes: number;
  readonly processes: { readonly name: string; readonly peakRssBytes: number }[];
}

/** A prompt of real-looking ids (the same for every precision). */
export function benchPrompt(vocab: number): number[] {
  return Array.from({ length: PROMPT_TOKENS }, (_, i) => (i * 7919 + 13) % Math.min(vocab, 200000));
}

function runtime(precision: string, level: string): Omit<ExpertRuntimeOptions, 'intraOpThreads'> {
  if (!EXPERT_PRECISIONS.includes(precision as ExpertPrecision)) throw new Error(`precision must be one of ${EXPERT_PRECISIONS.join(', ')}, got ${precision}`);
  if (level === '-' || level === undefined) return { precision: precision as ExpertPrecision };
  const n = Number(level);
  if (n !== 0 && n !== 1) throw new Error(`accuracy level must be 0 or 1, got ${level}`);
  return { precision: precision as ExpertPrecision, accuracyLevel: n };
}

/**
 * RSS grown per expert loaded, measured on an ExpertSet on this thread: garbage collection here
 * reaches every buffer the loads dropped (the pool's threads have heaps of their own, which a gc
 * on this thread does not collect, so their RSS would count decoded copies not yet collected).
 */
async function residentBytesPerExpert(model: string, experts: Omit<ExpertRuntimeOptions, 'intraOpThreads'>): Promise<number> {
  const ckpt = await Checkpoint.open(model);
  const set = new ExpertSet(ckpt.config, ckpt, { ...experts, intraOpThreads: 1 });
  try {
    const slots = poolSlots(ckpt.config);
    // Warm-up: the first expert brings onnxruntime's per-thread state, not counted per expert.
    await set.load(slots[0]!.layer, slots[0]!.expert);
    const before = processMemory().rss;
    for (const s of slots.slice(POOL_THREADS)) await set.load(s.layer, s.expert);
    return (processMemory().rss - before) / POOL_EXPERTS;
  } finally {
    await set.close();
  }
}

/** The experts a pool probe uses: POOL_THREADS warm-up ones, then the POOL_EXPERTS timed ones. */
function poolSlots(c: ModelConfig): { layer: number; expert: number }[] {
  if (c.numLayers * c.numExperts < POOL_EXPERTS + POOL_THREADS) throw new Error(`the checkpoint has fewer than ${POOL_EXPERTS + POOL_THREADS} experts`);
  return Array.from({ length: POOL_EXPERTS + POOL_THREADS }, (_, i) => ({ layer: Math.floor(i / c.numExperts), expert: i % c.numExperts }));
}

async function poolFigures(model: string, experts: Omit<ExpertRuntimeOptions, 'intraOpThreads'>): Promise<PoolFigures> {
  const resident = await residentBytesPerExpert(model, experts);
  const pool = await ExpertPool.create({ checkpointDir: model, threads: POOL_THREADS, runtime: experts });
  try {
    const c = pool.config;
    const slots = poolSlots(c);
    // One warm-up expert per thread first, so the timed ones spread evenly over the threads.
    for (const s of slots.slice(0, POOL_THREADS)) await pool.load(s.layer, s.expert);
    const timed = slots.slice(POOL_THREADS);
    await Promise.all(timed.map((s) => pool.load(s.layer, s.expert)));
    // A run is per layer: time each layer's share of the timed experts and add them up.
    const layers = [...new Set(timed.map((s) => s.layer))];
    const msPerExpert: Record<string, number> = {};
    for (const tokens of POOL_TOKENS) {
      const hidden = Float32Array.from({ length: tokens * c.hiddenSize }, (_, i) => Math.sin(i * 0.37));
      const runs = layers.map((layer) => {
        const ids = timed.filter((s) => s.layer === layer).map((s) => s.expert);
        const pairs = ids.length * tokens;
        const a = {
          tokens: Int32Array.from({ length: pairs }, (_, i) => i % tokens),
          experts: Int32Array.from({ length: pairs }, (_, i) => ids[Math.floor(i / tokens)]!),
          weights: new Float32Array(pairs).fill(0.25),
        };
        return () => pool.weightedSum(layer, hidden, tokens, a);
      });
      const ms = await fastest(async () => {
        for (const run of runs) await run();
      }, tokens >= 16 ? 4 : 8);
      msPerExpert[tokens] = ms / POOL_EXPERTS;
    }
    return { residentBytesPerExpert: resident, msPerExpert };
  } finally {
    await pool.close();
  }
}

/**
 * Milliseconds of the fastest of `runs` calls, after one warm-up: the machine is shared, and
 * other processes only ever add time, so the fastest run is the closest to what the code costs.
 */
async function fastest(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn();
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * Prefill of the bench prompt and DECODE_TOKENS greedy tokens, GENERATIONS times after a short
 * warm-up generation; the fastest prefill and the fastest mean decode (see `fastest`).
 */
async function generateFigures(engine: Engine, loadS: number, others: () => ModelFigures['processes']): Promise<ModelFigures> {
  const sampling = { temperature: 0, topP: 1, topLogprobs: 0 };
  await engine.generate({ promptIds: [1, 2, 3], maxTokens: 2, sampling });
  let prefillMs = Infinity;
  let decodeMs = Infinity;
  let tokens: number[] = [];
  for (let i = 0; i < GENERATIONS; i++) {
    const r = await engine.generate({ promptIds: benchPrompt(engine.config.vocabSize), maxTokens: DECODE_TOKENS + 1, sampling });
    prefillMs = Math.min(prefillMs, r.timings.prefillMs);
    decodeMs = Math.min(decodeMs, r.timings.decodeMsPerToken!);
    tokens = r.tokens.map((t) => t.id);
  }
  const processes = [{ name: 'this process', peakRssBytes: processMemory().peak }, ...others()];
  return {
    loadS,
    prefillTokensPerS: (PROMPT_TOKENS * 1000) / prefillMs,
    decodeMsPerToken: decodeMs,
    tokens,
    peakRssBytes: processes.reduce((n, p) => n + p.peakRssBytes, 0),
    processes,
  };
}

async function engineFigures(model: string, experts: Omit<ExpertRuntimeOptions, 'intraOpThreads'>): Promise<ModelFigures> {
  const engine = await Engine.loadLocal(model, { denseThreads: POOL_THREADS, experts, expertThreads: POOL_THREADS });
  try {
    return await generateFigures(engine, performance.now() / 1000, () => []);
  } finally {
    await engine.close();
  }
}

async function clusterFigures(model: string, precision: ExpertPrecision, workers: number): Promise<ModelFigures> {
  const cluster = await startLocalCluster({ model, workers, replication: 1, expertPrecision: precision, quiet: true, denseThreads: POOL_THREADS, readyTimeoutMs: 1_800_000 });
  try {
    return await generateFigures(cluster.engine, performance.now() / 1000, () => descendants(process.pid).map((pid) => ({ name: `${commandName(pid)} (pid ${pid})`, peakRssBytes: peakRss(pid) })));
  } finally {
    await cluster.stop();
  }
}

/** Every live process below `root` (children, their children, ...), from /proc. */
export function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name may hold spaces and parentheses: the fields after its last ')' are fixed.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const [child, parent] of parentOf) {
      if (parent === pid) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}

function peakRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function commandName(pid: number): string {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes('worker') ? 'worker' : (args[0]?.split('/').pop() ?? '?');
  } catch {
    return '?';
  }
}

async function main(): Promise<void> {
  const [kind, model, precision, extra] = process.argv.slice(2);
  if (!model || !precision) throw new Error('usage: experts-probe pool|engine|cluster MODEL PRECISION LEVEL|WORKERS');
  let figures: PoolFigures | ModelFigures;
  if (kind === 'pool') figures = await poolFigures(model, runtime(precision, extra ?? '-'));
  else if (kind === 'engine') figures = await engineFigures(model, runtime(precision, extra ?? '-'));
  else if (kind === 'cluster') figures = await clusterFigures(model, runtime(precision, '-').precision, Number(extra ?? 2));
  else throw new Error(`unknown probe kind ${kind}`);
  process.stdout.write(JSON.stringify(figures) + '\n');
}

if (process.argv[1]?.endsWith('experts-probe.js')) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(String(err instanceof Error ? err.stack : err) + '\n');
      process.exit(1);
    },
  );
}
