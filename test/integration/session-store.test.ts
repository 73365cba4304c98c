// The session store against a real redis-server (test/helpers/redis-server.ts): KV blocks from a
// real KvCache (2 layers, kvDim 32, deterministic values; no model), stored responses, the memory
// budget, and Redis going away and coming back.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { KvCache } from '../../common/engine/kv-cache.js';
import { SessionStoreError } from '../../common/errors.js';
import { kvBlockBytes } from '../../coordinator/session/kv-block-codec.js';
import type { SessionLog } from '../../coordinator/session/redis-store-base.js';
import { RedisResponseStore } from '../../coordinator/session/redis-response-store.js';
import { RedisKvSessionStore, type RedisKvSessionStoreOptions } from '../../coordinator/session/index.js';
import { RedisServer } from '../helpers/redis-server.js';

const NUM_LAYERS = 2;
const KV_DIM = 32;
const BLOCK = 16;
const FINGERPRINT = 'test-model-v1';
const BLOCK_BYTES = kvBlockBytes({ numLayers: NUM_LAYERS, kvDim: KV_DIM, blockSize: BLOCK });

/** A log that remembers what it was told. */
class RecordingLog implements SessionLog {
  readonly lines: { level: string; msg: string; obj: object }[] = [];
  debug(obj: object, msg: string): void {
    this.lines.push({ level: 'debug', msg, obj });
  }
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', msg, obj });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', msg, obj });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', msg, obj });
  }
  count(level: string, pattern: RegExp): number {
    return this.lines.filter((l) => l.level === level && pattern.test(l.msg)).length;
  }
}

/**
 * The KV a model would have produced for `tokens`: a deterministic function of the whole prefix
 * (a running mix of the token ids), the position, layer, dim and k/v, so diverging conversations
 * differ from the divergence on.
 */
function filledCache(tokens: readonly number[]): KvCache {
  const cache = new KvCache(NUM_LAYERS, KV_DIM, 8);
  cache.ensureCapacity(tokens.length);
  let mix = 0;
  for (let p = 0; p < tokens.length; p++) {
    mix = (mix * 31 + tokens[p]! + 7) % 1_000_003;
    for (let l = 0; l < NUM_LAYERS; l++) {
      for (let d = 0; d < KV_DIM; d++) {
        cache.layerKeys(l)[p * KV_DIM + d] = Math.sin(mix * 0.001 + l * 3.1 + d * 0.17) * 10;
        cache.layerValues(l)[p * KV_DIM + d] = Math.cos(mix * 0.002 + l * 1.3 + d * 0.29) / 3;
      }
    }
  }
  cache.commit(tokens);
  return cache;
}

function sameBytes(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${what}: bytes differ`);
}

/** Positions [0, n) of every layer of two caches are bit-identical. */
function assertSamePrefix(got: KvCache, want: KvCache, n: number): void {
  assert.deepEqual(got.tokens.slice(0, n), want.tokens.slice(0, n));
  for (let l = 0; l < NUM_LAYERS; l++) {
    sameBytes(got.layerKeys(l).subarray(0, n * KV_DIM), want.layerKeys(l).subarray(0, n * KV_DIM), `layer ${l} keys`);
    sameBytes(got.layerValues(l).subarray(0, n * KV_DIM), want.layerValues(l).subarray(0, n * KV_DIM), `layer ${l} values`);
  }
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not true within ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

describe('session store (redis)', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let admin: Redis;
  let prefix: string;
  let seq = 0;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    server = await RedisServer.start();
    admin = new Redis(server.url, { lazyConnect: true });
    await admin.connect();
  });

  after(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  beforeEach(() => {
    prefix = `test-${process.pid}-${++seq}`;
  });

  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function openStore(options: Partial<RedisKvSessionStoreOptions> = {}, url = server.url): Promise<RedisKvSessionStore> {
    const store = new RedisKvSessionStore({ url, keyPrefix: prefix, modelFingerprint: FINGERPRINT, numLayers: NUM_LAYERS, kvDim: KV_DIM, ...options });
    cleanups.push(() => store.close());
    await store.waitUntilReady();
    return store;
  }

  async function blockKeyCount(): Promise<number> {
    let n = 0;
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:kv:*`, 'COUNT', 1000);
      n += keys.length;
      cursor = next;
    } while (cursor !== '0');
    return n;
  }

  it('session - persist then lookup and restore on a fresh cache (another replica) gives bit-identical keys and values', async () => {
    const writer = await openStore();
    const reader = await openStore();
    const tokens = range(500, 50);
    const cache = filledCache(tokens);
    await writer.persist(tokens, cache, 0);
    assert.equal(writer.stats().blocksWritten, 3);

    const found = await reader.lookup(tokens);
    assert.equal(found.matchedTokens, 48);
    assert.equal(found.blocks.length, 3);
    const fresh = new KvCache(NUM_LAYERS, KV_DIM);
    assert.equal(reader.restore(fresh, tokens, found.blocks), 48);
    assert.equal(fresh.length, 48);
    assertSamePrefix(fresh, cache, 48);

    // The conversation continued: its stored prefix still matches.
    const longer = [...tokens, ...range(9000, 30)];
    assert.equal((await reader.lookup(longer)).matchedTokens, 48);
    assert.equal((await reader.lookup(range(500, 15))).matchedTokens, 0);
    assert.deepEqual(
      { lookups: reader.stats().lookups, lookupHits: reader.stats().lookupHits, matchedTokens: reader.stats().matchedTokens },
      { lookups: 3, lookupHits: 2, matchedTokens: 96 },
    );
  });

  it('session - restore skips the blocks a cache already holds and appends the rest', async () => {
    const store = await openStore();
    const tokens = range(1, 64);
    const cache = filledCache(tokens);
    await store.persist(tokens, cache, 0);
    const { blocks } = await store.lookup(tokens);
    const partial = new KvCache(NUM_LAYERS, KV_DIM);
    store.restore(partial, tokens, blocks.slice(0, 1));
    assert.equal(store.restore(partial, tokens, blocks), 64);
    assertSamePrefix(partial, cache, 64);
  });

  it('session - a diverging conversation matches only the full blocks of the shared prefix', async () => {
    const store = await openStore();
    const a = range(100, 64);
    await store.persist(a, filledCache(a), 0);
    const b = [...a.slice(0, 40), ...range(7000, 24)];
    const found = await store.lookup(b);
    assert.equal(found.matchedTokens, 32);
    const fresh = new KvCache(NUM_LAYERS, KV_DIM);
    store.restore(fresh, b, found.blocks);
    assertSamePrefix(fresh, filledCache(b), 32);
  });

  it('session - two conversations sharing a prefix store the shared blocks once', async () => {
    const store = await openStore();
    const a = range(100, 64);
    const b = [...a.slice(0, 32), ...range(7000, 32)];
    await store.persist(a, filledCache(a), 0);
    await store.persist(b, filledCache(b), 0);
    assert.equal(await blockKeyCount(), 6);
    assert.equal(Number(await admin.get(`${prefix}:meta:kv-bytes`)), 6 * BLOCK_BYTES);
    assert.equal(await admin.zcard(`${prefix}:meta:kv-lru`), 6);
    const s = store.stats();
    assert.equal(s.blocksWritten, 6);
    assert.equal(s.blocksRefreshed, 2);
    assert.equal(s.bytesWritten, 6 * BLOCK_BYTES);
  });

  it('session - persisting from a later token writes only the new blocks and refreshes the earlier ones', async () => {
    const store = await openStore();
    const turn1 = range(300, 40);
    const cache = filledCache(turn1);
    await store.persist(turn1, cache, 0);
    const turn2 = [...turn1, ...range(4000, 30)];
    const cache2 = filledCache(turn2);
    await store.persist(turn2, cache2, 40);
    const s = store.stats();
    assert.equal(s.blocksWritten, 2 + 2, 'blocks 0-1, then 2-3 (block 2 straddles token 40)');
    assert.equal(s.blocksRefreshed, 2);
    const fresh = new KvCache(NUM_LAYERS, KV_DIM);
    store.restore(fresh, turn2, (await store.lookup(turn2)).blocks);
    assert.equal(fresh.length, 64);
    assertSamePrefix(fresh, cache2, 64);
  });

  it('session - blocks carry the configured TTL and a lookup hit refreshes it', async () => {
    const store = await openStore({ ttlSeconds: 120 });
    const tokens = range(10, 32);
    await store.persist(tokens, filledCache(tokens), 0);
    const keys = store.blockKeys(tokens);
    assert.equal(keys.length, 2);
    for (const key of keys) {
      const pttl = await admin.pttl(key);
      assert.ok(pttl > 115_000 && pttl <= 120_000, `pttl ${pttl}`);
    }
    await admin.pexpire(keys[0]!, 5000);
    await store.lookup(tokens);
    assert.ok((await admin.pttl(keys[0]!)) > 115_000);
  });

  it('session - the memory budget evicts the least recently used blocks, deepest first', async () => {
    const store = await openStore({ maxMemoryBytes: 5 * BLOCK_BYTES });
    const stored = async (tokens: number[]): Promise<boolean[]> => Promise.all(store.blockKeys(tokens).map(async (k) => (await admin.exists(k)) === 1));
    const a = range(100, 32);
    const b = range(200, 32);
    const c = range(300, 32);
    await store.persist(a, filledCache(a), 0);
    await sleep(5);
    await store.persist(b, filledCache(b), 0);
    await sleep(5);
    assert.equal((await store.lookup(a)).matchedTokens, 32); // a is now more recent than b
    await sleep(5);
    await store.persist(c, filledCache(c), 0); // 6 blocks > 5: one goes
    assert.equal(store.stats().blocksEvicted, 1);
    // Checked with EXISTS, not lookup: a lookup would itself refresh what it finds.
    assert.deepEqual([await stored(b), await stored(a), await stored(c)], [[true, false], [true, true], [true, true]], 'b lost its deeper block');
    assert.equal(await blockKeyCount(), 5);
    assert.equal(Number(await admin.get(`${prefix}:meta:kv-bytes`)), 5 * BLOCK_BYTES);

    await sleep(5);
    const d = range(400, 48);
    await store.persist(d, filledCache(d), 0); // 8 blocks > 5: b's first block, then a's two go
    assert.equal(store.stats().blocksEvicted, 4);
    assert.deepEqual([await stored(b), await stored(a), await stored(c), await stored(d)], [
      [false, false],
      [false, false],
      [true, true],
      [true, true, true],
    ]);
    assert.equal((await store.lookup(d)).matchedTokens, 48);
    assert.equal(await blockKeyCount(), 5);
    assert.equal(await admin.hlen(`${prefix}:meta:kv-sizes`), 5);
  });

  it('session - a stored block that does not fit the model is a miss from there on, with a warning', async () => {
    const log = new RecordingLog();
    const store = await openStore({ logger: log });
    const tokens = range(50, 48);
    await store.persist(tokens, filledCache(tokens), 0);
    const keys = store.blockKeys(tokens);
    await admin.set(keys[1]!, JSON.stringify([1.5, 2.5]));
    const found = await store.lookup(tokens);
    assert.equal(found.matchedTokens, 16);
    assert.equal(store.stats().blocksRejected, 1);
    assert.equal(log.count('warn', /does not fit this model/), 1);

    // A store for another layout under the same fingerprint (a misconfiguration) misses too.
    const other = await openStore({ kvDim: KV_DIM * 2 });
    assert.equal((await other.lookup(tokens)).matchedTokens, 0);

    // restore stops at a bad block instead of throwing.
    const blocks = [found.blocks[0]!, Buffer.from('GKVB-garbage')];
    const fresh = new KvCache(NUM_LAYERS, KV_DIM);
    assert.equal(store.restore(fresh, tokens, blocks), 16);
    assert.equal(store.stats().blocksRejected, 2);
  });

  it('session - misuse is rejected with SessionStoreError', async () => {
    const store = await openStore();
    const tokens = range(1, 32);
    const wrongLayout = new KvCache(NUM_LAYERS + 1, KV_DIM);
    await assert.rejects(store.persist(tokens, wrongLayout, 0), (err: unknown) => err instanceof SessionStoreError && err.field === 'cache');
    await assert.rejects(store.persist(range(2, 32), filledCache(tokens), 0), (err: unknown) => err instanceof SessionStoreError && err.field === 'tokens');
    assert.throws(() => store.restore(wrongLayout, tokens, []), SessionStoreError);
    const odd = filledCache(range(1, 5));
    assert.throws(() => store.restore(odd, tokens, []), /not a whole number of 16-token blocks/);
  });

  it('session - Redis killed: lookup misses and persist is a no-op within 1 s, health says unreachable, and the store recovers after restart', async () => {
    const own = await RedisServer.start();
    cleanups.push(() => own.stop());
    const log = new RecordingLog();
    const store = await openStore({ logger: log }, own.url);
    const responses = new RedisResponseStore({ url: own.url, keyPrefix: prefix, logger: log });
    cleanups.push(() => responses.close());
    await responses.waitUntilReady();
    const tokens = range(700, 40);
    const cache = filledCache(tokens);
    await store.persist(tokens, cache, 0);
    assert.equal((await store.lookup(tokens)).matchedTokens, 32);
    assert.deepEqual(store.health(), { ok: true, detail: 'redis ok' });

    await own.kill();
    for (let i = 0; i < 3; i++) {
      const miss = await timed(() => store.lookup(tokens));
      assert.equal(miss.value.matchedTokens, 0);
      assert.ok(miss.ms < 1000, `lookup took ${miss.ms} ms`);
      const noop = await timed(() => store.persist(tokens, cache, 0));
      assert.ok(noop.ms < 1000, `persist took ${noop.ms} ms`);
      const get = await timed(() => responses.get('resp_1'));
      assert.equal(get.value, null);
      assert.ok(get.ms < 1000, `get took ${get.ms} ms`);
      await responses.put({ id: 'resp_1' }, 60);
    }
    const health = store.health();
    assert.equal(health.ok, false);
    assert.match(health.detail, /^redis unreachable: /);
    assert.ok(store.stats().unavailable >= 6);
    await sleep(300); // reconnect attempts keep failing meanwhile
    assert.equal(log.lines.filter((l) => l.level === 'warn' && /redis unreachable/.test(l.msg) && (l.obj as { component?: string }).component === 'kv-session-store').length, 1);

    await own.restart();
    await eventually('store healthy again', () => store.health().ok);
    assert.equal(log.count('info', /redis reachable again/), 2);
    // The restarted server is empty (no persistence): write again, then it is found again.
    assert.equal((await store.lookup(tokens)).matchedTokens, 0);
    await store.persist(tokens, cache, 0);
    const found = await store.lookup(tokens);
    assert.equal(found.matchedTokens, 32);
    const fresh = new KvCache(NUM_LAYERS, KV_DIM);
    store.restore(fresh, tokens, found.blocks);
    assertSamePrefix(fresh, cache, 32);
    await responses.put({ id: 'resp_1' }, 60);
    assert.deepEqual(await responses.get('resp_1'), { id: 'resp_1' });
  });

  it('session - a store created while Redis is down answers misses and connects when Redis comes up', async () => {
    const own = await RedisServer.start();
    cleanups.push(() => own.stop());
    await own.kill();
    const store = new RedisKvSessionStore({ url: own.url, keyPrefix: prefix, modelFingerprint: FINGERPRINT, numLayers: NUM_LAYERS, kvDim: KV_DIM });
    cleanups.push(() => store.close());
    const miss = await timed(() => store.lookup(range(1, 32)));
    assert.equal(miss.value.matchedTokens, 0);
    assert.ok(miss.ms < 1000);
    await assert.rejects(store.waitUntilReady(300), SessionStoreError);
    await own.restart();
    await store.waitUntilReady(5000);
    assert.equal(store.health().ok, true);
  });

  it('session - close is idempotent and a closed store answers misses', async () => {
    const store = await openStore();
    await Promise.all([store.close(), store.close()]);
    await store.close();
    assert.equal((await store.lookup(range(1, 32))).matchedTokens, 0);
    assert.deepEqual(store.health(), { ok: false, detail: 'closed' });
    await assert.rejects(store.waitUntilReady(), SessionStoreError);
  });

  it('session - stored responses round trip as JSON with a TTL, and unknown or corrupt ids are misses', async () => {
    const log = new RecordingLog();
    const store = new RedisResponseStore<{ id: string; output: { text: string }[]; usage: { total_tokens: number } }>({ url: server.url, keyPrefix: prefix, logger: log });
    cleanups.push(() => store.close());
    await store.waitUntilReady();
    const resp = { id: 'resp_abc', output: [{ text: 'héllo "world"' }], usage: { total_tokens: 42 } };
    await store.put(resp, 90);
    assert.deepEqual(await store.get('resp_abc'), resp);
    const ttl = await admin.ttl(`${prefix}:resp:resp_abc`);
    assert.ok(ttl > 85 && ttl <= 90, `ttl ${ttl}`);
    assert.equal(await store.get('resp_missing'), null);
    await admin.set(`${prefix}:resp:resp_bad`, '{not json');
    assert.equal(await store.get('resp_bad'), null);
    assert.equal(log.count('warn', /treated as missing/), 1);
    await assert.rejects(store.put(resp, 0), (err: unknown) => err instanceof SessionStoreError && err.field === 'ttlSeconds');
  });
});
