// The JSON the dashboard page polls: workers, placement grid, per-expert tokens, history, sessions.
import type { ClusterExperts } from '../experts/cluster-experts.js';
import type { DashboardStats, HistoryPoint } from './stats.js';
import type { RereplicationFigures } from '../control-plane/rereplication.js';

export interface DashboardSource {
  readonly experts: ClusterExperts;
  readonly scheduler: { readonly load: { running: number; waiting: number } };
  readonly numLayers: number;
  readonly numExperts: number;
}

export interface DashboardWorker {
  readonly workerId: string;
  readonly address: string;
  /** up | draining | suspect (a recent dispatch to it failed). */
  readonly state: 'up' | 'draining' | 'suspect';
  readonly capacity: number;
  readonly held: number;
  /** Slots assigned to it by the placement (target). */
  readonly assigned: number;
  readonly heartbeatAgeMs: number;
  readonly load: number | null;
  /** Assigned slots it is still loading (null: the worker does not report it). */
  readonly loading: number | null;
  /** Seconds from its process start until it first held every assigned slot (null: not yet / not reported). */
  readonly loadedInS: number | null;
  readonly color: string;
}

export interface DashboardState {
  readonly nowMs: number;
  readonly numLayers: number;
  readonly numExperts: number;
  readonly health: { ok: boolean; detail: string };
  readonly sessions: { running: number; waiting: number };
  readonly workers: DashboardWorker[];
  /** Coordinators heard from recently; `leader` writes the placement, `self` serves this page. */
  readonly coordinators: { coordinatorId: string; url: string; leader: boolean; self: boolean }[];
  readonly placement: {
    readonly version: number | null;
    readonly replication: number | null;
    /** [layer][expert] → workers serving that slot (routing order: first is dispatched to first). */
    readonly grid: string[][][];
  };
  /** [layer][expert] → token assignments since the coordinator started. */
  readonly tokens: number[][];
  readonly totals: { tokens: number; layerCalls: number };
  readonly history: HistoryPoint[];
  /** Experts lost with dead workers: still awaiting a holder, and the last recovery's rate. */
  readonly rereplication: RereplicationFigures;
}

/** Distinct, readable on white; past the list, colours come from the golden angle. */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

export function workerColor(index: number): string {
  return PALETTE[index] ?? `hsl(${Math.round((index * 137.508) % 360)}, 65%, 45%)`;
}

export function buildDashboardState(src: DashboardSource, stats: DashboardStats, now = Date.now()): DashboardState {
  const live = [...src.experts.membership.workers()].sort((a, b) => a.workerId.localeCompare(b.workerId));
  const suspects = new Set(src.experts.suspects());
  const record = src.experts.placement.record();
  const routing = src.experts.placement.routing();
  const { numLayers, numExperts } = src;
  const workers: DashboardWorker[] = live.map((w, i) => ({
    workerId: w.workerId,
    address: w.address,
    state: w.draining ? 'draining' : suspects.has(w.workerId) ? 'suspect' : 'up',
    capacity: w.capacity,
    held: w.held.length,
    assigned: record?.target[w.workerId]?.length ?? 0,
    heartbeatAgeMs: Math.max(0, now - w.lastSeenMs),
    load: w.load ?? null,
    loading: w.loadingSlots ?? null,
    loadedInS: w.loadedInMs === undefined ? null : w.loadedInMs / 1000,
    color: workerColor(i),
  }));
  const grid = Array.from({ length: numLayers }, (_, l) => Array.from({ length: numExperts }, (_, e) => [...(routing.get(l * numExperts + e) ?? [])]));
  return {
    nowMs: now,
    numLayers,
    numExperts,
    health: src.experts.health(),
    sessions: { ...src.scheduler.load },
    workers,
    coordinators: src.experts.coordinators(),
    placement: { version: record?.version ?? null, replication: record?.replication ?? null, grid },
    tokens: stats.tokenGrid(),
    totals: stats.totals(),
    history: stats.history(),
    rereplication: src.experts.rereplication.figures(),
  };
}
