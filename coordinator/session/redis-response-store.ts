// Stored responses for the Responses API (`store: true`, `previous_response_id`), as JSON under
// `${prefix}:resp:${id}` with a TTL, so any coordinator replica can continue a conversation.
//
// Coded against the structural shape of ResponseStore in coordinator/api/response-store.ts
// (`get(id)`, `put(resp, ttlSeconds)`, a JSON-serializable response with an `id`):
// `new RedisResponseStore<StoredResponse>(...)` satisfies it. Redis down: `get` answers null and
// `put` drops the response (one warning per outage), like the KV store.
import { SessionStoreError } from '../../common/errors.js';
import { SessionKeys } from './keys.js';
import { parseRedisConnectionOptions, type RedisConnectionInput } from './options.js';
import { RedisBackedStore } from './redis-store-base.js';

export interface StoredResponseLike {
  readonly id: string;
}

/** The shape of coordinator/api/response-store.ts's ResponseStore. */
export interface ResponseStoreLike<T extends StoredResponseLike> {
  get(id: string): Promise<T | null>;
  put(resp: T, ttlSeconds: number): Promise<void>;
}

export type RedisResponseStoreOptions = RedisConnectionInput;

export class RedisResponseStore<T extends StoredResponseLike = StoredResponseLike> extends RedisBackedStore implements ResponseStoreLike<T> {
  readonly keys: SessionKeys;

  constructor(options: RedisResponseStoreOptions = {}) {
    const resolved = parseRedisConnectionOptions(options);
    super('response-store', resolved);
    this.keys = new SessionKeys(resolved.keyPrefix);
  }

  async get(id: string): Promise<T | null> {
    const text = await this.guard('get', null, () => this.redis.get(this.keys.response(id)));
    if (text === null) return null;
    try {
      const value = JSON.parse(text) as unknown;
      if (typeof value === 'object' && value !== null && (value as { id?: unknown }).id === id) return value as T;
    } catch {
      // Falls through to the warning.
    }
    this.log.warn({ component: this.component, id }, 'stored response is not JSON with the right id; treated as missing');
    return null;
  }

  async put(resp: T, ttlSeconds: number): Promise<void> {
    if (typeof resp.id !== 'string' || resp.id.length === 0) throw new SessionStoreError('put: response id must be a non-empty string', 'id');
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new SessionStoreError(`put: ttlSeconds must be a positive integer, got ${ttlSeconds}`, 'ttlSeconds');
    const text = JSON.stringify(resp);
    await this.guard('put', null, () => this.redis.set(this.keys.response(resp.id), text, 'EX', ttlSeconds));
  }
}
