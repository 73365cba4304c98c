// Redis is optional state: with Redis killed the coordinator keeps serving (health stays 200 and
// says the session store is degraded); once Redis is back the same client reconnects, a
// conversation persists again, and a restarted coordinator resumes it from Redis.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createLogger } from '../../common/log.js';
import { NatsServer } from '../helpers/nats-server.js';
import { RedisServer } from '../helpers/redis-server.js';
import { WorkerProcess } from '../../cli/worker-processes.js';
import { startCoordinator, type Coordinator } from '../../coordinator/coordinator-service.js';
import { tinyModel } from '../helpers/tiny-model.js';

const MODEL = 'gptoss-test';

interface Health {
  status: number;
  body: { status: string; checks: Record<string, { ok: boolean; detail?: string }> };
}

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('faults: redis-server down and back', () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let workers: WorkerProcess[] = [];
  let coordinator: Coordinator | null = null;
  let model: string;
  const log = createLogger('test', 'silent');

  const start = async (): Promise<OpenAI> => {
    coordinator = await startCoordinator(
      { model, servedModelName: MODEL, nats: { servers: nats.url }, redisUrl: redis.url, host: '127.0.0.1', port: 0, replication: 1, denseThreads: 1, initialWorkers: 2 },
      log,
    );
    await coordinator.experts.settled(2, 60_000);
    return new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  };
  const health = async (): Promise<Health> => {
    const r = await fetch(`${coordinator!.url}/health`);
    return { status: r.status, body: (await r.json()) as Health['body'] };
  };

  before(async () => {
    model = await tinyModel({ vocab: 201088, seed: 21 });
    nats = await NatsServer.start();
    redis = await RedisServer.start();
    workers = await Promise.all([1, 2].map((i) => WorkerProcess.start({ model, natsUrl: nats.url, workerId: `redis-fault-${i}`, threads: 1, precision: 'fp32', heartbeatMs: 250 })));
  });

  after(async () => {
    await coordinator?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    await nats?.stop();
  });

  it('faults - serving goes on without Redis, and persistence resumes when Redis returns', async () => {
    let client = await start();
    const h0 = await health();
    assert.equal(h0.status, 200);
    assert.equal(h0.body.checks['session_store']?.detail, 'connected');

    // Redis gone: requests still succeed, health stays 200 and reports the store degraded.
    await redis.kill();
    const degraded = await until(health, (h) => h.body.checks['session_store']?.detail?.startsWith('degraded') ?? false, 15_000, 'the session store to report degraded');
    assert.equal(degraded.status, 200);
    assert.equal(degraded.body.status, 'ok');
    assert.equal(degraded.body.checks['session_store']!.ok, true);
    const t0 = Date.now();
    const messages = [{ role: 'user' as const, content: 'Describe the tides at a small harbour, in detail, hour by hour.' }];
    const whileDown = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0 });
    assert.equal(whileDown.usage!.completion_tokens, 12);
    assert.equal(whileDown.usage!.prompt_tokens_details?.cached_tokens ?? 0, 0, 'nothing restored without Redis');
    const completion = await client.completions.create({ model: MODEL, prompt: [1, 2, 3, 4, 5, 6, 7, 8], max_tokens: 6, temperature: 0 });
    assert.equal(completion.usage!.completion_tokens, 6);
    assert.ok(Date.now() - t0 < 30_000, `requests did not wait on Redis (${Date.now() - t0} ms)`);
    assert.equal((await health()).status, 200);

    // Redis back (empty): the coordinator's client reconnects by itself.
    await redis.restart();
    await until(health, (h) => h.body.checks['session_store']?.detail === 'connected', 30_000, 'the session store to reconnect');

    // A conversation persists again and a restarted coordinator resumes it from Redis.
    const first = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0 });
    const turn2 = [...messages, { role: 'assistant' as const, content: first.choices[0]!.message.content ?? '' }, { role: 'user' as const, content: 'And at night?' }];
    const uninterrupted = await client.chat.completions.create({ model: MODEL, messages: turn2, max_tokens: 10, temperature: 0 });
    await new Promise((r) => setTimeout(r, 300)); // sessions persist after the response
    await coordinator!.close();
    coordinator = null;
    client = await start();
    const resumed = await client.chat.completions.create({ model: MODEL, messages: turn2, max_tokens: 10, temperature: 0 });
    const cached = resumed.usage!.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached > 0, `the resumed conversation restored ${cached} of ${resumed.usage!.prompt_tokens} prompt tokens from Redis`);
    assert.equal(resumed.choices[0]!.message.content, uninterrupted.choices[0]!.message.content);
  });
});
