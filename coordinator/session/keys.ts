// Every Redis key the session layer touches is built here, and only here.
//
//   ${prefix}:kv:${modelFingerprint}:${blockHash}   one KV block (kv-block-codec.ts bytes), PX ttl
//   ${prefix}:resp:${id}                            one stored Responses API response (JSON), EX ttl
//   ${prefix}:meta:kv-lru                           sorted set: block key -> last use (ms since epoch)
//   ${prefix}:meta:kv-sizes                         hash: block key -> payload bytes
//   ${prefix}:meta:kv-bytes                         integer: sum of kv-sizes (the memory budget's meter)
//
// The kv-* meta keys are shared by every model fingerprint under one prefix: one budget per prefix.

export const DEFAULT_KEY_PREFIX = 'gptoss';

export class SessionKeys {
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {}

  /** One KV block; `blockHash` is the chained hash (block-hash.ts) naming the whole prefix. */
  kvBlock(modelFingerprint: string, blockHash: string): string {
    return `${this.prefix}:kv:${modelFingerprint}:${blockHash}`;
  }

  /** A SCAN pattern matching every KV block of one model (for diagnostics and tests). */
  kvBlockPattern(modelFingerprint: string): string {
    return `${this.prefix}:kv:${modelFingerprint}:*`;
  }

  /** A stored response (Responses API `previous_response_id`). */
  response(id: string): string {
    return `${this.prefix}:resp:${id}`;
  }

  /** Sorted set of block keys scored by last use, the eviction order. */
  kvLru(): string {
    return this.meta('kv-lru');
  }

  /** Hash of block key to its payload size in bytes. */
  kvSizes(): string {
    return this.meta('kv-sizes');
  }

  /** Counter: bytes of every block listed in kvSizes. */
  kvBytes(): string {
    return this.meta('kv-bytes');
  }

  meta(name: string): string {
    return `${this.prefix}:meta:${name}`;
  }
}
