// The served cluster with real parts: a coordinator (HTTP API, scheduler, Redis session state) and
// two expert worker processes found over a real nats-server, driven by the official openai client.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createLogger } from '../../common/log.js';
import { NatsServer } from '../helpers/nats-server.js';
import { RedisServer } from '../helpers/redis-server.js';
import { WorkerProcess } from '../../cli/worker-processes.js';
import { startCoordinator, type Coordinator } from '../../coordinator/coordinator-service.js';
import { tinyModel } from '../helpers/tiny-model.js';

const MODEL = 'gptoss-test';

describe('cluster serving (openai client, real workers, nats, redis)', () => {
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

  before(async () => {
    model = await tinyModel({ vocab: 201088, seed: 21 });
    nats = await NatsServer.start();
    redis = await RedisServer.start();
    workers = await Promise.all([1, 2].map((i) => WorkerProcess.start({ model, natsUrl: nats.url, workerId: `serve-${i}`, threads: 1, precision: 'fp32', heartbeatMs: 250 })));
  });

  after(async () => {
    await coordinator?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    await nats?.stop();
  });

  it('cluster serving - chat, streaming chat, completions, models and responses through the cluster', async () => {
    const client = await start();
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), [MODEL]);
    const messages = [{ role: 'user' as const, content: 'Say something.' }];
    const chat = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0 });
    assert.equal(chat.choices.length, 1);
    assert.equal(chat.usage!.completion_tokens, 12);
    let streamed = '';
    let reasoning = '';
    for await (const chunk of await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0, stream: true })) {
      const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      streamed += delta?.content ?? '';
      reasoning += delta?.reasoning_content ?? '';
    }
    assert.equal(streamed, chat.choices[0]!.message.content ?? '');
    assert.equal(reasoning, (chat.choices[0]!.message as { reasoning_content?: string | null }).reasoning_content ?? '');
    const completion = await client.completions.create({ model: MODEL, prompt: [1, 2, 3, 4, 5], max_tokens: 6, temperature: 0 });
    assert.equal(completion.usage!.completion_tokens, 6);
    const response = await client.responses.create({ model: MODEL, input: 'Hello', max_output_tokens: 8, temperature: 0 });
    assert.equal(response.status === 'completed' || response.status === 'incomplete', true);
    const health = await fetch(`${coordinator!.url}/health`);
    assert.equal(health.status, 200);
  });

  it('cluster serving - 16 simultaneous greedy streams each produce exactly what they produce alone', async () => {
    const client = coordinator ? new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: 'unused', maxRetries: 0 }) : await start();
    const prompts = Array.from({ length: 16 }, (_, i) => Array.from({ length: 4 + ((i * 7) % 23) }, (_, j) => (i * 1009 + j * 31) % 199_000));
    const run = async (prompt: number[]): Promise<string> => {
      let text = '';
      const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 10, temperature: 0, stream: true });
      for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
      return text;
    };
    const alone: string[] = [];
    for (const p of prompts) alone.push(await run(p));
    const together = await Promise.all(prompts.map(run));
    assert.deepEqual(together, alone);
    assert.ok(new Set(alone).size > 1, 'different prompts give different outputs');
  });

  it('cluster serving - after a coordinator restart a continued conversation loads its KV from Redis and continues with the same tokens', async () => {
    let client = coordinator ? new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: 'unused', maxRetries: 0 }) : await start();
    const turn1 = [{ role: 'user' as const, content: 'Tell me a long story about a lighthouse keeper and the sea.' }];
    const first = await client.chat.completions.create({ model: MODEL, messages: turn1, max_tokens: 24, temperature: 0 });
    const answer = first.choices[0]!.message;
    const turn2 = [...turn1, { role: 'assistant' as const, content: answer.content ?? '' }, { role: 'user' as const, content: 'And then?' }];
    // The uninterrupted run: the same coordinator answers turn 2 without Redis involvement checks.
    const uninterrupted = await client.chat.completions.create({ model: MODEL, messages: turn2, max_tokens: 12, temperature: 0, logprobs: true });
    await new Promise((r) => setTimeout(r, 300)); // sessions persist after the response
    await coordinator!.close();
    coordinator = null;
    client = await start();
    const resumed = await client.chat.completions.create({ model: MODEL, messages: turn2, max_tokens: 12, temperature: 0, logprobs: true });
    const cached = resumed.usage!.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached >= 64, `prefill of ${cached} of ${resumed.usage!.prompt_tokens} prompt tokens skipped`);
    assert.equal(resumed.choices[0]!.message.content, uninterrupted.choices[0]!.message.content);
    assert.deepEqual(
      resumed.choices[0]!.logprobs?.content?.map((t) => t.token),
      uninterrupted.choices[0]!.logprobs?.content?.map((t) => t.token),
    );
  });
});
