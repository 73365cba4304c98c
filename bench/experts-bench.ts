// `npm run bench -- experts [--full] [--full-layers N | --full-model DIR] [--full-only] [--precisions a,b]`:
// the expert precisions side by side. Per precision: bits per parameter resident (measured: RSS
// grown per expert loaded), ms per expert at 1/4/16/64 tokens on a 2-thread expert pool, distance
// from the golden sets, and the whole 2-layer 20b-shaped model's decode and prefill; then the
// ratios issue 17 set as goals.
// --full generates the 24-layer gpt-oss-20b shape once under .tmp/bench-models (--full-layers N for
// a cheaper N-layer one of full width; --full-model DIR uses a checkpoint made already, e.g. with
// the make-checkpoint flags) and runs every precision that fits this machine's memory,
// in one process and over 2 worker processes. Each measurement runs in a process of its own
// (experts-probe.ts), so its memory is its own.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { parseFlags } from '../common/config/flags.js';
import { ConfigError } from '../common/errors.js';
import { expertResidentBytes } from '../common/experts/expert-graph.js';
import { EXPERT_PRECISIONS, type ExpertPrecision, type ExpertRuntimeOptions } from '../common/experts/expert-precision.js';
import type { ModelConfig } from '../common/model/model-config.js';
import { TMP_ROOT } from '../test/helpers/paths.js';
import { benchModel, table, REAL_20B_LAYER_SPEC } from './bench-util.js';
import { formatGoldenDistance, goldenDistance, type GoldenDistance } from './golden-distance.js';
import { DECODE_TOKENS, GENERATIONS, POOL_EXPERTS, POOL_THREADS, POOL_TOKENS, PROMPT_TOKENS, type ModelFigures, type PoolFigures } from './experts-probe.js';
import { residentWeightBytes } from './load-weights.js';

const FLAGS = {
  full: { type: 'bool', description: 'also run the full-depth 20b shape (generated once under .tmp/bench-models)' },
  'full-layers': { type: 'int', min: 1, description: 'layers of the --full checkpoint (default 24, the real gpt-oss-20b)' },
  'full-model': { type: 'string', description: 'an existing checkpoint directory for the full-depth part (instead of generating one under .tmp/bench-models)' },
  'full-only': { type: 'bool', description: 'skip the 2-layer part' },
  precisions: { type: 'string', description: `comma-separated subset of ${EXPERT_PRECISIONS.join(', ')} (default: all)` },
} as const;

const GIB = 2 ** 30;
const gib = (b: number): string => (b / GIB).toFixed(2);
/** How long a measurement waits for other processes to free memory before it is skipped. */
const MEMORY_WAIT_MS = 10 * 60_000;

/** A precision as benchmarked: q4x2 at both of its exact accuracy levels. */
interface Variant {
  readonly label: string;
  readonly experts: Omit<ExpertRuntimeOptions, 'intraOpThreads'>;
  /** The precision's default configuration, the one the whole-model rows use. */
  readonly primary: boolean;
}

/** The precisions this run measures (--precisions), in EXPERT_PRECISIONS order. */
let chosen: readonly ExpertPrecision[] = EXPERT_PRECISIONS;

function choosePrecisions(list: string | undefined): readonly ExpertPrecision[] {
  if (list === undefined) return EXPERT_PRECISIONS;
  const names = list.split(',').map((x) => x.trim());
  const bad = names.filter((n) => !EXPERT_PRECISIONS.includes(n as ExpertPrecision));
  if (bad.length > 0 || names.length === 0) throw new ConfigError(`--precisions: ${bad.join(', ') || '(empty)'} not among ${EXPERT_PRECISIONS.join(', ')}`, 'precisions');
  return EXPERT_PRECISIONS.filter((p) => names.includes(p));
}

function variants(): Variant[] {
  return chosen.flatMap((precision): Variant[] => {
    if (precision === 'q4x2') {
      return [
        { label: 'q4x2 (accuracy 1)', experts: { precision, accuracyLevel: 1 }, primary: true },
        { label: 'q4x2, accuracy 0', experts: { precision, accuracyLevel: 0 }, primary: false },
      ];
    }
    return [{ label: precision, experts: { precision }, primary: true }];
  });
}

function probe<T>(args: string[]): T {
  const script = fileURLToPath(new URL('./experts-probe.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`experts probe ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

function meminfo(field: 'MemAvailable' | 'MemTotal'): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
}

/** Waits until `bytes` are available (the machine is shared); the reason to skip if they never are. */
async function memoryFor(bytes: number, what: string): Promise<string | null> {
  const deadline = Date.now() + MEMORY_WAIT_MS;
  let told = false;
  for (;;) {
    const free = meminfo('MemAvailable');
    if (free >= bytes) return null;
    if (Date.now() > deadline) return `needs ~${gib(bytes)} GiB, only ${gib(free)} GiB were free for ${MEMORY_WAIT_MS / 60_000} min`;
    if (!told) process.stderr.write(`${what}: waiting for ${gib(bytes)} GiB of free memory (${gib(free)} GiB now)\n`);
    told = true;
    await new Promise((r) => setTimeout(r, 15_000));
  }
}

const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' / ');
const paramsPerExpert = (c: ModelConfig): number => 3 * c.hiddenSize * c.intermediateSize;
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? 'n/a' : (a / b).toFixed(2));
const verdict = (value: number | undefined, goal: number): string => (value === undefined ? 'not measured' : value <= goal ? 'met' : 'missed');

export async function runExpertsBench(args: string[] = []): Promise<void> {
  const f = parseFlags(args, FLAGS);
  chosen = choosePrecisions(f.precisions);
  const fullModel = f['full-model'] === undefined ? undefined : existingCheckpoint(f['full-model'], f['full-layers']);
  console.log(`\n## Experts (${os.cpus().length} cores, ${os.cpus()[0]?.model}; load average at start ${loadAverage()} (1 / 5 / 15 min))\n`);
  if (!f['full-only']) await twoLayerPart();
  if (f.full || f['full-only'] || f['full-layers'] !== undefined || fullModel !== undefined) await fullPart(fullModel ?? (await fullCheckpoint(f['full-layers'] ?? 24)));
  console.log(`\nload average at the end: ${loadAverage()}`);
}

async function twoLayerPart(): Promise<void> {
  const model = await benchModel('20b-layers', REAL_20B_LAYER_SPEC);
  const c = (await Checkpoint.open(model)).config;
  console.log(
    `Per expert: one expert of gpt-oss-20b size (${paramsPerExpert(c).toLocaleString('en')} parameters). ms / expert at T tokens = one ExpertPool run (${POOL_THREADS} compute threads) over ${POOL_EXPERTS} distinct experts, each given the same T tokens, divided by ${POOL_EXPERTS}: what a decode step pays per expert (fastest of 4-8 runs: the machine may be shared, and other work only adds time). ` +
      `bits / param resident = RSS grown per expert while one ExpertSet loads ${POOL_EXPERTS} experts (after a warm-up expert), x 8 / parameters, under this process's GLIBC_TUNABLES (${process.env['GLIBC_TUNABLES'] ?? 'unset'}); "formula" is what the precision stores. Golden distance = max |top-5 logprob - reference| over the golden sets (../shared/golden).\n`,
  );
  const rows: string[][] = [];
  const pool = new Map<string, PoolFigures>();
  const golden = new Map<string, GoldenDistance>();
  for (const v of variants()) {
    const need = (POOL_EXPERTS + POOL_THREADS) * expertResidentBytes(c, v.experts) * 1.5 + GIB;
    const skip = await memoryFor(need, v.label);
    const g = await goldenDistance(v.experts);
    golden.set(v.label, g);
    const formula = ((expertResidentBytes(c, v.experts) * 8) / paramsPerExpert(c)).toFixed(2);
    if (skip) {
      rows.push([v.label, `skipped: ${skip}`, formula, ...POOL_TOKENS.map(() => ''), formatGoldenDistance(g)]);
      continue;
    }
    const p = probe<PoolFigures>(['pool', model, v.experts.precision, String(v.experts.accuracyLevel ?? '-')]);
    pool.set(v.label, p);
    rows.push([v.label, ((p.residentBytesPerExpert * 8) / paramsPerExpert(c)).toFixed(2), formula, ...POOL_TOKENS.map((t) => p.msPerExpert[t]!.toFixed(2)), formatGoldenDistance(g)]);
  }
  console.log(table(['precision', 'bits / param resident (measured)', 'bits / param (formula)', ...POOL_TOKENS.map((t) => `ms / expert, ${t} token${t > 1 ? 's' : ''}`), 'golden distance'], rows));

  console.log(`\nWhole model (2 layers of gpt-oss-20b size, vocab 201088; engine in one process, ${POOL_THREADS} dense threads, ${POOL_THREADS} expert threads): prefill of a ${PROMPT_TOKENS}-token prompt, then ${DECODE_TOKENS} greedy tokens (decode = mean ms per token after the first); the fastest of ${GENERATIONS} generations.\n`);
  const whole = new Map<ExpertPrecision, ModelFigures>();
  const modelRows: string[][] = [];
  for (const v of variants().filter((x) => x.primary)) {
    const p = v.experts.precision;
    const skip = await memoryFor(residentWeightBytes(c, p, c.numLayers * c.numExperts, true) * 1.25 + GIB, `${p} engine`);
    if (skip) {
      modelRows.push([v.label, `skipped: ${skip}`, '', '', '', '']);
      continue;
    }
    const m = probe<ModelFigures>(['engine', model, p, String(v.experts.accuracyLevel ?? '-')]);
    whole.set(p, m);
    const fp32 = whole.get('fp32');
    const same = fp32 ? (m.tokens.join() === fp32.tokens.join() ? 'yes' : 'no') : '';
    modelRows.push([v.label, m.loadS.toFixed(1), gib(m.peakRssBytes), m.prefillTokensPerS.toFixed(1), m.decodeMsPerToken.toFixed(1), same]);
  }
  console.log(table(['precision', 'load s', 'peak RSS GiB', `prefill tok/s (${PROMPT_TOKENS} tokens)`, 'decode ms / token', 'tokens = fp32'], modelRows));

  const resident = (label: string): number | undefined => pool.get(label)?.residentBytesPerExpert;
  const q4 = variants().find((v) => v.primary && v.experts.precision === 'q4x2')?.label ?? 'q4x2';
  const decode = (p: ExpertPrecision): number | undefined => whole.get(p)?.decodeMsPerToken;
  const expertAt1 = (label: string): number | undefined => pool.get(label)?.msPerExpert[1];
  const q4Golden = golden.get(q4)?.tokens.join('|');
  const fpGolden = golden.get('fp32')?.tokens.join('|');
  const goals: [string, string, string][] = [
    ['q4x2 decode / fp32 decode (2-layer)', ratio(decode('q4x2'), decode('fp32')), `<= 1.15: ${verdict(ratioOf(decode('q4x2'), decode('fp32')), 1.15)}`],
    ['q4x2 resident / fp32 resident (measured)', ratio(resident(q4), resident('fp32')), `<= 0.35: ${verdict(ratioOf(resident(q4), resident('fp32')), 0.35)}`],
    ['q4x2 greedy tokens = fp32 on every golden set', q4Golden !== undefined && q4Golden === fpGolden ? 'yes' : 'no', `yes: ${q4Golden !== undefined && q4Golden === fpGolden ? 'met' : 'missed'}`],
    ['mxfp4 expert at 1 token / fp32', ratio(expertAt1('mxfp4'), expertAt1('fp32')), `<= 1.5: ${verdict(ratioOf(expertAt1('mxfp4'), expertAt1('fp32')), 1.5)}`],
    ['mxfp4 decode / fp32 decode (2-layer)', ratio(decode('mxfp4'), decode('fp32')), `<= 1.3: ${verdict(ratioOf(decode('mxfp4'), decode('fp32')), 1.3)}`],
  ];
  console.log('\nGoals of issue 17 (ratios within this run):\n');
  console.log(table(['ratio', 'measured', 'goal'], goals.map((g) => [...g])));
}

function ratioOf(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a / b;
}

/** The checkpoint: `gptoss make-checkpoint` with exactly its flags (the layer count aside). */
function fullCheckpointArgs(out: string, layers: number): string[] {
  return ['make-checkpoint', '--out', out, '--layers', String(layers), '--hidden', '2880', '--heads', '64', '--kv-heads', '8', '--head-dim', '64', '--experts', '32', '--top-k', '4', '--intermediate', '2880', '--vocab', '201088', '--sliding-window', '128', '--shards', '6', '--seed', '0'];
}

/** Generated once; written under a temporary name and renamed, so an interrupted run is not reused. */
async function fullCheckpoint(layers: number): Promise<string> {
  const dir = path.join(TMP_ROOT, 'bench-models', layers === 24 ? '20b-full' : `20b-full-${layers}-layers`);
  if (existsSync(path.join(dir, 'config.json'))) return dir;
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  process.stderr.write(`generating ${dir} (gptoss ${fullCheckpointArgs(dir, layers).join(' ')}) ...\n`);
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...fullCheckpointArgs(partial, layers)], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`make-checkpoint exited with ${code}`))));
  });
  await rename(partial, dir);
  process.stderr.write(`generated in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  return dir;
}

/** --full-model DIR, checked before anything runs: a checkpoint directory, and not given with --full-layers. */
function existingCheckpoint(dir: string, layers: number | undefined): string {
  if (layers !== undefined) throw new ConfigError('--full-model and --full-layers both name the full-depth checkpoint; give one', 'full-model');
  const resolved = path.resolve(dir);
  if (!existsSync(path.join(resolved, 'config.json'))) throw new ConfigError(`--full-model: ${resolved} is not a checkpoint directory (no config.json)`, 'full-model');
  return resolved;
}

/** Peak memory a whole model in `precision` is sized to take: its weights, onnxruntime's overhead, the processes. */
function sizedBytes(c: ModelConfig, precision: ExpertPrecision, processes: number): number {
  return residentWeightBytes(c, precision, c.numLayers * c.numExperts, true) * 1.15 + processes * 0.5 * GIB;
}

async function fullPart(model: string): Promise<void> {
  const c = (await Checkpoint.open(model)).config;
  const total = meminfo('MemTotal');
  // What the rest of the machine keeps (the OS, page cache for reading the checkpoint).
  const usable = total - 2 * GIB;
  console.log(
    `\n### Full depth (${model}: ${c.numLayers} layers, hidden ${c.hiddenSize}, intermediate ${c.intermediateSize}, ${c.numExperts} experts per layer (${c.numLayers * c.numExperts} in all), top-${c.expertsPerToken}, vocab ${c.vocabSize}; ${gib(total)} GiB of memory, ${gib(usable)} GiB usable). ` +
      `A precision runs if its sizing (weights resident x 1.15 + 0.5 GiB per process) fits the usable memory. Prefill: ${PROMPT_TOKENS}-token prompt; decode: mean of ${DECODE_TOKENS} greedy tokens (fastest of ${GENERATIONS} generations); peak RSS: every process involved (coordinator, workers, nats-server) added up. Load average now ${loadAverage()}.\n`,
  );
  const rows: string[][] = [];
  const modes: { label: string; args: (p: ExpertPrecision) => string[]; processes: number }[] = [
    { label: 'one process', args: (p) => ['engine', model, p, '-'], processes: 1 },
    { label: '--workers 2', args: (p) => ['cluster', model, p, '2'], processes: 4 },
  ];
  for (const p of chosen) {
    for (const mode of modes) {
      const sized = sizedBytes(c, p, mode.processes);
      if (sized > usable) {
        rows.push([p, mode.label, `skipped: sized at ${gib(sized)} GiB, more than the ${gib(usable)} GiB usable`, '', '', '', '']);
        continue;
      }
      const skip = await memoryFor(sized, `${p} ${mode.label}`);
      if (skip) {
        rows.push([p, mode.label, `skipped: ${skip}`, '', '', '', '']);
        continue;
      }
      const m = probe<ModelFigures>(mode.args(p));
      const perProcess = m.processes.length > 1 ? m.processes.map((x) => `${x.name} ${gib(x.peakRssBytes)}`).join(', ') : '';
      rows.push([p, mode.label, m.loadS.toFixed(1), gib(m.peakRssBytes), m.prefillTokensPerS.toFixed(1), m.decodeMsPerToken.toFixed(1), perProcess]);
    }
  }
  console.log(table(['precision', 'mode', 'load s', 'peak RSS GiB', `prefill tok/s (${PROMPT_TOKENS} tokens)`, 'decode ms / token', 'peak RSS per process GiB'], rows));
}
