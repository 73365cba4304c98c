// Following the placement: watch the placement KV key and hand every new record (with its KV
// revision) to the owner: a worker, which loads and drops experts by `reconcile`, or a coordinator
// that does not lead and so routes by the leader's record. The watch is re-opened if it ends (NATS
// restart without JetStream state, bucket deleted); a record already seen is not handed twice.
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { ConfigError } from '../errors.js';
import { decodeOrDrop, decodePlacementRecord, silentLog, type ClusterLog, type PlacementRecord } from './events.js';
import { openPlacementKv } from './nats-connection.js';
import type { ClusterSubjects } from './subjects.js';

/**
 * Make-before-break on the worker: load every slot of target[workerId] not yet held; drop only
 * held slots that are in neither target[workerId] nor active[workerId] (still-active slots are
 * served until the coordinator moves them elsewhere).
 */
export function reconcile(record: PlacementRecord, workerId: string, heldNow: readonly number[]): { load: number[]; drop: number[] } {
  const target = new Set(record.target[workerId] ?? []);
  const keep = new Set([...target, ...(record.active[workerId] ?? [])]);
  const held = new Set(heldNow);
  return {
    load: [...target].filter((s) => !held.has(s)).sort((a, b) => a - b),
    drop: [...held].filter((s) => !keep.has(s)).sort((a, b) => a - b),
  };
}

export interface PlacementFollowerOptions {
  /** Called with each new record and its KV revision, one call at a time, in write order. Required. */
  readonly onPlacement: (record: PlacementRecord, revision: number) => void | Promise<void>;
  /** Milliseconds before re-opening a failed or ended watch. Default 1000. */
  readonly retryMs: number;
}

export const PLACEMENT_FOLLOWER_DEFAULTS = { retryMs: 1000 } as const;

export function parsePlacementFollowerOptions(raw: Partial<PlacementFollowerOptions> & Pick<PlacementFollowerOptions, 'onPlacement'>): PlacementFollowerOptions {
  const o = { ...PLACEMENT_FOLLOWER_DEFAULTS, ...raw };
  if (typeof o.onPlacement !== 'function') throw new ConfigError('onPlacement must be a function', 'onPlacement');
  if (!Number.isSafeInteger(o.retryMs) || o.retryMs <= 0) throw new ConfigError(`retryMs must be a positive integer, got ${o.retryMs}`, 'retryMs');
  return o;
}

export class PlacementFollower {
  readonly options: PlacementFollowerOptions;
  private record: PlacementRecord | null = null;
  private kv: KV | null = null;
  private watcher: QueuedIterator<KvWatchEntry> | null = null;
  private closed = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    options: Parameters<typeof parsePlacementFollowerOptions>[0],
    private readonly log: ClusterLog = silentLog,
  ) {
    this.options = parsePlacementFollowerOptions(options);
  }

  /** The last record handed to onPlacement, or null. */
  current(): PlacementRecord | null {
    return this.record;
  }

  /** Starts watching; resolves once the first watch is open (retrying until it is). */
  start(): Promise<void> {
    if (this.loop) return Promise.resolve();
    return new Promise<void>((opened) => {
      this.loop = this.run(opened);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.stop();
    this.wake?.();
    await this.loop;
  }

  private async run(opened: () => void): Promise<void> {
    while (!this.closed) {
      try {
        this.kv ??= await openPlacementKv(this.nc, this.subjects);
        this.watcher = await this.kv.watch({ key: this.subjects.placementKey });
        opened();
        for await (const entry of this.watcher) {
          if (this.closed) break;
          if (entry.operation === 'PUT') await this.deliver(entry.value, entry.revision);
        }
        if (!this.closed) this.log.warn({ bucket: this.subjects.placementBucket }, 'placement watch ended; re-opening');
      } catch (err) {
        if (this.closed) break;
        this.kv = null;
        this.log.warn({ bucket: this.subjects.placementBucket, err: err instanceof Error ? err.message : String(err) }, 'placement watch failed; retrying');
      }
      if (!this.closed) await this.sleep(this.options.retryMs);
    }
    opened();
  }

  private async deliver(value: Uint8Array, revision: number): Promise<void> {
    const subject = `${this.subjects.placementBucket}.${this.subjects.placementKey}`;
    const record = decodeOrDrop(decodePlacementRecord, value, subject, this.log);
    if (!record) return;
    // A re-opened watch starts with the last value again.
    if (this.record && this.record.version === record.version && this.record.updatedAtMs === record.updatedAtMs) return;
    this.record = record;
    try {
      await this.options.onPlacement(record, revision);
    } catch (err) {
      this.log.error({ version: record.version, err: err instanceof Error ? err.message : String(err) }, 'onPlacement failed');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}
