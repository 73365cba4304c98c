// The fast path is the default for `gptoss` run directly: the bin re-executes itself once with
// glibc's huge-page tunable (glibc reads GLIBC_TUNABLES only at process start) unless the
// environment already sets it, staying transparent (exit codes, signals, a killed parent takes its
// child along), and every --threads defaults to all cores. A preload module given through
// NODE_OPTIONS (which both processes inherit) reports each process's pid, parent and environment.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { CLI } from '../helpers/paths.js';
import { until } from '../helpers/until.js';

interface Report {
  readonly pid: number;
  readonly ppid: number;
  /** GLIBC_TUNABLES in the environment the process was executed with (/proc/self/environ). */
  readonly execTunables: string | null;
  /** GLIBC_TUNABLES as the process reads it (glibc parses the /proc copy in place, cutting it at the first ':'). */
  readonly tunables: string | null;
}

// Each process reports itself on stderr.
const PRELOAD = `
import { readFileSync } from 'node:fs';
const env = readFileSync('/proc/self/environ', 'utf8').split('\\0').find((e) => e.startsWith('GLIBC_TUNABLES='));
const execTunables = env ? env.slice('GLIBC_TUNABLES='.length) : null;
const tunables = process.env.GLIBC_TUNABLES ?? null;
// HOLD: a process started with the tunable stays up and exits 7 on SIGTERM (set before reporting,
// so a signal sent once the report is seen finds the handler).
if (process.env.HOLD === '1' && tunables) {
  setInterval(() => {}, 1000);
  process.on('SIGTERM', () => process.exit(7));
}
process.stderr.write('REPORT ' + JSON.stringify({ pid: process.pid, ppid: process.ppid, execTunables, tunables }) + '\\n');
// STALL: the child keeps busy for a moment after reporting, before the bin's own code runs.
if (process.env.STALL === '1' && tunables) { const t = Date.now(); while (Date.now() - t < 500); }
`;

describe('gptoss fast path by default', () => {
  let dir: string;
  let preload: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gptoss-preload-'));
    preload = path.join(dir, 'report.mjs');
    writeFileSync(preload, PRELOAD);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  // A failed test must not leave a held process behind (a re-executed child runs in its own session).
  const started: Report[][] = [];
  afterEach(() => {
    for (const p of started.flat()) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
    started.length = 0;
  });

  function run(args: string[], env: Record<string, string | undefined>, onReport?: (r: Report, wrapper: ChildProcess) => void): { child: ChildProcess; reports: Report[]; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> } {
    const base = { ...process.env };
    delete base['GLIBC_TUNABLES'];
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, NODE_OPTIONS: `--import=${preload}`, ...env } });
    const reports: Report[] = [];
    started.push(reports);
    readline.createInterface({ input: child.stderr! }).on('line', (l) => {
      if (!l.startsWith('REPORT ')) return;
      const r = JSON.parse(l.slice(7)) as Report;
      reports.push(r);
      onReport?.(r, child);
    });
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout })));
    return { child, reports, done };
  }

  it('cli fast path - started without GLIBC_TUNABLES, the bin runs its command in one child started with the allocator tunables', async () => {
    const r = run(['help'], {});
    const { code, stdout } = await r.done;
    assert.equal(code, 0);
    assert.match(stdout, /commands:/);
    assert.equal((stdout.match(/usage: gptoss/g) ?? []).length, 1, 'the usage is printed once');
    const parent = r.reports.find((p) => p.pid === r.child.pid);
    assert.ok(parent, JSON.stringify(r.reports));
    assert.equal(parent.execTunables, null);
    const children = r.reports.filter((p) => p.ppid === r.child.pid);
    assert.equal(children.length, 1, JSON.stringify(r.reports));
    assert.equal(children[0]!.execTunables, 'glibc.malloc.hugetlb=1');
    assert.equal(children[0]!.tunables, 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=4194304');
  });

  it('cli fast path - other tunables are kept; a setting of its own (hugetlb=0) opts out: no child', async () => {
    const kept = run(['help'], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
    await kept.done;
    const child = kept.reports.find((p) => p.ppid === kept.child.pid);
    assert.equal(child?.tunables, 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=4194304');
    const optOut = run(['help'], { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' });
    assert.equal((await optOut.done).code, 0);
    assert.deepEqual(optOut.reports.map((p) => p.pid), [optOut.child.pid]);
  });

  it('cli fast path - exit codes and SIGTERM/SIGINT pass through; killing the parent takes the child along', async () => {
    assert.equal((await run(['frobnicate'], {}).done).code, 2);

    const held = async (): Promise<{ r: ReturnType<typeof run>; childPid: number }> => {
      const r = run(['help'], { HOLD: '1' });
      await until(() => r.reports.some((p) => p.ppid === r.child.pid), 60_000, 'the child\'s report');
      return { r, childPid: r.reports.find((p) => p.ppid === r.child.pid)!.pid };
    };
    const term = await held();
    term.r.child.kill('SIGTERM');
    assert.deepEqual(await term.r.done.then((d) => [d.code, d.signal]), [7, null], 'the child\'s SIGTERM handler chose exit code 7');

    const int = await held();
    int.r.child.kill('SIGINT');
    assert.deepEqual(await int.r.done.then((d) => [d.code, d.signal]), [null, 'SIGINT'], 'the child died of SIGINT, so does the parent');
    assert.ok(!alive(int.childPid));

    const killed = await held();
    killed.r.child.kill('SIGKILL');
    await killed.r.done;
    await until(() => !alive(killed.childPid), 10_000, 'the child to die with its parent');

    // Killed while the child is still starting (its preload runs before the bin's own code).
    const early = run(['help'], { HOLD: '1', STALL: '1' }, (r, wrapper) => {
      if (r.ppid === wrapper.pid) wrapper.kill('SIGKILL');
    });
    await early.done;
    const earlyChild = early.reports.find((p) => p.ppid === early.child.pid)!;
    await until(() => !alive(earlyChild.pid), 10_000, 'the child to die with its parent killed at start-up');
  });

  it('cli fast path - --threads defaults to all cores in generate, coordinator, worker and start (--help says how many)', async () => {
    const cores = os.availableParallelism();
    for (const command of ['generate', 'coordinator', 'worker', 'start']) {
      const { code, stdout } = await run([command, '--help'], { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).done;
      assert.equal(code, 0, command);
      const line = stdout.split('\n').find((l) => l.trim().startsWith('--threads '));
      assert.ok(line, `${command} has --threads`);
      assert.match(line, new RegExp(`default: all ${cores} cores`), `${command}: ${line}`);
    }
  });
});

/** Whether `pid` runs (a zombie waiting for its reaper does not). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}
