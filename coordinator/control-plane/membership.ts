// The coordinator's live worker table, fed by the workers' joined / heartbeat / left events.
// A worker is up from its first announcement (a heartbeat from an unknown worker counts as a
// join, so a restarted coordinator resyncs) and down on "left" or after heartbeatTimeoutMs
// without a message. While NATS is disconnected nobody can be heard, so expiry is suspended; on
// reconnect every worker gets a fresh timeout and the next heartbeats resync the table.
import { EventEmitter } from 'node:events';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ClusterTimeoutError, ConfigError } from '../../common/errors.js';
import {
  decodeExpertLoadReport,
  decodeOrDrop,
  decodeWorkerAnnouncement,
  decodeWorkerLeft,
  silentLog,
  type ClusterLog,
  type ExpertLoadReport,
  type WorkerAnnouncement,
} from '../../common/cluster/events.js';
import type { ClusterSubjects } from '../../common/cluster/subjects.js';

export interface WorkerInfo extends WorkerAnnouncement {
  /** When the last message from this worker arrived. */
  readonly lastSeenMs: number;
}

export interface ClusterMembershipOptions {
  /** A worker not heard from for this long is down. Default 3000. */
  readonly heartbeatTimeoutMs: number;
  /** How often expiry is checked. Default 250. */
  readonly sweepMs: number;
  /** When set, workers announcing another model fingerprint are ignored. Default: accept all. */
  readonly modelFingerprint?: string;
}

export const CLUSTER_MEMBERSHIP_DEFAULTS = { heartbeatTimeoutMs: 3000, sweepMs: 250 } as const;

export function parseClusterMembershipOptions(raw: Partial<ClusterMembershipOptions>): ClusterMembershipOptions {
  const o = { ...CLUSTER_MEMBERSHIP_DEFAULTS, ...raw };
  for (const field of ['heartbeatTimeoutMs', 'sweepMs'] as const) {
    if (!Number.isSafeInteger(o[field]) || o[field] <= 0) throw new ConfigError(`${field} must be a positive integer, got ${o[field]}`, field);
  }
  return o;
}

export type MembershipEvents = {
  workerUp: [worker: WorkerInfo];
  /** reason: "timeout", "restarted" or "left: <the worker's reason>". */
  workerDown: [worker: WorkerInfo, reason: string];
  /** Any change of the table other than lastSeenMs / load / seq. */
  changed: [workers: WorkerInfo[]];
  /** Every accepted announcement, changed or not. */
  seen: [worker: WorkerInfo];
  expertLoad: [report: ExpertLoadReport];
};

export class ClusterMembership extends EventEmitter<MembershipEvents> {
  readonly options: ClusterMembershipOptions;
  private readonly table = new Map<string, WorkerInfo>();
  private readonly expiresAtMs = new Map<string, number>();
  /** workerId → startedAtMs of an incarnation that said "left"; its stragglers are ignored. */
  private readonly departed = new Map<string, number>();
  private subs: Subscription[] = [];
  private sweeper: NodeJS.Timeout | null = null;
  private connected = true;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    options: Partial<ClusterMembershipOptions> = {},
    private readonly log: ClusterLog = silentLog,
  ) {
    super();
    this.options = parseClusterMembershipOptions(options);
  }

  /** Subscribes; resolves once the server has the subscriptions. */
  async start(): Promise<void> {
    if (this.sweeper || this.closed) return;
    const s = this.subjects;
    this.subs = [
      this.nc.subscribe(s.workerJoined, { callback: (_e, m) => this.onAnnouncement(m.data, m.subject) }),
      this.nc.subscribe(s.workerHeartbeat, { callback: (_e, m) => this.onAnnouncement(m.data, m.subject) }),
      this.nc.subscribe(s.workerLeft, { callback: (_e, m) => this.onLeft(m.data, m.subject) }),
      this.nc.subscribe(s.expertLoadAll, { callback: (_e, m) => this.onLoad(m.data, m.subject) }),
    ];
    this.sweeper = setInterval(() => this.sweep(), this.options.sweepMs);
    this.sweeper.unref();
    void this.watchConnection();
    await this.nc.flush();
  }

  /** Live workers, sorted by id. */
  workers(): WorkerInfo[] {
    return [...this.table.values()].sort((a, b) => (a.workerId < b.workerId ? -1 : 1));
  }

  worker(workerId: string): WorkerInfo | undefined {
    return this.table.get(workerId);
  }

  /** Resolves with the table once `predicate` holds (checked on every message); ClusterTimeoutError after timeoutMs. */
  waitFor(predicate: (workers: WorkerInfo[]) => boolean, timeoutMs: number): Promise<WorkerInfo[]> {
    if (predicate(this.workers())) return Promise.resolve(this.workers());
    return new Promise((resolve, reject) => {
      const check = (workers: WorkerInfo[]): void => {
        if (!predicate(workers)) return;
        done();
        resolve(workers);
      };
      const timer = setTimeout(() => {
        done();
        reject(new ClusterTimeoutError(`membership condition not met within ${timeoutMs} ms`, timeoutMs));
      }, timeoutMs);
      const onSeen = (): void => check(this.workers());
      const done = (): void => {
        clearTimeout(timer);
        this.off('changed', check);
        this.off('seen', onSeen);
      };
      this.on('changed', check);
      this.on('seen', onSeen);
    });
  }

  /** Unsubscribes and stops expiry; the table is left as it was. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const sub of this.subs) if (!sub.isClosed()) sub.unsubscribe();
    this.subs = [];
  }

  private async watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (this.closed) break;
      if (status.type === 'disconnect') {
        this.connected = false;
      } else if (status.type === 'reconnect') {
        this.connected = true;
        const deadline = Date.now() + this.options.heartbeatTimeoutMs;
        for (const id of this.table.keys()) this.expiresAtMs.set(id, deadline);
        this.log.info({ workers: this.table.size }, 'nats reconnected; keeping the worker table until the next heartbeats');
      }
    }
  }

  private onAnnouncement(data: Uint8Array, subject: string): void {
    const a = decodeOrDrop(decodeWorkerAnnouncement, data, subject, this.log);
    if (!a || this.closed) return;
    if (this.options.modelFingerprint !== undefined && a.modelFingerprint !== this.options.modelFingerprint) {
      this.log.warn({ workerId: a.workerId, fingerprint: a.modelFingerprint }, 'ignoring worker with another model fingerprint');
      return;
    }
    if (this.departed.get(a.workerId) === a.startedAtMs) return;
    const now = Date.now();
    const old = this.table.get(a.workerId);
    if (old && (a.startedAtMs < old.startedAtMs || (a.startedAtMs === old.startedAtMs && a.seq <= old.seq))) return;
    const info: WorkerInfo = { ...a, held: [...a.held].sort((x, y) => x - y), lastSeenMs: now };
    this.table.set(a.workerId, info);
    this.expiresAtMs.set(a.workerId, now + this.options.heartbeatTimeoutMs);
    this.emit('seen', info);
    if (old && old.startedAtMs !== a.startedAtMs) {
      this.log.info({ workerId: a.workerId }, 'worker restarted');
      this.emit('workerDown', old, 'restarted');
      this.emit('workerUp', info);
    } else if (!old) {
      this.log.info({ workerId: a.workerId, address: a.address, capacity: a.capacity }, 'worker up');
      this.emit('workerUp', info);
    } else if (!sameState(old, info)) {
      this.log.debug({ workerId: a.workerId, held: info.held.length, draining: info.draining }, 'worker changed');
    } else {
      return;
    }
    this.emit('changed', this.workers());
  }

  private onLeft(data: Uint8Array, subject: string): void {
    const left = decodeOrDrop(decodeWorkerLeft, data, subject, this.log);
    if (!left || this.closed) return;
    const old = this.table.get(left.workerId);
    if (!old) return;
    this.departed.set(left.workerId, old.startedAtMs);
    this.remove(old, `left: ${left.reason}`);
  }

  private onLoad(data: Uint8Array, subject: string): void {
    const report = decodeOrDrop(decodeExpertLoadReport, data, subject, this.log);
    if (report && !this.closed) this.emit('expertLoad', report);
  }

  private sweep(): void {
    if (!this.connected || this.closed) return;
    const now = Date.now();
    for (const info of this.workers()) {
      if (now > (this.expiresAtMs.get(info.workerId) ?? 0)) this.remove(info, 'timeout');
    }
  }

  private remove(info: WorkerInfo, reason: string): void {
    this.table.delete(info.workerId);
    this.expiresAtMs.delete(info.workerId);
    this.log.info({ workerId: info.workerId, reason }, 'worker down');
    this.emit('workerDown', info, reason);
    this.emit('changed', this.workers());
  }
}

function sameState(a: WorkerInfo, b: WorkerInfo): boolean {
  return (
    a.address === b.address &&
    a.capacity === b.capacity &&
    a.modelFingerprint === b.modelFingerprint &&
    a.draining === b.draining &&
    a.held.length === b.held.length &&
    a.held.every((s, i) => s === b.held[i])
  );
}
