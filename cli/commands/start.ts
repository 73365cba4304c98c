// `npm start`: a whole local cluster on this machine: throwaway redis-server and nats-server
// (unless REDIS_URL / NATS_URL are given), a coordinator serving the OpenAI API, and N expert
// worker processes, on a generated tiny model unless --model names a checkpoint.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CHECKPOINT_SPEC, writeRandomCheckpoint } from '../../common/checkpoint/checkpoint-writer.js';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { parseFlags } from '../../common/config/flags.js';
import { NatsServer } from '../../common/local/nats-server-process.js';
import { RedisServer } from '../../common/local/redis-server-process.js';
import { createLogger } from '../../common/log.js';
import { startCoordinator, type Coordinator } from '../../coordinator/coordinator-service.js';
import { assertPortFree } from '../port-check.js';
import { ProgressBar } from '../progress.js';
import { WorkerProcess } from '../worker-processes.js';
import { REPO_ROOT } from '../repo-root.js';

const FLAGS = {
  model: { type: 'string', description: 'checkpoint directory (default: a generated tiny gpt-oss with the real vocabulary)' },
  workers: { type: 'int', min: 1, description: 'expert worker processes (default 2)' },
  replication: { type: 'int', min: 1, description: 'workers holding each expert (default 1)' },
  port: { type: 'int', min: 0, description: 'HTTP port (default 8000)' },
} as const;

const DEMO_MODEL = path.join(REPO_ROOT, '.tmp', 'models', 'demo');

export async function runStart(argv: string[]): Promise<void> {
  const f = parseFlags(argv, FLAGS);
  await assertPortFree(f.port ?? 8000, '0.0.0.0');
  const workers = f.workers ?? 2;
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
        denseThreads: 1,
        initialWorkers: workers,
        onDenseTensor: () => denseBar.update(++loaded),
      },
      log,
    );
    const spawned = await Promise.all(
      Array.from({ length: workers }, (_, i) => WorkerProcess.start({ model: model!, natsUrl: natsUrl!, workerId: `worker-${i + 1}`, threads: 1, precision: 'fp32', logLevel: 'warn' })),
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
