// Coordinator failover: two coordinator processes behind one address (a TCP proxy that sends each
// connection to the first replica that accepts it). The replica serving a conversation is killed
// with SIGKILL; the next turn lands on the other, continues from the KV blocks in Redis and
// answers with the same tokens as an uninterrupted run.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { WorkerProcess } from '../../cli/worker-processes.js';
import { NatsServer } from '../helpers/nats-server.js';
import { RedisServer } from '../helpers/redis-server.js';
import { CLI } from '../helpers/paths.js';
import { tinyModel } from '../helpers/tiny-model.js';

const MODEL = 'failover-test';

interface CoordinatorProcess {
  child: ChildProcess;
  port: number;
}

function startCoordinatorProcess(model: string, natsUrl: string, redisUrl: string): Promise<CoordinatorProcess> {
  const child = spawn(process.execPath, [CLI, 'coordinator', '--model', model, '--served-model-name', MODEL, '--nats', natsUrl, '--redis', redisUrl, '--host', '127.0.0.1', '--port', '0', '--threads', '1', '--min-workers', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        if (msg.event === 'coordinator-ready') resolve({ child, port: Number(new URL(msg.url!).port) });
      } catch {
        // not a control line
      }
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited (${code}):\n${stderr}`)));
  });
}

/** One address in front of the replicas: each connection goes to the first that accepts it. */
function failoverProxy(backends: () => number[]): Promise<net.Server> {
  const server = net.createServer((client) => {
    const tryNext = (ports: number[]): void => {
      const port = ports[0];
      if (port === undefined) return void client.destroy();
      const upstream = net.connect({ port, host: '127.0.0.1' });
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
      });
      upstream.on('error', () => (connected ? client.destroy() : tryNext(ports.slice(1))));
    };
    tryNext(backends());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function ready(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`coordinator on ${port} never became ready`);
}

describe('faults: coordinator failover behind one address', () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let workers: WorkerProcess[] = [];
  const coordinators: CoordinatorProcess[] = [];
  let proxy: net.Server | null = null;

  before(async () => {
    const model = await tinyModel({ vocab: 201088, seed: 31 });
    nats = await NatsServer.start();
    redis = await RedisServer.start();
    const starting = [startCoordinatorProcess(model, nats.url, redis.url), startCoordinatorProcess(model, nats.url, redis.url)];
    workers = await Promise.all([1, 2].map((i) => WorkerProcess.start({ model, natsUrl: nats.url, workerId: `fo-${i}`, threads: 1, precision: 'fp32', heartbeatMs: 250 })));
    coordinators.push(...(await Promise.all(starting)));
    await Promise.all(coordinators.map((c) => ready(c.port)));
    proxy = await failoverProxy(() => coordinators.filter((c) => c.child.exitCode === null && c.child.signalCode === null).map((c) => c.port));
  });

  after(async () => {
    proxy?.close();
    for (const c of coordinators) c.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    await nats?.stop();
  });

  it('faults - killing the replica serving a conversation: the other continues it from Redis with the same tokens', async () => {
    const direct = (port: number) => new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
    const turn1 = [{ role: 'user' as const, content: 'Describe, at length, a walk along a windy northern beach at dawn.' }];
    const ask = (client: OpenAI, messages: OpenAI.ChatCompletionMessageParam[], max: number) => client.chat.completions.create({ model: MODEL, messages, max_tokens: max, temperature: 0 });

    // The uninterrupted run, on the first replica alone; then forget every stored block.
    const first = direct(coordinators[0]!.port);
    const a1 = await ask(first, turn1, 24);
    const turn2 = [...turn1, { role: 'assistant' as const, content: a1.choices[0]!.message.content ?? '' }, { role: 'user' as const, content: 'Go on.' }];
    const uninterrupted = await ask(first, turn2, 12);
    await new Promise((r) => setTimeout(r, 300));
    const flush = new Redis(redis.url);
    await flush.flushall();
    await flush.quit();

    // Through the shared address: turn 1 lands on the first replica, which is then killed.
    const shared = new OpenAI({ baseURL: `http://127.0.0.1:${(proxy!.address() as net.AddressInfo).port}/v1`, apiKey: 'unused', maxRetries: 0 });
    const b1 = await ask(shared, turn1, 24);
    assert.equal(b1.choices[0]!.message.content, a1.choices[0]!.message.content);
    await new Promise((r) => setTimeout(r, 300)); // the finished sequence persists its blocks
    coordinators[0]!.child.kill('SIGKILL');
    await new Promise((r) => coordinators[0]!.child.once('exit', r));

    const b2 = await ask(shared, turn2, 12);
    const cached = b2.usage!.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached >= 48, `the surviving replica restored ${cached} of ${b2.usage!.prompt_tokens} prompt tokens from Redis`);
    assert.equal(b2.choices[0]!.message.content, uninterrupted.choices[0]!.message.content);
    assert.equal(b2.usage!.completion_tokens, uninterrupted.usage!.completion_tokens);
  });
});
