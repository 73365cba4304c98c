// A worker's experts, run off the event loop. onnxruntime's session.run() blocks the JS thread it
// is called on, so a worker that ran experts on its main thread could not read the next gRPC
// frame, or answer Info, while computing. Instead `threads` worker_threads each own a private
// ExpertSet (one intra-op thread per session: the parallelism is across threads), and every
// (layer, expert) lives in exactly one of them. A layer's request is split by owning thread, the
// parts run in parallel, and the partial sums are added here in thread-index order so the float
// summation order does not depend on which thread finished first.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ModelConfig } from '../model/model-config.js';
import type { ExpertAssignments } from './expert-set.js';
import { DEFAULT_EXPERT_RUNTIME, type ExpertRuntimeOptions } from './expert-precision.js';
import { ExpertComputeError, ExpertUnavailableError } from '../errors.js';

export interface ExpertPoolOptions {
  /** Checkpoint directory; the pool and each thread open it themselves (headers only). */
  readonly checkpointDir: string;
  /** Compute threads. Default: os.availableParallelism(). */
  readonly threads?: number;
  /** Expert precision. Default fp32, accuracy level 0. intraOpThreads is always 1. */
  readonly runtime?: Omit<ExpertRuntimeOptions, 'intraOpThreads'>;
  /** Told when a compute thread dies; its experts are then no longer held. */
  readonly onThreadError?: (thread: number, err: Error) => void;
}

// Messages between the pool and its threads (structured clone; typed arrays are transferred).
export interface PoolThreadData {
  readonly checkpointDir: string;
  readonly runtime: ExpertRuntimeOptions;
}
export type PoolRequest =
  | { readonly id: number; readonly op: 'load' | 'drop'; readonly layer: number; readonly expert: number }
  | {
      readonly id: number;
      readonly op: 'run';
      readonly layer: number;
      readonly hidden: Float32Array;
      readonly tokenCount: number;
      readonly tokens: Int32Array;
      readonly experts: Int32Array;
      readonly weights: Float32Array;
    }
  | { readonly id: number; readonly op: 'close' };
export type PoolResponse =
  | { readonly kind: 'ready'; readonly fingerprint: string }
  | { readonly kind: 'fatal'; readonly message: string }
  | { readonly kind: 'done'; readonly id: number; readonly output?: Float32Array }
  | { readonly kind: 'failed'; readonly id: number; readonly message: string };

const CLOSE_WAIT_MS = 5_000;
const key = (layer: number, expert: number): number => layer * 1_000_000 + expert;

interface Pending {
  resolve(output: Float32Array | undefined): void;
  reject(err: Error): void;
}

/** One compute thread and its outstanding requests. */
class PoolThread {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  alive = true;

  constructor(
    readonly index: number,
    private readonly worker: Worker,
    onDeath: (err: Error) => void,
  ) {
    worker.on('message', (m: PoolResponse) => {
      if (m.kind !== 'done' && m.kind !== 'failed') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.kind === 'done') p.resolve(m.output);
      else p.reject(new ExpertComputeError(`compute thread ${index}: ${m.message}`));
    });
    const die = (err: Error): void => {
      if (!this.alive) return;
      this.alive = false;
      this.failAll(err);
      onDeath(err);
    };
    worker.on('error', (err) => die(new ExpertComputeError(`compute thread ${index} crashed: ${err.message}`, null, { cause: err })));
    worker.on('exit', (code) => die(new ExpertComputeError(`compute thread ${index} exited (code ${code})`)));
  }

  call(req: DistributiveOmit<PoolRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<Float32Array | undefined> {
    if (!this.alive) return Promise.reject(new ExpertComputeError(`compute thread ${this.index} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    if (this.alive) {
      const timer = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref());
      await Promise.race([this.call({ op: 'close' }).catch(() => undefined), timer]);
    }
    this.alive = false;
    this.failAll(new ExpertComputeError(`compute thread ${this.index} closed`));
    await this.worker.terminate();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface Ownership {
  readonly thread: number;
  ready: boolean;
  /** The load in progress (or done); drop and repeated loads wait on it. */
  readonly loading: Promise<void>;
}

export class ExpertPool {
  private readonly owners = new Map<number, Ownership>();
  private closed: Promise<void> | null = null;

  private constructor(
    readonly config: ModelConfig,
    /** The checkpoint's fingerprint, identical in every thread. */
    readonly fingerprint: string,
    private readonly threads: PoolThread[],
  ) {}

  static async create(options: ExpertPoolOptions): Promise<ExpertPool> {
    const count = options.threads ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`ExpertPool: threads must be a positive integer, got ${count}`);
    const checkpoint = await Checkpoint.open(options.checkpointDir);
    const data: PoolThreadData = {
      checkpointDir: options.checkpointDir,
      runtime: { ...DEFAULT_EXPERT_RUNTIME, ...options.runtime, intraOpThreads: 1 },
    };
    const workers = Array.from({ length: count }, () => new Worker(new URL('./expert-pool-thread.js', import.meta.url), { workerData: data }));
    const started = await Promise.allSettled(workers.map((w, i) => waitReady(w, i)));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const mismatch = started.find((s) => s.status === 'fulfilled' && s.value !== checkpoint.fingerprint);
    if (failure || mismatch) {
      await Promise.all(workers.map((w) => w.terminate()));
      // The files changed between opens: threads would compute with weights the fingerprint does not name.
      throw failure?.reason ?? new ExpertComputeError(`${options.checkpointDir}: checkpoint changed while the compute threads opened it`);
    }
    let pool: ExpertPool | null = null;
    const threads = workers.map((w, i) => new PoolThread(i, w, (err) => pool?.onThreadDeath(i, err, options.onThreadError)));
    pool = new ExpertPool(checkpoint.config, checkpoint.fingerprint, threads);
    return pool;
  }

  get threadCount(): number {
    return this.threads.length;
  }

  /** True once the expert is loaded (not while loading). */
  has(layer: number, expert: number): boolean {
    return this.owners.get(key(layer, expert))?.ready === true;
  }

  /** Loaded experts, ascending by layer then expert. */
  held(): { layer: number; expert: number }[] {
    return [...this.owners.entries()]
      .filter(([, o]) => o.ready)
      .map(([k]) => k)
      .sort((a, b) => a - b)
      .map((k) => ({ layer: Math.floor(k / 1_000_000), expert: k % 1_000_000 }));
  }

  /** Experts held or loading per thread, by thread index (for balance checks and reports). */
  loadsPerThread(): number[] {
    const counts = this.threads.map(() => 0);
    for (const o of this.owners.values()) counts[o.thread]!++;
    return counts;
  }

  /** Loads an expert into the least-loaded live thread (idempotent; concurrent calls share one load). */
  async load(layer: number, expert: number): Promise<void> {
    this.checkOpen();
    this.checkIds(layer, expert);
    const k = key(layer, expert);
    const existing = this.owners.get(k);
    if (existing) return existing.loading;
    const thread = this.leastLoadedThread();
    const loading = thread.call({ op: 'load', layer, expert }).then(
      () => {
        if (this.owners.get(k) === own) own.ready = true;
      },
      (err: unknown) => {
        if (this.owners.get(k) === own) this.owners.delete(k);
        throw err;
      },
    );
    const own: Ownership = { thread: thread.index, ready: false, loading };
    this.owners.set(k, own);
    return loading;
  }

  async drop(layer: number, expert: number): Promise<void> {
    const k = key(layer, expert);
    const own = this.owners.get(k);
    if (!own) return;
    // Unrouted first: requests split after this line do not use it; ones already queued on the
    // thread run before the drop (each thread serves its queue in order).
    this.owners.delete(k);
    await own.loading.catch(() => undefined);
    const thread = this.threads[own.thread]!;
    if (thread.alive) await thread.call({ op: 'drop', layer, expert });
  }

  /**
   * [tokenCount, hidden]: row t = sum over t's assignments of weight * expert(hidden[t]), as
   * ExpertSet.weightedSum, with the experts spread over the threads. Every expert must be held.
   */
  async weightedSum(layer: number, hidden: Float32Array, tokenCount: number, a: ExpertAssignments): Promise<Float32Array> {
    this.checkOpen();
    const H = this.config.hiddenSize;
    if (hidden.length !== tokenCount * H) throw new RangeError(`weightedSum: hidden holds ${hidden.length} values, expected ${tokenCount} x ${H}`);
    const parts = this.split(layer, hidden, tokenCount, a);
    const outputs = await Promise.all(
      parts.map((p) =>
        this.threads[p.thread]!.call(
          { op: 'run', layer, hidden: p.hidden, tokenCount: p.rows.length, tokens: p.tokens, experts: p.experts, weights: p.weights },
          [p.hidden.buffer as ArrayBuffer, p.tokens.buffer as ArrayBuffer, p.experts.buffer as ArrayBuffer, p.weights.buffer as ArrayBuffer],
        ),
      ),
    );
    if (parts.length === 1 && parts[0]!.rows.length === tokenCount) return outputs[0]!;
    const out = new Float32Array(tokenCount * H);
    parts.forEach((p, i) => {
      const partial = outputs[i]!;
      for (let j = 0; j < p.rows.length; j++) {
        const o = p.rows[j]! * H;
        for (let d = 0; d < H; d++) out[o + d] += partial[j * H + d]!;
      }
    });
    return out;
  }

  /** Stops every thread (idempotent); pending computations reject. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.owners.clear();
      await Promise.all(this.threads.map((t) => t.close()));
    })();
    return this.closed;
  }

  /**
   * Per participating thread (ascending index): the rows it needs (ascending), a compact copy of
   * them, and its assignments with rows renumbered into the copy. The copies are ours to transfer.
   */
  private split(layer: number, hidden: Float32Array, tokenCount: number, a: ExpertAssignments): ThreadPart[] {
    const H = this.config.hiddenSize;
    const byThread: number[][] = this.threads.map(() => []);
    for (let i = 0; i < a.experts.length; i++) {
      const e = a.experts[i]!;
      const own = this.owners.get(key(layer, e));
      if (!own?.ready) throw new ExpertUnavailableError(layer, e, 'not held by this worker');
      const t = a.tokens[i]!;
      if (!(t >= 0 && t < tokenCount)) throw new RangeError(`weightedSum: assignment ${i} uses row ${t}, outside [0, ${tokenCount})`);
      byThread[own.thread]!.push(i);
    }
    const parts: ThreadPart[] = [];
    const local = new Int32Array(tokenCount);
    byThread.forEach((idx, thread) => {
      if (idx.length === 0) return;
      local.fill(-1);
      for (const i of idx) local[a.tokens[i]!] = 0;
      const rows: number[] = [];
      for (let t = 0; t < tokenCount; t++) if (local[t] === 0) local[t] = rows.push(t) - 1;
      const x = new Float32Array(rows.length * H);
      rows.forEach((t, j) => x.set(hidden.subarray(t * H, (t + 1) * H), j * H));
      const tokens = new Int32Array(idx.length);
      const experts = new Int32Array(idx.length);
      const weights = new Float32Array(idx.length);
      idx.forEach((i, j) => {
        tokens[j] = local[a.tokens[i]!]!;
        experts[j] = a.experts[i]!;
        weights[j] = a.weights[i]!;
      });
      parts.push({ thread, rows, hidden: x, tokens, experts, weights });
    });
    return parts;
  }

  private leastLoadedThread(): PoolThread {
    const counts = this.loadsPerThread();
    let best: PoolThread | null = null;
    for (const t of this.threads) if (t.alive && (!best || counts[t.index]! < counts[best.index]!)) best = t;
    if (!best) throw new ExpertComputeError('no compute thread is running');
    return best;
  }

  private onThreadDeath(thread: number, err: Error, notify?: (thread: number, err: Error) => void): void {
    if (this.closed) return;
    for (const [k, o] of this.owners) if (o.thread === thread) this.owners.delete(k);
    notify?.(thread, err);
  }

  private checkOpen(): void {
    if (this.closed) throw new ExpertComputeError('the expert pool is closed');
  }

  private checkIds(layer: number, expert: number): void {
    const { numLayers, numExperts } = this.config;
    if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) throw new RangeError(`layer ${layer} is outside [0, ${numLayers})`);
    if (!Number.isInteger(expert) || expert < 0 || expert >= numExperts) throw new RangeError(`expert ${expert} is outside [0, ${numExperts})`);
  }
}

interface ThreadPart {
  readonly thread: number;
  readonly rows: number[];
  readonly hidden: Float32Array;
  readonly tokens: Int32Array;
  readonly experts: Int32Array;
  readonly weights: Float32Array;
}

function waitReady(worker: Worker, index: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: PoolResponse): void => {
      if (m.kind === 'ready') done(() => resolve(m.fingerprint));
      else if (m.kind === 'fatal') done(() => reject(new ExpertComputeError(`compute thread ${index} could not start: ${m.message}`)));
    };
    const onError = (err: Error): void => done(() => reject(new ExpertComputeError(`compute thread ${index} could not start: ${err.message}`, null, { cause: err })));
    const onExit = (code: number): void => done(() => reject(new ExpertComputeError(`compute thread ${index} exited during start (code ${code})`)));
    const done = (f: () => void): void => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      f();
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}
