// Load benchmark: how long the single-process engine takes from process start to holding its
// weights and to its first token, and its peak and steady memory, per expert precision, on the
// 2-layer gpt-oss-20b-shaped checkpoint; a worker's expert pool loading 64 experts; and, in the
// same run, reading the same files once (warm page cache) as the floor. Each case runs in a
// process of its own (bench/load-probe.ts) so its peak RSS is its own.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { EXPERT_PRECISIONS } from '../common/experts/expert-precision.js';
import type { LoadFigures } from './load-probe.js';
import { benchModel, table, REAL_20B_LAYER_SPEC } from './bench-util.js';

const GIB = 2 ** 30;

function probe(...args: string[]): LoadFigures {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./load-probe.js', import.meta.url)), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`load probe ${args.join(' ')} failed`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadFigures;
}

const gib = (b: number): string => (b / GIB).toFixed(2);

export async function runLoadBench(): Promise<void> {
  const model = await benchModel('20b-layers', REAL_20B_LAYER_SPEC);
  console.log(`\n## Load (model: 2 layers of gpt-oss-20b size, vocab 201088, 3 shards, 3.27 GB; ${os.cpus().length} cores, ${os.cpus()[0]?.model}; times from process start)\n`);
  // The floor first and last: the first read may find the files out of the page cache.
  const firstRead = probe('read', model);
  const rows: string[][] = [];
  for (const precision of EXPERT_PRECISIONS) {
    const f = probe('engine', model, precision);
    rows.push([`engine, ${precision} experts`, f.loadS.toFixed(1), f.firstTokenS!.toFixed(1), gib(f.peakRssBytes), gib(f.steadyRssBytes), gib(f.weightBytes), (f.peakRssBytes / f.steadyRssBytes).toFixed(2), (f.steadyRssBytes / f.weightBytes).toFixed(2)]);
  }
  for (const precision of EXPERT_PRECISIONS) {
    const f = probe('worker', model, precision, '64');
    rows.push([`worker pool (2 threads), 64 ${precision} experts`, f.loadS.toFixed(1), '', gib(f.peakRssBytes), gib(f.steadyRssBytes), gib(f.weightBytes), (f.peakRssBytes / f.steadyRssBytes).toFixed(2), (f.steadyRssBytes / f.weightBytes).toFixed(2)]);
  }
  const read = probe('read', model);
  rows.push([`read every shard once (floor; first read of the run ${firstRead.loadS.toFixed(2)} s)`, read.loadS.toFixed(2), '', '', '', gib(read.bytesRead ?? 0), '', '']);
  console.log(table(['case', 'load s', 'first token s', 'peak RSS GiB', 'steady RSS GiB', 'weights GiB', 'peak / steady', 'steady / weights'], rows));
}
