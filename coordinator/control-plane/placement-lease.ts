// Leader election for the placement writer: one key in a KV bucket whose TTL is the lease. The
// holder renews it with revision-checked updates; everyone else polls and creates the key once it
// has expired (the server drops it ttlMs after the last renewal) or was released. The server's
// clock decides expiry, so no two coordinators' clocks are compared.
//
// The holder fences itself on its own clock: it counts as leader only until (send time of its last
// successful renewal) + ttlMs - renewMs, which is before the server can expire the key (the server
// stamps the renewal after it was sent). It also steps down the moment its NATS connection drops.
// The lease only narrows who tries to write; the placement record's own compare-and-set is what
// keeps two writers from interleaving.
import { EventEmitter } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { ConfigError } from '../../common/errors.js';
import { decodeLeaderLease, decodeOrDrop, encodeJson, silentLog, type ClusterLog, type LeaderLease } from '../../common/cluster/events.js';
import { isRevisionConflict, openLeaseKv } from '../../common/cluster/nats-connection.js';
import { validateWorkerId, type ClusterSubjects } from '../../common/cluster/subjects.js';

export interface PlacementLeaseOptions {
  /** This coordinator's id (one subject token). Required. */
  readonly id: string;
  /** Milliseconds the lease lives on the server after its last renewal (the bucket's TTL). Default 3000. */
  readonly ttlMs: number;
  /** Milliseconds between renewals by the holder and acquisition attempts by the others. Default 1000. */
  readonly renewMs: number;
}

export const PLACEMENT_LEASE_DEFAULTS = { ttlMs: 3000, renewMs: 1000 } as const;

export function parsePlacementLeaseOptions(raw: Partial<PlacementLeaseOptions> & Pick<PlacementLeaseOptions, 'id'>): PlacementLeaseOptions {
  const o = { ...PLACEMENT_LEASE_DEFAULTS, ...raw };
  validateWorkerId(o.id, 'id');
  for (const field of ['ttlMs', 'renewMs'] as const) {
    if (!Number.isSafeInteger(o[field]) || o[field] <= 0) throw new ConfigError(`${field} must be a positive integer, got ${o[field]}`, field);
  }
  // Below 2 renewals per TTL one slow renewal would depose a healthy leader.
  if (o.ttlMs < 2 * o.renewMs) throw new ConfigError(`ttlMs (${o.ttlMs}) must be at least 2 x renewMs (${o.renewMs})`, 'ttlMs');
  return o;
}

export type PlacementLeaseEvents = {
  elected: [];
  deposed: [reason: string];
};

export class PlacementLease extends EventEmitter<PlacementLeaseEvents> {
  readonly options: PlacementLeaseOptions;
  private kv: KV | null = null;
  private leading = false;
  /** Revision of our lease entry while we hold it. */
  private revision = 0;
  private acquiredAtMs = 0;
  private renewals = 0;
  /** The holder last seen on the server (ourselves while leading); null when nobody holds it. */
  private holderId: string | null = null;
  private leadingUntilMs = 0;
  private connected = true;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private fence: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    options: Parameters<typeof parsePlacementLeaseOptions>[0],
    private readonly log: ClusterLog = silentLog,
  ) {
    super();
    this.options = parsePlacementLeaseOptions(options);
  }

  get id(): string {
    return this.options.id;
  }

  /** True while this process holds the lease and its fence has not passed. */
  isLeader(): boolean {
    return this.leading && this.connected && !this.closed && Date.now() < this.leadingUntilMs;
  }

  /** The coordinator that holds the lease as last seen, or null. */
  holder(): string | null {
    return this.isLeader() ? this.id : this.holderId;
  }

  /** Opens the bucket, makes the first attempt, then keeps trying / renewing every renewMs. */
  async start(): Promise<void> {
    this.kv = await openLeaseKv(this.nc, this.subjects, this.options.ttlMs);
    void this.watchConnection();
    await this.tick();
  }

  /** Stops; a holder deletes its key (revision-checked) so another takes over at its next attempt. */
  async close(): Promise<void> {
    if (this.closed) return;
    const wasLeading = this.isLeader();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    this.clearFence();
    if (wasLeading && this.kv) {
      await this.kv.delete(this.subjects.leaderKey, { previousSeq: this.revision }).catch((err: unknown) => {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'placement lease release failed; it expires by itself');
      });
    }
    if (this.leading) this.stepDown('closed');
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) break;
      if (s.type === 'disconnect') {
        this.connected = false;
        if (this.leading) this.stepDown('nats disconnected');
      } else if (s.type === 'reconnect') {
        this.connected = true;
      }
    }
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, this.options.renewMs);
  }

  private tick(): Promise<void> {
    this.ticking = (this.leading ? this.renew() : this.tryAcquire())
      .catch((err: unknown) => {
        this.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'placement lease attempt failed');
      })
      .finally(() => {
        this.ticking = null;
        this.schedule();
      });
    return this.ticking;
  }

  private value(): Uint8Array {
    const lease: LeaderLease = { holder: this.id, acquiredAtMs: this.acquiredAtMs, renewals: this.renewals };
    return encodeJson(lease);
  }

  private async tryAcquire(): Promise<void> {
    if (!this.connected || this.closed) return;
    const kv = this.kv!;
    const entry = await kv.get(this.subjects.leaderKey);
    const lease = entry?.operation === 'PUT' ? decodeOrDrop(decodeLeaderLease, entry.value, this.subjects.leaderBucket, this.log) : null;
    if (entry && entry.operation === 'PUT' && lease?.holder !== this.id) {
      // Held by another (or unreadable: then it expires like any unrenewed lease).
      this.holderId = lease?.holder ?? null;
      return;
    }
    const sentMs = Date.now();
    this.acquiredAtMs = sentMs;
    this.renewals = 0;
    try {
      // Our own unexpired entry (we lost the connection, not the lease) is taken back by revision.
      this.revision = entry && entry.operation === 'PUT' ? await kv.update(this.subjects.leaderKey, this.value(), entry.revision) : await kv.create(this.subjects.leaderKey, this.value());
    } catch (err) {
      if (isRevisionConflict(err)) return; // someone else was faster
      throw err;
    }
    if (this.closed) return;
    this.becomeLeader(sentMs);
  }

  private async renew(): Promise<void> {
    if (!this.connected || this.closed) return;
    const sentMs = Date.now();
    this.renewals++;
    try {
      this.revision = await this.kv!.update(this.subjects.leaderKey, this.value(), this.revision);
    } catch (err) {
      if (isRevisionConflict(err)) {
        this.stepDown('lease taken by another coordinator');
        return;
      }
      throw err; // the fence deposes us if renewals keep failing
    }
    if (this.closed) return;
    // The fence may have fired while this renewal was in flight (a stalled event loop): the
    // compare-and-set succeeded, so the lease is still ours on the server.
    if (this.leading) this.extend(sentMs);
    else if (this.connected) this.becomeLeader(sentMs);
  }

  private becomeLeader(sentMs: number): void {
    this.leading = true;
    this.holderId = this.id;
    this.extend(sentMs);
    if (!this.isLeader()) {
      // Acquired too slowly to hold it for any time: the next attempt takes our own entry back.
      this.leading = false;
      this.clearFence();
      return;
    }
    this.log.info({ coordinatorId: this.id }, 'elected placement leader');
    this.emit('elected');
  }

  private extend(sentMs: number): void {
    this.leadingUntilMs = sentMs + this.options.ttlMs - this.options.renewMs;
    this.clearFence();
    this.fence = setTimeout(() => {
      if (this.leading && Date.now() >= this.leadingUntilMs) this.stepDown('lease not renewed in time');
    }, Math.max(0, this.leadingUntilMs - Date.now()));
  }

  private clearFence(): void {
    if (this.fence) clearTimeout(this.fence);
    this.fence = null;
  }

  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.revision = 0;
    this.holderId = null;
    this.clearFence();
    this.log.warn({ coordinatorId: this.id, reason }, 'no longer placement leader');
    this.emit('deposed', reason);
  }
}
