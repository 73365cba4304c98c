// Which coordinators are serving: each one announces itself (id, URL, whether it holds the
// placement lease) every intervalMs and keeps the table of everyone's announcements, dropping a
// coordinator not heard from for timeoutMs. Only the dashboard and /metrics read it; nothing
// depends on it for correctness (the lease alone decides who writes).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ConfigError } from '../../common/errors.js';
import { decodeCoordinatorAnnouncement, decodeOrDrop, encodeJson, silentLog, type ClusterLog, type CoordinatorAnnouncement } from '../../common/cluster/events.js';
import { validateWorkerId, type ClusterSubjects } from '../../common/cluster/subjects.js';

export interface CoordinatorRosterOptions {
  /** This coordinator's id (one subject token). Required. */
  readonly id: string;
  /** This coordinator's HTTP base URL. Required. */
  readonly url: string;
  /** Whether this coordinator holds the placement lease now. Required. */
  readonly isLeader: () => boolean;
  /** Milliseconds between announcements. Default 1000. */
  readonly intervalMs: number;
  /** A coordinator not heard from for this long is dropped from the table. Default 3000. */
  readonly timeoutMs: number;
}

export const COORDINATOR_ROSTER_DEFAULTS = { intervalMs: 1000, timeoutMs: 3000 } as const;

export function parseCoordinatorRosterOptions(raw: Partial<CoordinatorRosterOptions> & Pick<CoordinatorRosterOptions, 'id' | 'url' | 'isLeader'>): CoordinatorRosterOptions {
  const o = { ...COORDINATOR_ROSTER_DEFAULTS, ...raw };
  validateWorkerId(o.id, 'id');
  if (typeof o.url !== 'string' || o.url === '') throw new ConfigError('url must be a non-empty string', 'url');
  for (const field of ['intervalMs', 'timeoutMs'] as const) {
    if (!Number.isSafeInteger(o[field]) || o[field] <= 0) throw new ConfigError(`${field} must be a positive integer, got ${o[field]}`, field);
  }
  return o;
}

export interface CoordinatorInfo extends CoordinatorAnnouncement {
  readonly lastSeenMs: number;
  readonly self: boolean;
}

export class CoordinatorRoster {
  readonly options: CoordinatorRosterOptions;
  private readonly table = new Map<string, CoordinatorInfo>();
  private readonly startedAtMs = Date.now();
  private seq = 0;
  private sub: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    options: Parameters<typeof parseCoordinatorRosterOptions>[0],
    private readonly log: ClusterLog = silentLog,
  ) {
    this.options = parseCoordinatorRosterOptions(options);
  }

  start(): void {
    if (this.sub) return;
    this.sub = this.nc.subscribe(this.subjects.coordinatorHeartbeat, {
      callback: (_err, m) => {
        const a = decodeOrDrop(decodeCoordinatorAnnouncement, m.data, m.subject, this.log);
        if (!a) return;
        const old = this.table.get(a.coordinatorId);
        if (old && (a.startedAtMs < old.startedAtMs || (a.startedAtMs === old.startedAtMs && a.seq <= old.seq))) return;
        this.table.set(a.coordinatorId, { ...a, lastSeenMs: Date.now(), self: a.coordinatorId === this.options.id });
      },
    });
    this.announce();
    this.timer = setInterval(() => this.announce(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Coordinators heard from within timeoutMs (this one always), sorted by id. */
  coordinators(now = Date.now()): CoordinatorInfo[] {
    const self: CoordinatorInfo = { coordinatorId: this.options.id, url: this.options.url, leader: this.options.isLeader(), startedAtMs: this.startedAtMs, seq: this.seq, lastSeenMs: now, self: true };
    const others = [...this.table.values()].filter((c) => !c.self && now - c.lastSeenMs <= this.options.timeoutMs);
    return [self, ...others].sort((a, b) => (a.coordinatorId < b.coordinatorId ? -1 : 1));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.sub && !this.sub.isClosed()) this.sub.unsubscribe();
    this.sub = null;
  }

  private announce(): void {
    if (this.nc.isClosed()) return;
    const a: CoordinatorAnnouncement = { coordinatorId: this.options.id, url: this.options.url, leader: this.options.isLeader(), startedAtMs: this.startedAtMs, seq: ++this.seq };
    try {
      this.nc.publish(this.subjects.coordinatorHeartbeat, encodeJson(a));
    } catch (err) {
      this.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'coordinator announcement not sent');
    }
  }
}
