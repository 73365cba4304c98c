// Conversation KV caches persisted in Redis as fixed-size token blocks named by their chained
// prefix hash (block-hash.ts), so a shared prefix is stored once and any coordinator replica can
// resume a conversation without recomputing its prefill.
//
// Flow on a request: `lookup(promptTokens)` → `restore(freshCache, promptTokens, blocks)` →
// prefill only the tokens after the restored ones → after the turn `persist(cache.tokens, cache,
// persistedSoFar)`. Redis down means lookups miss and persists are dropped; nothing waits on it.
import type { KvCache } from '../../common/engine/kv-cache.js';
import { SessionStoreError, WireFormatError } from '../../common/errors.js';
import { blockHashes, fullBlockCount } from './block-hash.js';
import { decodeKvBlock, encodeKvBlock, kvBlockBytes, validateKvBlockHeader, type KvBlockLayout } from './kv-block-codec.js';
import { lruScore, PERSIST_BLOCKS_LUA } from './kv-scripts.js';
import { SessionKeys } from './keys.js';
import { parseKvSessionStoreOptions, type RedisKvSessionStoreOptions, type ResolvedKvSessionStoreOptions } from './options.js';
import { RedisBackedStore, type StoreHealth } from './redis-store-base.js';

export interface KvLookup {
  /** Tokens covered by `blocks`: a multiple of the block size. */
  readonly matchedTokens: number;
  /** Encoded blocks (kv-block-codec.ts) of the longest stored prefix, in order. */
  readonly blocks: Buffer[];
}

export interface KvSessionStats {
  readonly lookups: number;
  /** Lookups that matched at least one block. */
  readonly lookupHits: number;
  readonly matchedTokens: number;
  readonly persists: number;
  readonly blocksWritten: number;
  readonly blocksRefreshed: number;
  readonly bytesWritten: number;
  /** Blocks deleted to keep the memory budget (by this store's writes). */
  readonly blocksEvicted: number;
  /** Blocks found but rejected by the codec (wrong model layout, truncated). */
  readonly blocksRejected: number;
  /** Operations answered with a miss / no-op because Redis was unreachable or failed. */
  readonly unavailable: number;
}

export interface KvSessionStore {
  /** Tokens per block. */
  readonly blockSize: number;
  /**
   * The longest prefix of `tokens` made of full blocks present in the store, fetched in one round
   * trip (hits are refreshed: TTL and LRU). A caller that needs logits for the last prompt token
   * passes `tokens.slice(0, -1)` so that token is always recomputed. Never rejects: a miss.
   */
  lookup(tokens: readonly number[]): Promise<KvLookup>;
  /**
   * Stores the full blocks of `tokens` (whose KV `cache` holds) from the block containing
   * `fromToken` on, skipping blocks already stored, and refreshes the blocks before it, in one
   * round trip. Redis down: a no-op. Rejects with SessionStoreError only when misused (a cache of
   * another layout, tokens that differ from the cache's).
   */
  persist(tokens: readonly number[], cache: KvCache, fromToken: number): Promise<void>;
  /**
   * Appends `blocks` (from lookup) to `cache`, which must hold a whole-block prefix of `tokens`
   * (usually nothing). Blocks the cache already holds are skipped; a block that fails to decode
   * ends the restore there (with a warning). Returns the tokens the cache holds afterwards.
   */
  restore(cache: KvCache, tokens: readonly number[], blocks: readonly Buffer[]): number;
  stats(): KvSessionStats;
  health(): StoreHealth;
  waitUntilReady(timeoutMs?: number): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

type PersistScript = (numKeys: number, ...args: (string | number | Buffer)[]) => Promise<[number, number, number]>;

export class RedisKvSessionStore extends RedisBackedStore implements KvSessionStore {
  readonly options: ResolvedKvSessionStoreOptions;
  readonly keys: SessionKeys;
  readonly layout: KvBlockLayout;
  private readonly counters = {
    lookups: 0,
    lookupHits: 0,
    matchedTokens: 0,
    persists: 0,
    blocksWritten: 0,
    blocksRefreshed: 0,
    bytesWritten: 0,
    blocksEvicted: 0,
    blocksRejected: 0,
    unavailable: 0,
  };

  constructor(options: RedisKvSessionStoreOptions) {
    const resolved = parseKvSessionStoreOptions(options);
    super('kv-session-store', resolved);
    this.options = resolved;
    this.keys = new SessionKeys(resolved.keyPrefix);
    this.layout = { numLayers: resolved.numLayers, kvDim: resolved.kvDim, blockSize: resolved.blockSize };
    this.redis.defineCommand('gptossPersistKvBlocks', { lua: PERSIST_BLOCKS_LUA });
  }

  get blockSize(): number {
    return this.layout.blockSize;
  }

  /** The Redis key of each full block of `tokens`, in order. */
  blockKeys(tokens: readonly number[]): string[] {
    return blockHashes(tokens, this.blockSize).map((h) => this.keys.kvBlock(this.options.modelFingerprint, h));
  }

  async lookup(tokens: readonly number[]): Promise<KvLookup> {
    this.counters.lookups++;
    const keys = this.blockKeys(tokens);
    if (keys.length === 0) return { matchedTokens: 0, blocks: [] };
    const found = await this.guard('lookup', [] as Buffer[], () => this.fetchAndTouch(keys));
    const blocks = this.validPrefix(found);
    if (blocks.length > 0) this.counters.lookupHits++;
    this.counters.matchedTokens += blocks.length * this.blockSize;
    return { matchedTokens: blocks.length * this.blockSize, blocks };
  }

  async persist(tokens: readonly number[], cache: KvCache, fromToken: number): Promise<void> {
    this.checkLayout(cache);
    const n = fullBlockCount(Math.min(tokens.length, cache.length), this.blockSize);
    for (let i = 0; i < n * this.blockSize; i++) {
      if (cache.tokens[i] !== tokens[i]) throw new SessionStoreError(`persist: tokens[${i}] is ${tokens[i]}, the cache holds ${cache.tokens[i]}`, 'tokens');
    }
    if (n === 0) return;
    this.counters.persists++;
    const keys = this.blockKeys(tokens.slice(0, n * this.blockSize));
    const firstNew = Math.min(n, fullBlockCount(Math.max(0, fromToken), this.blockSize));
    const { keys: k, values: v } = cache.exportRange(firstNew * this.blockSize, n * this.blockSize);
    const payloads: Buffer[] = [];
    for (let b = 0; b < n - firstNew; b++) payloads.push(encodeKvBlock(this.layout, k, v, b * this.blockSize));

    const [written, refreshed, evicted] = await this.guard('persist', [0, 0, 0], () => {
      const script = (this.redis as unknown as { gptossPersistKvBlocks: PersistScript }).gptossPersistKvBlocks;
      return script.call(
        this.redis,
        3 + keys.length,
        this.keys.kvLru(),
        this.keys.kvSizes(),
        this.keys.kvBytes(),
        ...keys,
        Date.now(),
        this.options.ttlSeconds * 1000,
        this.options.maxMemoryBytes,
        firstNew,
        0,
        ...payloads,
      );
    });
    this.counters.blocksWritten += written;
    this.counters.blocksRefreshed += refreshed;
    this.counters.bytesWritten += written * kvBlockBytes(this.layout);
    this.counters.blocksEvicted += evicted;
    if (evicted > 0) this.log.debug({ component: this.component, evicted }, 'kv blocks evicted to keep the memory budget');
  }

  restore(cache: KvCache, tokens: readonly number[], blocks: readonly Buffer[]): number {
    this.checkLayout(cache);
    const bs = this.blockSize;
    const held = cache.length;
    if (held % bs !== 0) throw new SessionStoreError(`restore: the cache holds ${held} tokens, not a whole number of ${bs}-token blocks`, 'cache');
    if (tokens.length < blocks.length * bs) throw new SessionStoreError(`restore: ${blocks.length} blocks need ${blocks.length * bs} tokens, got ${tokens.length}`, 'tokens');
    for (let i = 0; i < held; i++) {
      if (cache.tokens[i] !== tokens[i]) throw new SessionStoreError(`restore: tokens[${i}] is ${tokens[i]}, the cache holds ${cache.tokens[i]}`, 'tokens');
    }
    for (let b = held / bs; b < blocks.length; b++) {
      let data;
      try {
        data = decodeKvBlock(this.layout, blocks[b]!);
      } catch (err) {
        if (!(err instanceof WireFormatError)) throw err;
        this.reject(b, err);
        break;
      }
      cache.importRange(tokens.slice(b * bs, (b + 1) * bs), data.keys, data.values);
    }
    return cache.length;
  }

  stats(): KvSessionStats {
    return { ...this.counters };
  }

  protected override onUnavailable(): void {
    this.counters.unavailable++;
  }

  /** MGET of every candidate block plus TTL and LRU refresh, as one pipeline. */
  private async fetchAndTouch(keys: string[]): Promise<Buffer[]> {
    const now = Date.now();
    const ttlMs = this.options.ttlSeconds * 1000;
    const pipeline = this.redis.pipeline().mgetBuffer(...keys);
    pipeline.zadd(this.keys.kvLru(), 'XX', ...keys.flatMap((key, depth) => [lruScore(now, depth), key]));
    for (const key of keys) pipeline.pexpire(key, ttlMs);
    const results = await pipeline.exec();
    if (!results) throw new Error('pipeline discarded');
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    const values = results[0]![1] as (Buffer | null)[];
    const found: Buffer[] = [];
    for (const value of values) {
      if (value === null) break;
      found.push(value);
    }
    return found;
  }

  /** The leading blocks whose header fits this model; the first misfit ends the prefix. */
  private validPrefix(found: Buffer[]): Buffer[] {
    for (let b = 0; b < found.length; b++) {
      try {
        validateKvBlockHeader(this.layout, found[b]!);
      } catch (err) {
        if (!(err instanceof WireFormatError)) throw err;
        this.reject(b, err);
        return found.slice(0, b);
      }
    }
    return found;
  }

  private reject(block: number, err: WireFormatError): void {
    this.counters.blocksRejected++;
    this.log.warn(
      { component: this.component, block, field: err.field, err: err.message, modelFingerprint: this.options.modelFingerprint },
      'stored kv block does not fit this model; treated as a miss',
    );
  }

  private checkLayout(cache: KvCache): void {
    if (cache.numLayers !== this.layout.numLayers || cache.kvDim !== this.layout.kvDim) {
      throw new SessionStoreError(
        `cache has ${cache.numLayers} layers of kvDim ${cache.kvDim}, the store holds ${this.layout.numLayers} of ${this.layout.kvDim}`,
        'cache',
      );
    }
  }
}
