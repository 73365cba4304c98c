// `npm start`: a whole local cluster on this machine: throwaway redis-server and nats-server
// (unless REDIS_URL / NATS_URL are given), a coordinator serving the OpenAI API (or, with
// --coordinators M, M `gptoss coordinator` processes on ports P, P+1, ...), and N expert worker
// processes, on a generated tiny model unless --model names a checkpoint.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CHECKPOINT_SPEC, writeRandomCheckpoint } from '../../common/checkpoint/checkpoint-writer.js';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { parseFlags } from '../../common/config/flags.js';
import { NatsServer } from '../../common/local/nats-server-process.js';
import { RedisServer } from '../../common/local/redis-server-process.js';
import { EXPERT_PRECISION_HELP, EXPERT_PRECISIONS, RETIRED_EXPERT_PRECISIONS } from '../../common/experts/expert-precision.js';
import { createLogger } from '../../common/log.js';
import { startCoordinator, type Coordinator } from '../../coordinator/coordinator-service.js';
import { assertPortFree } from '../port-check.js';
import { ProgressBar } from '../progress.js';
import { WorkerProcess } from '../worker-processes.js';
import { CoordinatorProcess } from '../coordinator-processes.js';
import { REPO_ROOT } from '../repo-root.js';
import { ALL_CORES, threadsHelp } from '../thread-defaults.js';

const FLAGS = {
  model: { type: 'string', description: 'checkpoint directory (default: a generated tiny gpt-oss with the real vocabulary)' },
  workers: { type: 'int', min: 1, description: 'expert worker processes (default 2)' },
  replication: { type: 'int', min: 1, description: 'workers holding each expert (default 1)' },
  port: { type: 'int', min: 0, description: 'HTTP port of the (first) coordinator (default 8000)' },
  coordinators: { type: 'int', min: 1, description: 'coordinator processes on ports P, P+1, ... sharing the workers (default: one, in this process)' },
  threads: { type: 'int', min: 1, description: threadsHelp('onnxruntime threads of the coordinators\' dense graphs; the workers split the cores between them') },
  'expert-precision': { type: 'string', choices: EXPERT_PRECISIONS, retired: RETIRED_EXPERT_PRECISIONS, description: EXPERT_PRECISION_HELP },
} as const;

const DEMO_MODEL = path.join(REPO_ROOT, '.tmp', 'models', 'demo');

export async function runStart(argv: string[]): Promise<void> {
  const f = parseFlags(argv, FLAGS);
  await assertPortFree(f.port ?? 8000, '0.0.0.0');
  const workers = f.workers ?? 2;
  const denseThreads = f.threads ?? ALL_CORES;
  // The workers run at once, so they split the cores; the dense half runs between their turns.
  const workerThreads = Math.max(1, Math.floor(ALL_CORES / workers));
  const precision = f['expert-precision'] ?? 'fp32';
  const log = createLogger('gptoss', process.env['LOG_LEVEL'] ?? 'warn');
  let model = f.model;
  if (!model) {
    model = DEMO_MODEL;
    if (!existsSync(path.join(model, 'config.json'))) {
      process.stderr.write(`generating the demo model in ${model}\n`);
      await writeRandomCheckpoint(model, DEFAULT_CHECKPOINT_SPEC);
    }
  }
  const ckpt = await Checkpoint.open(model);
  const c = ckpt.config;

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
  };
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write('\nstopping...\n');
      void stopAll().then(() => process.exit(0));
    });
  }
  try {
    let natsUrl = process.env['NATS_URL'];
    if (!natsUrl) {
      const nats = await NatsServer.start();
      cleanups.push(() => nats.stop());
      natsUrl = nats.url;
    }
    let redisUrl = process.env['REDIS_URL'];
    if (!redisUrl) {
      const redis = await RedisServer.start();
      cleanups.push(() => redis.stop());
      redisUrl = redis.url;
    }
    if (f.coordinators !== undefined) {
      await startCoordinatorProcesses({ model, natsUrl, redisUrl, workers, replication: f.replication ?? 1, port: f.port ?? 8000, count: f.coordinators, denseThreads, workerThreads, precision, cleanups });
      return;
    }
    const denseTensors = 3 + 13 * c.numLayers;
    const denseBar = new ProgressBar('dense weights', denseTensors);
    let loaded = 0;
    const coordinatorPromise = startCoordinator(
      {
        model,
        nats: { servers: natsUrl.split(',') },
        redisUrl,
        host: '0.0.0.0',
        port: f.port ?? 8000,
        replication: f.replication ?? 1,
        denseThreads,
        initialWorkers: workers,
        onDenseTensor: () => denseBar.update(++loaded),
      },
      log,
    );
    const spawned = await Promise.all(
      Array.from({ length: workers }, (_, i) => WorkerProcess.start({ model: model!, natsUrl: natsUrl!, workerId: `worker-${i + 1}`, threads: workerThreads, precision, logLevel: 'warn' })),
    );
    cleanups.push(async () => void (await Promise.all(spawned.map((w) => w.stop()))));
    const coordinator: Coordinator = await coordinatorPromise;
    cleanups.push(() => coordinator.close());
    const slots = c.numLayers * c.numExperts * Math.min(f.replication ?? 1, workers);
    const expertBar = new ProgressBar('experts on workers', slots);
    const timer = setInterval(() => expertBar.update(Math.min(slots, coordinator.experts.membership.workers().reduce((n, w) => n + w.held.length, 0))), 200);
    await coordinator.experts.settled(workers, 600_000);
    clearInterval(timer);
    expertBar.update(slots);
    const port = new URL(coordinator.url).port;
    const modelId = coordinator.scheduler.modelId;
    process.stdout.write(
      [
        '',
        `gptoss-cluster is serving ${modelId} at http://localhost:${port}/v1`,
        `  ${workers} expert workers, ${c.numLayers} layers x ${c.numExperts} experts, replication ${f.replication ?? 1}`,
        `  NATS ${natsUrl}   Redis ${redisUrl}`,
        '',
        'Try it:',
        `  curl http://localhost:${port}/v1/chat/completions -H 'Content-Type: application/json' \\`,
        `    -d '{"model": "${modelId}", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'`,
        '',
        'Ctrl-C stops every process this command started.',
        '',
      ].join('\n'),
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** --coordinators M: M coordinator child processes over the same workers; the banner lists them. */
async function startCoordinatorProcesses(o: {
  model: string;
  natsUrl: string;
  redisUrl: string;
  workers: number;
  replication: number;
  port: number;
  count: number;
  denseThreads: number;
  workerThreads: number;
  precision: string;
  cleanups: (() => Promise<void>)[];
}): Promise<void> {
  process.stderr.write(`starting ${o.count} coordinators and ${o.workers} workers\n`);
  const starting = Array.from({ length: o.count }, (_, i) =>
    CoordinatorProcess.start({ model: o.model, natsUrl: o.natsUrl, redisUrl: o.redisUrl, host: '0.0.0.0', port: o.port === 0 ? 0 : o.port + i, replication: o.replication, threads: o.denseThreads, minWorkers: o.workers, coordinatorId: `coordinator-${i + 1}`, logLevel: 'warn' }),
  );
  // A coordinator that fails to start must not leave its siblings behind.
  const settledStarts = await Promise.allSettled(starting);
  const coordinators = settledStarts.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  o.cleanups.push(async () => void (await Promise.all(coordinators.map((c) => c.stop()))));
  const failed = settledStarts.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  const spawned = await Promise.all(
    Array.from({ length: o.workers }, (_, i) => WorkerProcess.start({ model: o.model, natsUrl: o.natsUrl, workerId: `worker-${i + 1}`, threads: o.workerThreads, precision: o.precision, logLevel: 'warn' })),
  );
  o.cleanups.push(async () => void (await Promise.all(spawned.map((w) => w.stop()))));
  const bar = new ProgressBar('coordinators serving', o.count);
  const deadline = Date.now() + 600_000;
  for (;;) {
    const healthy = await Promise.all(coordinators.map((c) => fetch(`${local(c.url)}/health`).then((r) => r.ok, () => false)));
    bar.update(healthy.filter(Boolean).length);
    if (healthy.every(Boolean)) break;
    if (Date.now() > deadline) throw new Error('the coordinators did not all become healthy within 10 minutes');
    await new Promise((r) => setTimeout(r, 250));
  }
  const leaders = await Promise.all(coordinators.map((c) => fetch(`${local(c.url)}/metrics`).then((r) => r.text()).then((t) => /^gptoss_placement_leader 1$/m.test(t), () => false)));
  const modelId = await fetch(`${local(coordinators[0]!.url)}/v1/models`).then((r) => r.json() as Promise<{ data: { id: string }[] }>).then((m) => m.data[0]!.id, () => path.basename(o.model));
  const first = new URL(coordinators[0]!.url).port;
  process.stdout.write(
    [
      '',
      `gptoss-cluster is serving ${modelId} from ${o.count} coordinators over ${o.workers} expert workers (replication ${o.replication}):`,
      ...coordinators.map((c, i) => `  ${c.coordinatorId}  http://localhost:${new URL(c.url).port}/v1  pid ${c.child.pid}${leaders[i] ? '  (placement leader)' : ''}`),
      `  each: gptoss ${CoordinatorProcess.args({ model: o.model, natsUrl: o.natsUrl, redisUrl: o.redisUrl, port: Number(first), replication: o.replication }).join(' ')}`,
      '',
      'Try it:',
      `  curl http://localhost:${first}/v1/chat/completions -H 'Content-Type: application/json' \\`,
      `    -d '{"model": "${modelId}", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'`,
      '',
      'Ctrl-C stops every process this command started.',
      '',
    ].join('\n'),
  );
}

/** A URL a coordinator listening on 0.0.0.0 reports, made reachable from this machine. */
function local(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = '127.0.0.1';
  return u.origin;
}
