// Continuous batching on the real engine: concurrent requests of different lengths (long prompts
// prefilled in chunks beside decoding ones) give exactly what each gives alone; aborts leave the
// batch; a full queue and an overlong request are refused before any work; a conversation whose
// prefix is in Redis skips that prefill and continues with the same tokens.
import assert from 'node:assert/strict';
import { Engine } from '../../common/engine/engine.js';
import { LogitBiasProcessor } from '../../common/engine/logits-processors.js';
import { ConfigError, InvalidRequestError, QueueFullError } from '../../common/errors.js';
import type { GenerationEvent, GenerationParams } from '../../coordinator/engine-core/engine-client.js';
import { Scheduler } from '../../coordinator/engine-core/scheduler.js';
import { SessionPrefixStore } from '../../coordinator/engine-core/session-prefix-store.js';
import { RedisKvSessionStore } from '../../coordinator/session/session-store.js';
import { RedisServer } from '../helpers/redis-server.js';
import { tinyModel } from '../helpers/tiny-model.js';

const GREEDY = { temperature: 0, topP: 1, topLogprobs: 2 };

function prompt(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729 + 1) % 4096);
}

async function collect(events: AsyncIterable<GenerationEvent>): Promise<{ tokens: number[]; logprobs: number[]; done: Extract<GenerationEvent, { type: 'done' }> }> {
  const tokens: number[] = [];
  const logprobs: number[] = [];
  for await (const e of events) {
    if (e.type === 'token') {
      tokens.push(e.token.id);
      logprobs.push(e.token.logprob);
    } else return { tokens, logprobs, done: e };
  }
  throw new Error('stream ended without done');
}

function params(promptIds: number[], maxTokens: number, extra: Partial<GenerationParams> = {}): GenerationParams {
  return { requestId: `r${Math.random()}`, promptIds, maxTokens, sampling: GREEDY, stopTokenIds: [], ...extra };
}

describe('scheduler', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.loadLocal(await tinyModel({ slidingWindow: 8, seed: 11 }));
  });
  after(async () => engine?.close());

  const scheduler = (opts: Partial<ConstructorParameters<typeof Scheduler>[2]> = {}) =>
    new Scheduler(engine.forward, () => engine.newCache(), { modelId: 'm', contextLength: 4096, maxStepTokens: 24, ...opts });

  it('scheduler - 16 concurrent requests of different lengths equal each run alone', async () => {
    const prompts = Array.from({ length: 16 }, (_, i) => prompt(3 + ((i * 13) % 60), i));
    const alone: Awaited<ReturnType<typeof collect>>[] = [];
    for (const p of prompts) alone.push(await collect(scheduler().generate(params(p, 10))));
    const steps: number[] = [];
    const batched = new Scheduler(engine.forward, () => engine.newCache(), { modelId: 'm', contextLength: 4096, maxStepTokens: 24, onStep: (x) => steps.push(x.sequences) });
    const together = await Promise.all(prompts.map((p) => collect(batched.generate(params(p, 10)))));
    together.forEach((r, i) => {
      assert.deepEqual(r.tokens, alone[i]!.tokens, `request ${i}`);
      r.logprobs.forEach((l, j) => assert.ok(Math.abs(l - alone[i]!.logprobs[j]!) < 1e-4));
      assert.equal(r.done.finishReason, 'length');
      assert.equal(r.done.completionTokens, 10);
    });
    assert.ok(Math.max(...steps) >= 8, `steps batched several sequences (max ${Math.max(...steps)})`);
  });

  it('scheduler - stop tokens end a request with finish reason stop, the stop token emitted', async () => {
    const p = prompt(9, 40);
    const free = await collect(scheduler().generate(params(p, 6)));
    const stopAt = free.tokens[2]!;
    const r = await collect(scheduler().generate(params(p, 6, { stopTokenIds: [stopAt] })));
    assert.equal(r.done.finishReason, 'stop');
    assert.deepEqual(r.tokens, free.tokens.slice(0, free.tokens.indexOf(stopAt) + 1));
  });

  it('scheduler - choices in one prefill group run the prompt once and sample as if alone', async () => {
    const p = prompt(40, 3);
    const sampling = (seed: number) => ({ temperature: 1, topP: 1, topLogprobs: 0, seed });
    const alone: Awaited<ReturnType<typeof collect>>[] = [];
    for (let i = 0; i < 3; i++) alone.push(await collect(scheduler().generate(params(p, 6, { sampling: sampling(7 + i) }))));
    let tokensRun = 0;
    const shared = scheduler({ onStep: (x) => (tokensRun += x.tokens) });
    const group = {};
    const together = await Promise.all([0, 1, 2].map((i) => collect(shared.generate(params(p, 6, { sampling: sampling(7 + i), prefillGroup: group })))));
    together.forEach((r, i) => assert.deepEqual(r.tokens, alone[i]!.tokens, `choice ${i}`));
    // The prompt once, then 5 decode tokens per choice (the last sampled token is never fed).
    assert.equal(tokensRun, p.length + 3 * 5);
  });

  it('scheduler - logits processors change only their own sequence', async () => {
    const p = prompt(12, 5);
    const plain = await collect(scheduler().generate(params(p, 4)));
    const banned = plain.tokens[0]!;
    const s = scheduler();
    const bias = new LogitBiasProcessor(new Map([[banned, -1000]]));
    const [biased, unbiased] = await Promise.all([collect(s.generate(params(p, 4, { logitsProcessors: [bias] }))), collect(s.generate(params(p, 4)))]);
    assert.notEqual(biased.tokens[0], banned);
    assert.deepEqual(unbiased.tokens, plain.tokens);
  });

  it('scheduler - an aborted request leaves the batch and the others are unaffected', async () => {
    const s = scheduler();
    const ctl = new AbortController();
    const keep = collect(s.generate(params(prompt(20, 1), 12)));
    const events = s.generate(params(prompt(20, 2), 200, { signal: ctl.signal }));
    let seen = 0;
    let done: GenerationEvent | null = null;
    for await (const e of events) {
      if (e.type === 'token' && ++seen === 3) ctl.abort();
      if (e.type === 'done') done = e;
    }
    assert.equal(done?.type === 'done' && done.finishReason, 'abort');
    assert.ok(seen < 200);
    const alone = await collect(scheduler().generate(params(prompt(20, 1), 12)));
    assert.deepEqual((await keep).tokens, alone.tokens);
  });

  it('scheduler - options left undefined keep their defaults; bad ones are a ConfigError', async () => {
    const s = scheduler({ maxBatchSize: undefined, maxQueued: undefined, maxStepTokens: undefined });
    const r = await collect(s.generate(params(prompt(5, 9), 2)));
    assert.equal(r.tokens.length, 2);
    assert.throws(() => scheduler({ maxBatchSize: 0 }), (e: unknown) => e instanceof ConfigError && e.field === 'maxBatchSize');
  });

  it('scheduler - a full queue and an overlong request are refused up front', async () => {
    const s = scheduler({ maxBatchSize: 1, maxQueued: 1, contextLength: 64 });
    assert.throws(() => s.generate(params(prompt(60, 3), 10)), (e: unknown) => e instanceof InvalidRequestError && e.code === 'context_length_exceeded');
    assert.throws(() => s.generate(params([5000], 1)), (e: unknown) => e instanceof InvalidRequestError && e.param === 'prompt');
    const a = collect(s.generate(params(prompt(5, 4), 3)));
    const b = collect(s.generate(params(prompt(5, 5), 3)));
    assert.throws(() => s.generate(params(prompt(5, 6), 3)), QueueFullError);
    await Promise.all([a, b]);
  });

  describe('with a Redis session store', () => {
    let redis: RedisServer;
    before(async () => {
      redis = await RedisServer.start();
    });
    after(async () => redis?.stop());

    it('scheduler - a continued conversation loads its prefix KV from Redis and continues with the same tokens', async () => {
      const c = engine.config;
      const mkStore = () => new RedisKvSessionStore({ url: redis.url, keyPrefix: `sched-${process.pid}`, modelFingerprint: engine.checkpoint.fingerprint, numLayers: c.numLayers, kvDim: c.numKvHeads * c.headDim });
      const first = mkStore();
      await first.waitUntilReady();
      const turn1 = prompt(40, 7);
      const s1 = scheduler({ prefixStore: new SessionPrefixStore(first) });
      const r1 = await collect(s1.generate(params(turn1, 8)));
      assert.equal(r1.done.cachedPromptTokens, 0);
      await new Promise((r) => setTimeout(r, 200)); // persistence runs after the response
      await first.close();
      // "Another replica": a new store and scheduler; the next turn extends the conversation.
      const turn2 = [...turn1, ...r1.tokens, ...prompt(7, 8)];
      const second = mkStore();
      await second.waitUntilReady();
      const r2 = await collect(scheduler({ prefixStore: new SessionPrefixStore(second) }).generate(params(turn2, 8)));
      await second.close();
      const fresh = await collect(scheduler().generate(params(turn2, 8)));
      assert.ok(r2.done.cachedPromptTokens >= 32, `prefill skipped for ${r2.done.cachedPromptTokens} tokens`);
      assert.equal(r2.done.cachedPromptTokens % 16, 0);
      assert.deepEqual(r2.tokens, fresh.tokens);
    });
  });
});
