// The control-plane message types, declared once, with their JSON encoding. Everything that
// comes off the bus is validated here; a message that fails is a ClusterMessageError, which the
// subscription loops log and drop (they never throw).
//
// An expert slot is one number: layer * numExperts + expert.
import { ClusterMessageError } from '../errors.js';

/** Sent on worker joined and on every heartbeat: the worker's whole state, never a delta. */
export interface WorkerAnnouncement {
  readonly workerId: string;
  /** host:port of the worker's gRPC expert server. */
  readonly address: string;
  /** How many expert slots the worker can hold. */
  readonly capacity: number;
  readonly modelFingerprint: string;
  /** Slots loaded and ready to serve, ascending. */
  readonly held: number[];
  /** A draining worker gets no new slots and serves its active ones until they are replaced. */
  readonly draining: boolean;
  /** Start time of this worker process; a new value means the worker restarted. */
  readonly startedAtMs: number;
  /** Increments with every message this worker process sends. */
  readonly seq: number;
  /** Optional scalar load (dispatches in flight). */
  readonly load?: number;
  /** Optional: milliseconds from the worker process's start until it first held every slot assigned to it. */
  readonly loadedInMs?: number;
  /** Optional: slots assigned to the worker that it is still loading (its loading progress). */
  readonly loadingSlots?: number;
}

export interface WorkerLeft {
  readonly workerId: string;
  readonly reason: string;
}

/** Per-expert token counts a worker served over the last window. */
export interface ExpertLoadReport {
  readonly workerId: string;
  readonly atMs: number;
  readonly windowMs: number;
  /** Parallel arrays: tokens[i] tokens went through slot slots[i]. */
  readonly slots: number[];
  readonly tokens: number[];
}

/** The KV placement record: where each slot should be (target) and where it is served (active). */
export interface PlacementRecord {
  /** Increments with every write. */
  readonly version: number;
  readonly numLayers: number;
  readonly numExperts: number;
  readonly replication: number;
  readonly target: Record<string, number[]>;
  readonly active: Record<string, number[]>;
  readonly updatedAtMs: number;
  /** The coordinator that wrote it (absent in records of older coordinators). */
  readonly writer?: string;
}

/** The value of the placement writer's lease key. */
export interface LeaderLease {
  /** The coordinator holding the lease. */
  readonly holder: string;
  /** When the holder acquired it (its clock; informational). */
  readonly acquiredAtMs: number;
  /** Increments with every renewal by the same holder. */
  readonly renewals: number;
}

/** Sent by every coordinator every second: who serves where, and whether it writes the placement. */
export interface CoordinatorAnnouncement {
  readonly coordinatorId: string;
  /** The coordinator's HTTP base URL as it listens (informational; shown on the dashboard). */
  readonly url: string;
  /** True while it holds the placement lease. */
  readonly leader: boolean;
  readonly startedAtMs: number;
  readonly seq: number;
}

/** The log sink the control plane writes to; a pino Logger fits. */
export interface ClusterLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const noop = (): void => {};
export const silentLog: ClusterLog = { debug: noop, info: noop, warn: noop, error: noop };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function encodeJson(value: WorkerAnnouncement | WorkerLeft | ExpertLoadReport | PlacementRecord | LeaderLease | CoordinatorAnnouncement): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

type Obj = Record<string, unknown>;

function parseObject(data: Uint8Array, subject: string): Obj {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8.decode(data));
  } catch (err) {
    throw new ClusterMessageError(`${subject}: not JSON`, subject, null, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ClusterMessageError(`${subject}: not a JSON object`, subject);
  }
  return value as Obj;
}

function bad(subject: string, field: string, want: string, got: unknown): ClusterMessageError {
  return new ClusterMessageError(`${subject}: field "${field}" must be ${want}, got ${JSON.stringify(got) ?? String(got)}`, subject, field);
}

function str(o: Obj, f: string, subject: string): string {
  const v = o[f];
  if (typeof v !== 'string' || v.length === 0) throw bad(subject, f, 'a non-empty string', v);
  return v;
}

function int(o: Obj, f: string, subject: string, min = 0): number {
  const v = o[f];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(subject, f, `an integer >= ${min}`, v);
  return v;
}

function bool(o: Obj, f: string, subject: string): boolean {
  const v = o[f];
  if (typeof v !== 'boolean') throw bad(subject, f, 'a boolean', v);
  return v;
}

function ints(v: unknown, f: string, subject: string, below = Number.MAX_SAFE_INTEGER): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x >= below)) {
    throw bad(subject, f, `an array of integers in [0, ${below})`, v);
  }
  return v as number[];
}

function slotMap(o: Obj, f: string, subject: string, slots: number): Record<string, number[]> {
  const v = o[f];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(subject, f, 'an object of worker id to slot list', v);
  const out: Record<string, number[]> = {};
  for (const [id, list] of Object.entries(v as Obj)) out[id] = ints(list, `${f}.${id}`, subject, slots);
  return out;
}

export function decodeWorkerAnnouncement(data: Uint8Array, subject: string): WorkerAnnouncement {
  const o = parseObject(data, subject);
  const load = o['load'];
  if (load !== undefined && (typeof load !== 'number' || !Number.isFinite(load) || load < 0)) {
    throw bad(subject, 'load', 'a non-negative number', load);
  }
  const optionalCount = (field: 'loadedInMs' | 'loadingSlots'): Partial<Record<typeof field, number>> => {
    const v = o[field];
    if (v === undefined) return {};
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(subject, field, 'a non-negative integer', v);
    return { [field]: v };
  };
  return {
    workerId: str(o, 'workerId', subject),
    address: str(o, 'address', subject),
    capacity: int(o, 'capacity', subject),
    modelFingerprint: str(o, 'modelFingerprint', subject),
    held: ints(o['held'], 'held', subject),
    draining: bool(o, 'draining', subject),
    startedAtMs: int(o, 'startedAtMs', subject),
    seq: int(o, 'seq', subject),
    ...(load === undefined ? {} : { load }),
    ...optionalCount('loadedInMs'),
    ...optionalCount('loadingSlots'),
  };
}

export function decodeWorkerLeft(data: Uint8Array, subject: string): WorkerLeft {
  const o = parseObject(data, subject);
  const reason = o['reason'];
  if (typeof reason !== 'string') throw bad(subject, 'reason', 'a string', reason);
  return { workerId: str(o, 'workerId', subject), reason };
}

export function decodeExpertLoadReport(data: Uint8Array, subject: string): ExpertLoadReport {
  const o = parseObject(data, subject);
  const slots = ints(o['slots'], 'slots', subject);
  const tokens = ints(o['tokens'], 'tokens', subject);
  if (tokens.length !== slots.length) throw bad(subject, 'tokens', `an array as long as slots (${slots.length})`, tokens.length);
  return {
    workerId: str(o, 'workerId', subject),
    atMs: int(o, 'atMs', subject),
    windowMs: int(o, 'windowMs', subject),
    slots,
    tokens,
  };
}

export function decodePlacementRecord(data: Uint8Array, subject: string): PlacementRecord {
  const o = parseObject(data, subject);
  const numLayers = int(o, 'numLayers', subject, 1);
  const numExperts = int(o, 'numExperts', subject, 1);
  const slots = numLayers * numExperts;
  return {
    version: int(o, 'version', subject, 1),
    numLayers,
    numExperts,
    replication: int(o, 'replication', subject, 1),
    target: slotMap(o, 'target', subject, slots),
    active: slotMap(o, 'active', subject, slots),
    updatedAtMs: int(o, 'updatedAtMs', subject),
    ...(o['writer'] === undefined ? {} : { writer: str(o, 'writer', subject) }),
  };
}

export function decodeLeaderLease(data: Uint8Array, subject: string): LeaderLease {
  const o = parseObject(data, subject);
  return { holder: str(o, 'holder', subject), acquiredAtMs: int(o, 'acquiredAtMs', subject), renewals: int(o, 'renewals', subject) };
}

export function decodeCoordinatorAnnouncement(data: Uint8Array, subject: string): CoordinatorAnnouncement {
  const o = parseObject(data, subject);
  return {
    coordinatorId: str(o, 'coordinatorId', subject),
    url: str(o, 'url', subject),
    leader: bool(o, 'leader', subject),
    startedAtMs: int(o, 'startedAtMs', subject),
    seq: int(o, 'seq', subject),
  };
}

/**
 * Runs a decoder on a message from the bus; on failure logs one warning and returns null, so a
 * subscription loop can `continue`. Never throws.
 */
export function decodeOrDrop<T>(decode: (data: Uint8Array, subject: string) => T, data: Uint8Array, subject: string, log: ClusterLog): T | null {
  try {
    return decode(data, subject);
  } catch (err) {
    const field = err instanceof ClusterMessageError ? err.field : null;
    log.warn({ subject, field, err: err instanceof Error ? err.message : String(err) }, 'dropped malformed control-plane message');
    return null;
  }
}
