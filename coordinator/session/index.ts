// Public entry point of the session layer: KV blocks and stored responses in Redis.
export { DEFAULT_BLOCK_SIZE, blockHashes, chainBlockHash, fullBlockCount } from './block-hash.js';
export {
  KV_BLOCK_HEADER_BYTES,
  decodeKvBlock,
  encodeKvBlock,
  kvBlockBytes,
  validateKvBlockHeader,
  type KvBlockData,
  type KvBlockLayout,
} from './kv-block-codec.js';
export { DEFAULT_KEY_PREFIX, SessionKeys } from './keys.js';
export {
  DEFAULT_MAX_MEMORY_BYTES,
  DEFAULT_REDIS_URL,
  DEFAULT_TTL_SECONDS,
  parseKvSessionStoreOptions,
  parseRedisConnectionOptions,
  type RedisConnectionInput,
  type RedisKvSessionStoreOptions,
} from './options.js';
export { silentSessionLog, type SessionLog, type StoreHealth } from './redis-store-base.js';
export { RedisKvSessionStore, type KvLookup, type KvSessionStats, type KvSessionStore } from './session-store.js';
export { RedisResponseStore, type RedisResponseStoreOptions, type ResponseStoreLike, type StoredResponseLike } from './redis-response-store.js';
