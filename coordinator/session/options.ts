// Options of the Redis session stores, with their defaults, and the one function that validates
// them (naming the bad field with ConfigError).
import { ConfigError } from '../../common/errors.js';
import { DEFAULT_BLOCK_SIZE } from './block-hash.js';
import { DEFAULT_KEY_PREFIX } from './keys.js';
import { silentSessionLog, type RedisConnectionOptions, type SessionLog } from './redis-store-base.js';

export interface RedisConnectionInput {
  /** redis:// URL. Default "redis://127.0.0.1:6379". */
  readonly url?: string;
  /** Every key starts with this (keys.ts). Default "gptoss". */
  readonly keyPrefix?: string;
  /** One connection attempt gives up after this long. Default 1000. */
  readonly connectTimeoutMs?: number;
  /** A command with no reply fails after this long. Default 2000. */
  readonly commandTimeoutMs?: number;
  /** Reconnect backoff cap (50 ms doubling up to this); reconnecting never stops. Default 1000. */
  readonly reconnectMaxDelayMs?: number;
  /** Default: silent. */
  readonly logger?: SessionLog;
}

export interface RedisKvSessionStoreOptions extends RedisConnectionInput {
  /** Required. Names the model (weights and KV layout); part of every block key. */
  readonly modelFingerprint: string;
  /** Required. Layers with a KV cache. */
  readonly numLayers: number;
  /** Required. kvHeads * headDim. */
  readonly kvDim: number;
  /** Tokens per block. Default 16. */
  readonly blockSize?: number;
  /** A block unused for this long expires; every lookup hit and persist refreshes it. Default 3600. */
  readonly ttlSeconds?: number;
  /**
   * Budget for the bytes of all blocks under `keyPrefix`, enforced by the store itself (not by
   * Redis `maxmemory`; the store never owns the server): every block written is recorded in a
   * sorted set by last use and in a byte counter, and after each write the least recently used
   * blocks are deleted until the total fits. 0 turns the budget off (then rely on TTLs, or on
   * `maxmemory` + `allkeys-lru` on a server dedicated to this cache). Default 1 GiB.
   */
  readonly maxMemoryBytes?: number;
}

export type ResolvedKvSessionStoreOptions = RedisConnectionOptions &
  Required<Omit<RedisKvSessionStoreOptions, 'logger' | 'url' | 'connectTimeoutMs' | 'commandTimeoutMs' | 'reconnectMaxDelayMs'>>;

export type ResolvedConnectionOptions = RedisConnectionOptions & { readonly keyPrefix: string };

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_TTL_SECONDS = 3600;
export const DEFAULT_MAX_MEMORY_BYTES = 1024 ** 3;

export function parseRedisConnectionOptions(input: RedisConnectionInput): ResolvedConnectionOptions {
  const url = input.url ?? DEFAULT_REDIS_URL;
  if (!/^rediss?:\/\//.test(url)) throw new ConfigError(`url must start with redis:// or rediss://, got ${JSON.stringify(url)}`, 'url');
  const keyPrefix = input.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || keyPrefix.length === 0) throw new ConfigError('keyPrefix must be a non-empty string', 'keyPrefix');
  return {
    url,
    keyPrefix,
    connectTimeoutMs: positiveInt(input, 'connectTimeoutMs', 1000),
    commandTimeoutMs: positiveInt(input, 'commandTimeoutMs', 2000),
    reconnectMaxDelayMs: positiveInt(input, 'reconnectMaxDelayMs', 1000),
    logger: input.logger ?? silentSessionLog,
  };
}

export function parseKvSessionStoreOptions(input: RedisKvSessionStoreOptions): ResolvedKvSessionStoreOptions {
  const connection = parseRedisConnectionOptions(input);
  if (typeof input.modelFingerprint !== 'string' || input.modelFingerprint.length === 0) {
    throw new ConfigError('modelFingerprint must be a non-empty string', 'modelFingerprint');
  }
  const maxMemoryBytes = input.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
  if (!Number.isSafeInteger(maxMemoryBytes) || maxMemoryBytes < 0) {
    throw new ConfigError(`maxMemoryBytes must be a non-negative integer, got ${maxMemoryBytes}`, 'maxMemoryBytes');
  }
  return {
    ...connection,
    modelFingerprint: input.modelFingerprint,
    numLayers: positiveInt(input, 'numLayers'),
    kvDim: positiveInt(input, 'kvDim'),
    blockSize: positiveInt(input, 'blockSize', DEFAULT_BLOCK_SIZE),
    ttlSeconds: positiveInt(input, 'ttlSeconds', DEFAULT_TTL_SECONDS),
    maxMemoryBytes,
  };
}

function positiveInt<T extends object>(input: T, field: keyof T & string, fallback?: number): number {
  const value = input[field] ?? fallback;
  if (value === undefined) throw new ConfigError(`${field} is required`, field);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`${field} must be a positive integer, got ${String(value)}`, field);
  }
  return value;
}
