// Adapts the Redis session store to what the scheduler needs: restore the longest persisted
// prefix of a prompt into a fresh cache, persist a finished sequence's new blocks.
import type { KvCache } from '../../common/engine/kv-cache.js';
import type { KvSessionStore } from '../session/session-store.js';
import type { PrefixKvStore } from './scheduler.js';

export class SessionPrefixStore implements PrefixKvStore {
  constructor(private readonly store: KvSessionStore) {}

  async restorePrefix(tokens: readonly number[], cache: KvCache): Promise<number> {
    const { matchedTokens, blocks } = await this.store.lookup(tokens);
    if (matchedTokens === 0) return 0;
    return this.store.restore(cache, tokens, blocks);
  }

  persist(cache: KvCache, fromToken: number): Promise<void> {
    // Blocks before `fromToken` came from the store: only their TTL and LRU rank are refreshed.
    return this.store.persist(cache.tokens, cache, fromToken);
  }

  health(): { ok: boolean; detail?: string } {
    return this.store.health();
  }
}
