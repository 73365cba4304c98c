// `npm run soak`: a fault soak of a whole local cluster (NATS, Redis, 3 expert worker processes
// with replication 2, a coordinator in this process on a fixed port). A fault-free reference run
// records the greedy output of N distinct prompts; then the same N requests run at concurrency C
// with retrying clients while a schedule (driven by the count of completed requests) SIGKILLs a
// worker and starts a replacement, restarts NATS, kills and restarts Redis, and closes and
// restarts the coordinator. Prints lost / different outputs, retries, RSS and wall time; exit code
// 0 only when nothing was lost and nothing differs. Not part of `npm test`.
//
//   node dist/bench/soak.js [--requests 200] [--concurrency 8] [--max-tokens 24]
import { readFileSync } from 'node:fs';
import { WorkerProcess } from '../cli/worker-processes.js';
import { DEFAULT_CHECKPOINT_SPEC } from '../common/checkpoint/checkpoint-writer.js';
import { parseFlags } from '../common/config/flags.js';
import { freePort } from '../common/local/free-port.js';
import { NatsServer, killServersOnSignals } from '../common/local/nats-server-process.js';
import { RedisServer } from '../common/local/redis-server-process.js';
import { createLogger } from '../common/log.js';
import { startCoordinator, type Coordinator } from '../coordinator/coordinator-service.js';
import { benchModel, table } from './bench-util.js';

const SPEC = { ...DEFAULT_CHECKPOINT_SPEC, layers: 4, hidden: 64, experts: 8, vocab: 201088 };
const FLAGS = {
  requests: { type: 'int', min: 1, description: 'requests per run (default 200)' },
  concurrency: { type: 'int', min: 1, description: 'concurrent clients (default 8)' },
  'max-tokens': { type: 'int', min: 1, description: 'max_tokens per request (default 24)' },
} as const;

const TOTAL_BUDGET_MS = 6 * 60_000;
const RETRY_WINDOW_MS = 30_000;
const ATTEMPT_TIMEOUT_MS = 60_000;
const SETTLE_MS = 90_000;
const WORKERS = 3;
const REPLICATION = 2;

interface Outcome {
  readonly ok: boolean;
  readonly output: string;
  readonly retries: number;
  readonly error?: string;
}

const t0 = performance.now();
const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
const note = (msg: string): void => void process.stderr.write(`[soak ${elapsed()}] ${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function prompt(i: number): number[] {
  return Array.from({ length: 8 + (i % 13) }, (_, j) => (i * 7919 + j * 104729 + 13) % 199_000);
}

function vmRssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const mb = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : 'n/a');

function isRetryableError(err: unknown): boolean {
  // fetch wraps connection failures (ECONNREFUSED, ECONNRESET, socket closed, ...) as TypeError.
  if (err instanceof TypeError) return true;
  const e = err as { name?: string; cause?: { code?: string } };
  return e.name === 'TimeoutError' || typeof e.cause?.code === 'string';
}

/** One completion with retries on connection errors and 503 (exponential backoff, ~30 s). */
async function complete(url: string, ids: number[], maxTokens: number, abort: AbortSignal, retry: boolean): Promise<Outcome> {
  const start = Date.now();
  let retries = 0;
  let backoff = 100;
  let lastError = '';
  for (;;) {
    if (abort.aborted) return { ok: false, output: '', retries, error: `aborted (soak time budget); last: ${lastError}` };
    let retryable = false;
    try {
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: ids, max_tokens: maxTokens, temperature: 0 }),
        signal: AbortSignal.any([abort, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
      });
      const text = await res.text();
      if (res.ok) {
        const body = JSON.parse(text) as { choices: { text: string; finish_reason: string }[]; usage?: { completion_tokens: number } };
        const c = body.choices[0]!;
        return { ok: true, output: JSON.stringify([c.text, c.finish_reason, body.usage?.completion_tokens]), retries };
      }
      lastError = `HTTP ${res.status}: ${text.slice(0, 300)}`;
      retryable = res.status === 503;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      lastError = `${e.name}: ${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`;
      retryable = !abort.aborted && isRetryableError(err);
    }
    if (!retry || !retryable || Date.now() - start > RETRY_WINDOW_MS) return { ok: false, output: '', retries, error: lastError };
    retries++;
    await sleep(backoff);
    backoff = Math.min(2000, backoff * 2);
  }
}

/** Runs request i for every i in [0, n) with `concurrency` clients; onDone after each. */
async function runAll(n: number, concurrency: number, one: (i: number) => Promise<Outcome>, onDone: (done: number) => void, abort: AbortSignal): Promise<(Outcome | undefined)[]> {
  const out: (Outcome | undefined)[] = new Array(n);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n && !abort.aborted) {
        const i = next++;
        out[i] = await one(i);
        onDone(++done);
      }
    }),
  );
  return out;
}

async function main(): Promise<number> {
  const f = parseFlags(process.argv.slice(2), FLAGS);
  const n = f.requests ?? 200;
  const concurrency = f.concurrency ?? 8;
  const maxTokens = f['max-tokens'] ?? 24;
  killServersOnSignals();

  const budget = new AbortController();
  const budgetTimer = setTimeout(() => {
    note('6-minute budget reached: aborting with what it has');
    budget.abort();
  }, TOTAL_BUDGET_MS);
  budgetTimer.unref();

  const model = await benchModel('soak', SPEC);
  const log = createLogger('soak', process.env['LOG_LEVEL'] ?? 'silent');
  let nats: NatsServer | null = null;
  let redis: RedisServer | null = null;
  const workers: WorkerProcess[] = [];
  let coordinator: Coordinator | null = null;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const startWorker = async (id: string): Promise<WorkerProcess> => {
    const w = await WorkerProcess.start({ model, natsUrl: nats!.url, workerId: id, threads: 1, precision: 'fp32', logLevel: 'silent' });
    workers.push(w);
    return w;
  };
  const liveWorkers = (): WorkerProcess[] => workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  const startCoord = async (): Promise<Coordinator> => {
    const c = await startCoordinator(
      { model, nats: { servers: nats!.url }, redisUrl: redis!.url, host: '127.0.0.1', port, replication: REPLICATION, denseThreads: 1, initialWorkers: liveWorkers().length, maxBatchSize: 32 },
      log,
    );
    coordinator = c;
    await c.experts.settled(liveWorkers().length, SETTLE_MS);
    return c;
  };

  const faults: string[][] = [];
  let exitCode = 1;
  try {
    nats = await NatsServer.start();
    redis = await RedisServer.start();
    note(`nats ${nats.url}, redis ${redis.url}; starting ${WORKERS} workers and the coordinator on port ${port}`);
    await Promise.all(Array.from({ length: WORKERS }, (_, i) => startWorker(`soak-w${i + 1}`)));
    await startCoord();
    note('cluster settled');

    // Fault-free reference run (same concurrency as the soak, no retries).
    const ref = await runAll(n, concurrency, (i) => complete(url, prompt(i), maxTokens, budget.signal, false), () => {}, budget.signal);
    const refFailed = ref.filter((o) => !o?.ok);
    note(`reference run: ${n - refFailed.length}/${n} ok`);
    if (refFailed.length > 0) note(`reference failure: ${refFailed.find((o) => o)?.error ?? 'not run (budget)'}`);
    const workerRssBefore = liveWorkers().map((w) => vmRssKb(w.pid) * 1024);
    const coordRssBefore = process.memoryUsage().rss;

    // The fault schedule: each fault fires once the count of completed soak requests reaches its
    // fraction of N; faults run one after another (never two at once).
    const schedule: { at: number; name: string; run: () => Promise<string> }[] = [
      {
        at: 0.12,
        name: 'SIGKILL a worker + start a replacement',
        run: async () => {
          const victim = liveWorkers()[1]!;
          victim.kill('SIGKILL');
          const replacement = await startWorker('soak-w4');
          await coordinator!.experts.settled(liveWorkers().length, SETTLE_MS);
          return `killed ${victim.workerId} (pid ${victim.pid}), ${replacement.workerId} joined, placement settled`;
        },
      },
      {
        at: 0.32,
        name: 'restart NATS (1 s down)',
        run: async () => {
          await nats!.restart(1000);
          await coordinator!.experts.settled(liveWorkers().length, SETTLE_MS);
          return 'nats back, placement settled';
        },
      },
      {
        at: 0.52,
        name: 'kill + restart Redis (1 s down, empty)',
        run: async () => {
          await redis!.kill();
          await sleep(1000);
          await redis!.restart();
          return 'redis back (empty)';
        },
      },
      {
        at: 0.72,
        name: 'close + restart the coordinator (same port)',
        run: async () => {
          const old = coordinator!;
          coordinator = null;
          const tc = Date.now();
          await old.close();
          const closedMs = Date.now() - tc;
          await startCoord();
          return `closed in ${closedMs} ms, restarted and settled in ${Date.now() - tc} ms total`;
        },
      },
    ];
    let nextFault = 0;
    let faultChain: Promise<void> = Promise.resolve();
    let faultError: unknown = null;
    const onDone = (done: number): void => {
      while (nextFault < schedule.length && done >= Math.ceil(schedule[nextFault]!.at * n)) {
        const s = schedule[nextFault++]!;
        faultChain = faultChain.then(async () => {
          if (budget.signal.aborted) return void faults.push([s.name, String(done), 'skipped (budget)', '']);
          const started = elapsed();
          note(`fault: ${s.name} (at ${done} completed)`);
          try {
            const detail = await s.run();
            faults.push([s.name, String(done), started, detail]);
            note(`  ${detail}`);
          } catch (err) {
            faultError ??= err;
            faults.push([s.name, String(done), started, `FAILED: ${(err as Error).message}`]);
            note(`  FAILED: ${(err as Error).stack}`);
          }
        });
      }
    };

    const ts = performance.now();
    const soak = await runAll(n, concurrency, (i) => complete(url, prompt(i), maxTokens, budget.signal, true), onDone, budget.signal);
    const soakMs = performance.now() - ts;
    await faultChain;
    for (; nextFault < schedule.length; nextFault++) faults.push([schedule[nextFault]!.name, '-', 'not reached', '']);

    const coordRssAfter = process.memoryUsage().rss;
    const workerRssAfter = liveWorkers().map((w) => vmRssKb(w.pid) * 1024);
    const sent = soak.filter((o) => o !== undefined).length;
    const completed = soak.filter((o) => o?.ok).length;
    const failed = soak.filter((o) => o && !o.ok);
    const different: number[] = [];
    soak.forEach((o, i) => {
      if (o?.ok && ref[i]?.ok && o.output !== ref[i]!.output) different.push(i);
    });
    const noReference = soak.filter((o, i) => o?.ok && !ref[i]?.ok).length;
    const retries = soak.reduce((s, o) => s + (o?.retries ?? 0), 0);
    const lost = n - completed;
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

    console.log(`\n## Fault soak (3 workers, replication 2; model: ${SPEC.layers} layers, hidden ${SPEC.hidden}, ${SPEC.experts} experts, vocab ${SPEC.vocab}; ${n} requests, concurrency ${concurrency}, max_tokens ${maxTokens}, greedy)\n`);
    console.log(table(['fault', 'at completed', 'started', 'result'], faults));
    console.log('');
    console.log(
      table(
        ['metric', 'value'],
        [
          ['requests sent', String(sent)],
          ['completed', String(completed)],
          ['failed', String(failed.length)],
          ['lost (not completed)', String(lost)],
          ['outputs different from fault-free run', String(different.length)],
          ['completed without a reference output', String(noReference)],
          ['retries', String(retries)],
          ['coordinator RSS before (MB)', mb(coordRssBefore)],
          ['coordinator RSS after (MB)', mb(coordRssAfter)],
          ['coordinator RSS growth (MB)', mb(coordRssAfter - coordRssBefore)],
          ['worker RSS before (MB)', `${workerRssBefore.map(mb).join(' / ')} (sum ${mb(sum(workerRssBefore))})`],
          ['worker RSS after (MB)', `${workerRssAfter.map(mb).join(' / ')} (sum ${mb(sum(workerRssAfter))})`],
          ['soak wall time (s)', (soakMs / 1000).toFixed(1)],
          ['total wall time (s)', ((performance.now() - t0) / 1000).toFixed(1)],
        ],
      ),
    );
    for (const o of failed.slice(0, 5)) console.log(`failed: request ${soak.indexOf(o)}: ${o!.error}`);
    for (const i of different.slice(0, 5)) console.log(`different: request ${i}: reference ${ref[i]!.output} soak ${soak[i]!.output}`);
    if (faultError) console.log(`a fault step failed: ${(faultError as Error).message}`);
    exitCode = lost === 0 && different.length === 0 && refFailed.length === 0 ? 0 : 1;
  } catch (err) {
    note(`soak failed: ${(err as Error).stack ?? String(err)}`);
    exitCode = 1;
  } finally {
    note('cleaning up');
    await Promise.race([
      (async () => {
        await (coordinator as Coordinator | null)?.close().catch(() => {});
        await Promise.all(workers.map((w) => w.stop(5000).catch(() => {})));
        await redis?.stop().catch(() => {});
        await nats?.stop().catch(() => {});
      })(),
      sleep(30_000),
    ]);
    for (const w of workers) w.kill('SIGKILL');
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
