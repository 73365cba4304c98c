// Where POST /v1/responses keeps responses (store: true) for GET /v1/responses/:id and for
// previous_response_id. A StoredResponse is plain JSON: an implementation may keep it as
// JSON.stringify text (Redis) and must give back what JSON.parse of that text gives.
import type { ResponseInputItem, ResponseObject } from './responses-protocol.js';

export interface StoredResponse {
  /** The response id ("resp_…"), the same as `response.id`. */
  readonly id: string;
  /** The conversation the response answered: the earlier turns, then the request's own input.
   *  A continuation appends the response's output items to it. Instructions are not part of it
   *  (OpenAI does not carry them over to the next response). */
  readonly input: readonly ResponseInputItem[];
  /** The response object as it was returned. */
  readonly response: ResponseObject;
}

export interface ResponseStore {
  /** The stored response, or null when unknown or expired. */
  get(id: string): Promise<StoredResponse | null>;
  /** Stores (or replaces) a response for ttlSeconds. */
  put(resp: StoredResponse, ttlSeconds: number): Promise<void>;
}

export interface InMemoryResponseStoreOptions {
  /** Oldest responses are dropped beyond this many (default 10000). */
  readonly maxEntries?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/**
 * The single-process default: responses live in this process's memory, as JSON text, until their
 * TTL passes or `maxEntries` newer ones push them out. Several coordinators behind one load
 * balancer need a shared store (the Redis one) instead, or continuations miss.
 */
export class InMemoryResponseStore implements ResponseStore {
  private readonly entries = new Map<string, { json: string; expiresAtMs: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: InMemoryResponseStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async get(id: string): Promise<StoredResponse | null> {
    const entry = this.entries.get(id);
    if (entry === undefined) return null;
    if (entry.expiresAtMs <= this.now()) {
      this.entries.delete(id);
      return null;
    }
    return JSON.parse(entry.json) as StoredResponse;
  }

  async put(resp: StoredResponse, ttlSeconds: number): Promise<void> {
    this.entries.delete(resp.id);
    this.entries.set(resp.id, { json: JSON.stringify(resp), expiresAtMs: this.now() + ttlSeconds * 1000 });
    // Maps iterate in insertion order: the first keys are the oldest.
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(id);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
