// A worker's side of membership: "joined" once, a heartbeat every heartbeatMs carrying its whole
// state (held slots, draining, load), "left" on a clean stop. Every message is a full
// WorkerAnnouncement, so a coordinator that missed some (a NATS reconnect, its own restart)
// resyncs from the next heartbeat. Publishing while disconnected is buffered by the client.
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '../common/errors.js';
import { encodeJson, silentLog, type ClusterLog, type WorkerAnnouncement } from '../common/cluster/events.js';
import { validateWorkerId, type ClusterSubjects } from '../common/cluster/subjects.js';

export interface WorkerAnnouncerOptions {
  /** Unique worker id; one NATS subject token. Required. */
  readonly workerId: string;
  /** host:port of this worker's gRPC server. Required. */
  readonly address: string;
  /** How many expert slots this worker can hold. Required. */
  readonly capacity: number;
  /** Fingerprint of the checkpoint this worker serves. Required. */
  readonly modelFingerprint: string;
  /** Milliseconds between heartbeats. Default 1000. */
  readonly heartbeatMs: number;
  /** Slots loaded at start. Default []. */
  readonly held: readonly number[];
  /** Draining at start. Default false. */
  readonly draining: boolean;
  /** Scalar load (dispatches in flight) sampled for each heartbeat. Default: none sent. */
  readonly load?: () => number;
  /** Loading progress sampled for each heartbeat. Default: none sent. */
  readonly progress?: () => { loadedInMs?: number; loadingSlots: number };
  /** Per-expert token counts published on the load subject with each heartbeat. Default: none. */
  readonly expertLoad?: () => { windowMs: number; slots: number[]; tokens: number[] } | null;
}

export const WORKER_ANNOUNCER_DEFAULTS = { heartbeatMs: 1000, held: [] as readonly number[], draining: false } as const;

export function parseWorkerAnnouncerOptions(
  raw: Partial<WorkerAnnouncerOptions> & Pick<WorkerAnnouncerOptions, 'workerId' | 'address' | 'capacity' | 'modelFingerprint'>,
): WorkerAnnouncerOptions {
  const o = { ...WORKER_ANNOUNCER_DEFAULTS, ...raw };
  validateWorkerId(o.workerId);
  if (typeof o.address !== 'string' || (!/^[^\s:]+:\d+$/.test(o.address) && !/^\[[^\]]+\]:\d+$/.test(o.address))) {
    throw new ConfigError(`address must be host:port, got ${JSON.stringify(o.address)}`, 'address');
  }
  if (!Number.isSafeInteger(o.capacity) || o.capacity < 0) throw new ConfigError(`capacity must be an integer >= 0, got ${o.capacity}`, 'capacity');
  if (typeof o.modelFingerprint !== 'string' || o.modelFingerprint === '') throw new ConfigError('modelFingerprint must be a non-empty string', 'modelFingerprint');
  if (!Number.isSafeInteger(o.heartbeatMs) || o.heartbeatMs <= 0) throw new ConfigError(`heartbeatMs must be a positive integer, got ${o.heartbeatMs}`, 'heartbeatMs');
  if (o.held.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new ConfigError('held must be non-negative integers', 'held');
  return o;
}

export class WorkerAnnouncer {
  readonly options: WorkerAnnouncerOptions;
  private held: number[];
  private draining: boolean;
  private seq = 0;
  private startedAtMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped: Promise<void> | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    options: Parameters<typeof parseWorkerAnnouncerOptions>[0],
    private readonly log: ClusterLog = silentLog,
  ) {
    this.options = parseWorkerAnnouncerOptions(options);
    this.held = sortedUnique(this.options.held);
    this.draining = this.options.draining;
  }

  /** Publishes "joined" and starts the heartbeat. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.startedAtMs = Date.now();
    this.publish(this.subjects.workerJoined, this.announcement());
    this.timer = setInterval(() => this.heartbeat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Replaces the held list and draining flag and publishes a heartbeat now. */
  update(held: readonly number[], draining: boolean = this.draining): void {
    this.held = sortedUnique(held);
    this.draining = draining;
    if (this.timer) this.heartbeat();
  }

  /** Stops the heartbeat and publishes "left"; idempotent. */
  stop(reason = 'shutdown'): Promise<void> {
    this.stopped ??= (async () => {
      if (!this.timer) return;
      clearInterval(this.timer);
      this.timer = null;
      this.publish(this.subjects.workerLeft, { workerId: this.options.workerId, reason });
      if (this.nc.isClosed()) return;
      // flush waits for a server round trip, which never comes while disconnected.
      await Promise.race([this.nc.flush().catch(() => {}), new Promise((r) => setTimeout(r, this.options.heartbeatMs).unref())]);
    })();
    return this.stopped;
  }

  private heartbeat(): void {
    this.publish(this.subjects.workerHeartbeat, this.announcement());
    const report = this.sample(() => this.options.expertLoad?.() ?? null, null);
    if (report) {
      this.publish(this.subjects.expertLoad(this.options.workerId), { workerId: this.options.workerId, atMs: Date.now(), ...report });
    }
  }

  private announcement(): WorkerAnnouncement {
    const o = this.options;
    const load = o.load ? this.sample(o.load, undefined) : undefined;
    const progress = o.progress ? this.sample(o.progress, undefined) : undefined;
    return {
      workerId: o.workerId,
      address: o.address,
      capacity: o.capacity,
      modelFingerprint: o.modelFingerprint,
      held: this.held,
      draining: this.draining,
      startedAtMs: this.startedAtMs,
      seq: ++this.seq,
      ...(load === undefined ? {} : { load }),
      ...(progress ? { loadingSlots: progress.loadingSlots, ...(progress.loadedInMs === undefined ? {} : { loadedInMs: progress.loadedInMs }) } : {}),
    };
  }

  private sample<T, D>(fn: () => T, fallback: D): T | D {
    try {
      return fn();
    } catch (err) {
      this.log.warn({ workerId: this.options.workerId, err: err instanceof Error ? err.message : String(err) }, 'load sampler failed');
      return fallback;
    }
  }

  private publish(subject: string, message: Parameters<typeof encodeJson>[0]): void {
    try {
      this.nc.publish(subject, encodeJson(message));
    } catch (err) {
      // Only a closed connection throws here; the next heartbeat tries again.
      this.log.warn({ workerId: this.options.workerId, subject, err: err instanceof Error ? err.message : String(err) }, 'announce publish failed');
    }
  }
}

function sortedUnique(slots: readonly number[]): number[] {
  return [...new Set(slots)].sort((a, b) => a - b);
}
