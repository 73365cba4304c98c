// The coordinator's placement loop: on every membership change (debounced) recompute the target
// (sticky on the previous one), advance active by make-before-break from what the workers report
// held, and write the PlacementRecord to the KV bucket when either changed. Routing is read from
// the active map, restricted to live workers that report the slot held.
//
// With a PlacementLease only the lease holder computes and writes; every other coordinator follows
// the record through a KV watch and routes by its active map. Every write is a compare-and-set on
// the record's KV revision, so even two processes that both believe they lead cannot interleave
// writes: the loser re-reads the record and recomputes from it.
import { EventEmitter } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { ClusterTimeoutError, ConfigError, PlacementConflictError } from '../../common/errors.js';
import { decodeOrDrop, decodePlacementRecord, encodeJson, silentLog, type ClusterLog, type ExpertLoadReport, type PlacementRecord } from '../../common/cluster/events.js';
import { isRevisionConflict, openPlacementKv } from '../../common/cluster/nats-connection.js';
import { PlacementFollower } from '../../common/cluster/placement-follower.js';
import { activeFromTarget, computeLoadAwarePlacement, computePlacement, routingTable } from '../../common/cluster/placement.js';
import type { ClusterSubjects } from '../../common/cluster/subjects.js';
import type { ClusterMembership } from './membership.js';

/** Who may write the record (PlacementLease); without one this manager is the only writer. */
export interface PlacementWriterGate {
  readonly id: string;
  isLeader(): boolean;
  on(event: 'elected', listener: () => void): unknown;
  off(event: 'elected', listener: () => void): unknown;
}

export interface PlacementManagerOptions {
  /** From the checkpoint's config.json. Required. */
  readonly numLayers: number;
  readonly numExperts: number;
  /** Distinct workers per expert slot. Default 1. */
  readonly replication: number;
  /** Milliseconds from a membership change to the recompute. Default 100. */
  readonly debounceMs: number;
  /** Milliseconds between attempts to write a record the KV refused. Default 500. */
  readonly retryMs: number;
  /**
   * When a record from an earlier coordinator exists, nothing is recomputed or written for this
   * many milliseconds after start, so the workers' first heartbeats arrive first (an empty table
   * would tell every worker to drop everything). Default 1500.
   */
  readonly startupGraceMs: number;
  /**
   * Load-aware replication (default off): spare worker capacity goes to extra replicas of the
   * slots with the most tokens per holder over the last windowMs (computeLoadAwarePlacement).
   */
  readonly loadAware?: LoadAwareOptions;
}

export interface LoadAwareOptions {
  /** Milliseconds of token counts that make up the load. Required. */
  readonly windowMs: number;
  /** Fewest milliseconds between two load-driven recomputes. Default 5000. */
  readonly minIntervalMs?: number;
  /**
   * How far the load distribution must move (total variation distance between the normalized
   * per-slot loads, 0..1) from the one last placed before a load-driven recompute. Default 0.1.
   */
  readonly minShift?: number;
  /** Passed to computeLoadAwarePlacement. Default: no limit. */
  readonly maxReplicas?: number;
}

export const LOAD_AWARE_DEFAULTS = { minIntervalMs: 5000, minShift: 0.1 } as const;

/** Number of time buckets recordTokens' counts are kept in over the window. */
const LOAD_BUCKETS = 10;

export const PLACEMENT_MANAGER_DEFAULTS = { replication: 1, debounceMs: 100, retryMs: 500, startupGraceMs: 1500 } as const;

export function parsePlacementManagerOptions(
  raw: Partial<PlacementManagerOptions> & Pick<PlacementManagerOptions, 'numLayers' | 'numExperts'>,
): PlacementManagerOptions {
  const o = { ...PLACEMENT_MANAGER_DEFAULTS, ...raw };
  const min = { numLayers: 1, numExperts: 1, replication: 1, debounceMs: 0, retryMs: 1, startupGraceMs: 0 } as const;
  for (const field of Object.keys(min) as (keyof typeof min)[]) {
    if (!Number.isSafeInteger(o[field]) || o[field] < min[field]) throw new ConfigError(`${field} must be an integer >= ${min[field]}, got ${o[field]}`, field);
  }
  if (o.loadAware !== undefined) {
    const la = { ...LOAD_AWARE_DEFAULTS, ...o.loadAware };
    const intMin = { windowMs: 1, minIntervalMs: 0, ...(la.maxReplicas === undefined ? {} : { maxReplicas: 1 }) } as const;
    for (const [field, m] of Object.entries(intMin)) {
      const v = la[field as keyof typeof intMin]!;
      if (!Number.isSafeInteger(v) || v < m) throw new ConfigError(`loadAware.${field} must be an integer >= ${m}, got ${v}`, `loadAware.${field}`);
    }
    if (!(la.minShift >= 0 && la.minShift <= 1)) throw new ConfigError(`loadAware.minShift must be in [0, 1], got ${la.minShift}`, 'loadAware.minShift');
    return { ...o, loadAware: la };
  }
  return o;
}

export type PlacementManagerEvents = {
  /** This manager wrote a record to the KV. */
  placement: [record: PlacementRecord];
  /** A record written by another coordinator was adopted. */
  adopted: [record: PlacementRecord, revision: number];
  /** The routing table may have changed (after every recompute). */
  routing: [table: Map<number, string[]>];
};

type SlotMap = Record<string, number[]>;

export class PlacementManager extends EventEmitter<PlacementManagerEvents> {
  readonly options: PlacementManagerOptions;
  private kv: KV | null = null;
  private target: SlotMap = {};
  private active: SlotMap = {};
  private unplaced: number[] = [];
  private version = 0;
  /** KV revision of the record as last read or written (0: none); the next write's compare-and-set. */
  private revision = 0;
  private written: PlacementRecord | null = null;
  private follower: PlacementFollower | null = null;
  private writes = 0;
  private conflicts = 0;
  private dirty = false;
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private graceUntilMs = 0;
  private closed = false;
  private readonly onChange = (): void => this.schedule(this.options.debounceMs);
  private readonly onLoad = (report: ExpertLoadReport): void => this.recordReport(report);
  private readonly onElected = (): void => void this.reload('elected placement leader');
  /** recordTokens' counts: ring of LOAD_BUCKETS buckets, each windowMs / LOAD_BUCKETS long. */
  private readonly buckets: { startMs: number; counts: Map<number, number> }[] = [];
  /** Each worker's latest expertLoad report, with the local time it arrived. */
  private readonly reports = new Map<string, { receivedMs: number; report: ExpertLoadReport }>();
  /** The load the current target was computed from (normalized in loadShift). */
  private placedLoad = new Map<number, number>();
  /** The load-driven extras within `target` (so the next recompute keeps the base sticky). */
  private extras: SlotMap = {};
  private lastLoadRecomputeMs = -Infinity;
  private loadTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly membership: ClusterMembership,
    private readonly subjects: ClusterSubjects,
    options: Parameters<typeof parsePlacementManagerOptions>[0],
    private readonly log: ClusterLog = silentLog,
    private readonly gate: PlacementWriterGate | null = null,
  ) {
    super();
    this.options = parsePlacementManagerOptions(options);
  }

  /** True while this manager may write the record (it holds the lease, or there is no lease). */
  isWriter(): boolean {
    return !this.closed && (this.gate?.isLeader() ?? true);
  }

  /** The record's KV revision as last read or written (0 before any). */
  recordRevision(): number {
    return this.revision;
  }

  /** Records this manager wrote, and writes it lost to a compare-and-set. */
  writeCounts(): { writes: number; conflicts: number } {
    return { writes: this.writes, conflicts: this.conflicts };
  }

  /** Slots with fewer serving holders (live, active, reporting it held) than the replication factor. */
  underreplicated(): number {
    const table = this.routing();
    let n = 0;
    for (let s = 0; s < this.numSlots; s++) if ((table.get(s)?.length ?? 0) < this.options.replication) n++;
    return n;
  }

  get numSlots(): number {
    return this.options.numLayers * this.options.numExperts;
  }

  /** Opens (or creates) the bucket, resumes from the stored record, and starts following membership. */
  async start(): Promise<void> {
    this.kv = await openPlacementKv(this.nc, this.subjects);
    const entry = await this.kv.get(this.subjects.placementKey);
    const stored = entry?.operation === 'PUT' ? decodeOrDrop(decodePlacementRecord, entry.value, this.subjects.placementBucket, this.log) : null;
    if (entry) this.revision = entry.revision;
    if (stored) {
      this.version = stored.version;
      if (this.adopt(stored)) this.graceUntilMs = Date.now() + this.options.startupGraceMs;
      this.log.info({ version: stored.version }, 'resuming from stored placement');
    }
    this.membership.on('changed', this.onChange);
    if (this.options.loadAware) this.membership.on('expertLoad', this.onLoad);
    this.gate?.on('elected', this.onElected);
    // Everyone follows the record: a follower routes by it, a leader learns of a competing write.
    this.follower = new PlacementFollower(this.nc, this.subjects, { onPlacement: (r, rev) => this.onRecord(r, rev) }, this.log);
    await this.follower.start();
    this.schedule(0);
  }

  /** Takes a record's maps as the current (and sticky previous) placement; false if its dimensions differ. */
  private adopt(record: PlacementRecord): boolean {
    if (record.numLayers !== this.options.numLayers || record.numExperts !== this.options.numExperts) return false;
    this.target = record.target;
    this.active = record.active;
    this.written = record;
    this.version = Math.max(this.version, record.version);
    // Another writer's load-driven extras are unknown here: the next load-aware recompute starts over.
    if (record.writer !== this.gate?.id) this.extras = {};
    return true;
  }

  /** A record from the watch: adopted when newer than what this manager last read or wrote. */
  private onRecord(record: PlacementRecord, revision: number): void {
    if (this.closed || revision <= this.revision) return;
    this.revision = revision;
    // Our own write echoed back (possibly before its put resolved): the maps in memory are as new
    // or newer. Without a lease every record is this manager's own.
    if (record.writer === this.gate?.id) return;
    if (!this.adopt(record)) return;
    this.emit('adopted', record, revision);
    this.emit('routing', this.routing());
    // A leader that sees someone else's write (a deposed leader's last one) recomputes from it.
    if (this.isWriter() && record.writer !== this.gate?.id) this.schedule(0);
  }

  /** Re-reads the record and its revision (on election, after a lost compare-and-set), then recomputes. */
  private async reload(why: string): Promise<void> {
    if (this.closed || !this.kv) return;
    try {
      const entry = await this.kv.get(this.subjects.placementKey);
      const stored = entry?.operation === 'PUT' ? decodeOrDrop(decodePlacementRecord, entry.value, this.subjects.placementBucket, this.log) : null;
      if (entry && entry.revision >= this.revision) {
        this.revision = entry.revision;
        if (stored) this.adopt(stored);
      }
      this.log.info({ revision: this.revision, version: this.version, why }, 'placement re-read');
      this.dirty = true;
      this.schedule(0);
    } catch (err) {
      this.log.warn({ why, err: err instanceof Error ? err.message : String(err) }, 'placement re-read failed; retrying');
      setTimeout(() => void this.reload(why), this.options.retryMs).unref();
    }
  }

  /** The last record written, or null. */
  record(): PlacementRecord | null {
    return this.written;
  }

  /** slot → live workers that are active for it and report it held. */
  routing(): Map<number, string[]> {
    const live = this.membership.workers();
    const table = routingTable(this.active, live.map((w) => w.workerId));
    const held = new Map(live.map((w) => [w.workerId, new Set(w.held)]));
    for (const [slot, ids] of table) {
      const serving = ids.filter((id) => held.get(id)?.has(slot));
      if (serving.length > 0) table.set(slot, serving);
      else table.delete(slot);
    }
    return table;
  }

  /** Slots nobody can serve now; `unplaced` are those the target itself leaves short (capacity). */
  coverage(): { complete: boolean; missing: number[]; unplaced: number[] } {
    const table = this.routing();
    const missing: number[] = [];
    for (let s = 0; s < this.numSlots; s++) if (!table.has(s)) missing.push(s);
    return { complete: missing.length === 0, missing, unplaced: [...this.unplaced] };
  }

  /** Resolves once every slot has a serving worker; ClusterTimeoutError after timeoutMs if given. */
  ready(timeoutMs?: number): Promise<void> {
    if (this.coverage().complete) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!this.coverage().complete) return;
        done();
        resolve();
      };
      const timer =
        timeoutMs === undefined
          ? null
          : setTimeout(() => {
              done();
              reject(new ClusterTimeoutError(`placement coverage incomplete after ${timeoutMs} ms (${this.coverage().missing.length} slots missing)`, timeoutMs));
            }, timeoutMs);
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.off('routing', check);
      };
      this.on('routing', check);
    });
  }

  /** Stops following membership and waits for a write in flight. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.gate?.off('elected', this.onElected);
    await this.follower?.close();
    this.membership.off('changed', this.onChange);
    this.membership.off('expertLoad', this.onLoad);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.loadTimer) clearTimeout(this.loadTimer);
    this.loadTimer = null;
    await this.writing;
  }

  /**
   * Counts n tokens routed through `slot` now (load-aware only; a no-op otherwise). Use this or
   * the workers' expertLoad reports as the load source, not both, or tokens count twice.
   */
  recordTokens(slot: number, n: number, nowMs: number = Date.now()): void {
    const la = this.options.loadAware;
    if (!la || this.closed || !(n > 0) || !Number.isSafeInteger(slot) || slot < 0 || slot >= this.numSlots) return;
    const width = Math.max(1, Math.ceil(la.windowMs / LOAD_BUCKETS));
    const startMs = Math.floor(nowMs / width) * width;
    let bucket = this.buckets[this.buckets.length - 1];
    if (!bucket || bucket.startMs < startMs) {
      bucket = { startMs, counts: new Map() };
      this.buckets.push(bucket);
    }
    bucket.counts.set(slot, (bucket.counts.get(slot) ?? 0) + n);
    this.expireBuckets(nowMs);
    this.scheduleLoadCheck(nowMs);
  }

  /** slot → tokens over the last windowMs: recordTokens' counts plus each worker's latest report scaled to the window. */
  currentLoad(nowMs: number = Date.now()): Map<number, number> {
    const la = this.options.loadAware;
    const out = new Map<number, number>();
    if (!la) return out;
    this.expireBuckets(nowMs);
    for (const b of this.buckets) for (const [s, n] of b.counts) out.set(s, (out.get(s) ?? 0) + n);
    for (const [id, { receivedMs, report }] of this.reports) {
      if (nowMs - receivedMs > la.windowMs) {
        this.reports.delete(id);
        continue;
      }
      const scale = report.windowMs > 0 ? la.windowMs / report.windowMs : 1;
      report.slots.forEach((s, i) => {
        if (s < this.numSlots && report.tokens[i]! > 0) out.set(s, (out.get(s) ?? 0) + report.tokens[i]! * scale);
      });
    }
    return out;
  }

  private recordReport(report: ExpertLoadReport, nowMs: number = Date.now()): void {
    if (!this.options.loadAware || this.closed) return;
    this.reports.set(report.workerId, { receivedMs: nowMs, report });
    this.scheduleLoadCheck(nowMs);
  }

  private expireBuckets(nowMs: number): void {
    const windowMs = this.options.loadAware!.windowMs;
    while (this.buckets.length > 0 && this.buckets[0]!.startMs + Math.ceil(windowMs / LOAD_BUCKETS) <= nowMs - windowMs) this.buckets.shift();
  }

  /** At most one load check pending, no sooner than minIntervalMs after the last load-driven recompute. */
  private scheduleLoadCheck(nowMs: number): void {
    const la = this.options.loadAware!;
    if (this.loadTimer || this.closed) return;
    // Checks (cheap) at most every minIntervalMs / 10; recomputes at most every minIntervalMs.
    const delay = Math.max(0, this.lastLoadRecomputeMs + la.minIntervalMs! - nowMs, this.options.debounceMs, la.minIntervalMs! / 10);
    this.loadTimer = setTimeout(() => {
      this.loadTimer = null;
      if (this.closed) return;
      if (loadShift(this.placedLoad, this.currentLoad()) > la.minShift!) {
        this.lastLoadRecomputeMs = Date.now();
        this.schedule(0);
      }
    }, delay);
    this.loadTimer.unref?.();
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.recompute();
    }, delayMs);
  }

  private recompute(): void {
    if (this.closed) return;
    if (!this.isWriter()) {
      // A follower routes by the leader's record; only who is live and holds what changed.
      this.emit('routing', this.routing());
      return;
    }
    const wait = this.graceUntilMs - Date.now();
    if (wait > 0) {
      this.schedule(wait);
      return;
    }
    const workers = this.membership.workers();
    const input = {
      workers: workers.filter((w) => !w.draining).map((w) => ({ id: w.workerId, capacity: w.capacity })),
      numLayers: this.options.numLayers,
      numExperts: this.options.numExperts,
      replication: this.options.replication,
      previous: this.target,
    };
    const la = this.options.loadAware;
    let placed: { target: SlotMap; unplaced: number[] };
    if (la) {
      const load = this.currentLoad();
      this.placedLoad = load;
      const result = computeLoadAwarePlacement({
        ...input,
        load,
        previousExtras: this.extras,
        ...(la.maxReplicas === undefined ? {} : { maxReplicas: la.maxReplicas }),
      });
      this.extras = result.extras;
      placed = result;
    } else {
      placed = computePlacement(input);
    }
    const { target, unplaced } = placed;
    const active = activeFromTarget({ target, previousActive: this.active, held: Object.fromEntries(workers.map((w) => [w.workerId, w.held])) });
    if (unplaced.length > 0 && unplaced.length !== this.unplaced.length) {
      this.log.warn({ unplaced: unplaced.length, workers: workers.length }, 'not enough worker capacity for the requested replication');
    }
    this.unplaced = unplaced;
    if (!sameMap(target, this.target) || !sameMap(active, this.active) || !this.written) this.dirty = true;
    this.target = target;
    this.active = active;
    this.emit('routing', this.routing());
    this.flush();
  }

  /**
   * Writes the current maps if they changed since the last write; one write at a time, only while
   * this manager may write, always as a compare-and-set on the revision last read or written.
   */
  private flush(): void {
    if (!this.dirty || this.writing || this.closed || !this.isWriter()) return;
    this.dirty = false;
    const expected = this.revision;
    const record: PlacementRecord = {
      version: this.version + 1,
      numLayers: this.options.numLayers,
      numExperts: this.options.numExperts,
      replication: this.options.replication,
      target: this.target,
      active: this.active,
      updatedAtMs: Date.now(),
      ...(this.gate ? { writer: this.gate.id } : {}),
    };
    const value = encodeJson(record);
    const kv = this.kv!;
    const put = expected === 0 ? kv.create(this.subjects.placementKey, value) : kv.update(this.subjects.placementKey, value, expected);
    this.writing = put.then(
      (revision) => {
        this.revision = Math.max(this.revision, revision);
        this.version = record.version;
        this.written = record;
        this.writing = null;
        this.writes++;
        this.log.info({ version: record.version, revision }, 'placement written');
        this.emit('placement', record);
        this.flush();
      },
      (err: unknown) => {
        this.dirty = true;
        this.writing = null;
        if (isRevisionConflict(err)) {
          this.conflicts++;
          const conflict = new PlacementConflictError(`placement write of version ${record.version} lost its compare-and-set on revision ${expected}`, expected, { cause: err });
          this.log.warn({ version: record.version, expectedRevision: expected, err: conflict.message }, 'placement written by another coordinator; re-reading');
          void this.reload('lost compare-and-set');
          return;
        }
        this.log.warn({ version: record.version, err: err instanceof Error ? err.message : String(err) }, 'placement write failed; retrying');
        this.schedule(this.options.retryMs);
      },
    );
  }
}

/** Total variation distance (0..1) between two loads, each normalized to sum 1; 1 when exactly one is empty. */
export function loadShift(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): number {
  const sa = [...a.values()].reduce((x, y) => x + y, 0);
  const sb = [...b.values()].reduce((x, y) => x + y, 0);
  if (sa === 0 || sb === 0) return sa === sb ? 0 : 1;
  let d = 0;
  for (const s of new Set([...a.keys(), ...b.keys()])) d += Math.abs((a.get(s) ?? 0) / sa - (b.get(s) ?? 0) / sb);
  return d / 2;
}

function sameMap(a: SlotMap, b: SlotMap): boolean {
  const ka = Object.keys(a).filter((k) => a[k]!.length > 0).sort();
  const kb = Object.keys(b).filter((k) => b[k]!.length > 0).sort();
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => a[k]!.length === b[k]!.length && a[k]!.every((s, i) => s === b[k]![i]));
}
