// The coordinator's ExpertBackend: per MoE layer, the batch's token-expert assignments are grouped
// by the worker that will run them, one message goes to each worker (over its long-lived stream),
// and the per-worker weighted sums are added up. A worker that fails with a retryable error has its
// share re-sent to another holder of the same experts.
import { ExpertUnavailableError, WorkerDispatchError } from '../../common/errors.js';
import type { ExpertBackend, LayerRouting } from '../../common/experts/expert-backend.js';
import type { WireDtype } from '../../common/wire/tensor-codec.js';

/** What a dispatch needs from a worker connection (ExpertClient implements it). */
export interface ExpertDispatcher {
  dispatch(
    layer: number,
    hidden: Float32Array,
    tokenCount: number,
    rows: Int32Array,
    experts: Int32Array,
    weights: Float32Array,
    options: { deadlineMs?: number; wireDtype?: WireDtype },
  ): Promise<Float32Array>;
}

export interface RemoteExpertBackendOptions {
  readonly hiddenSize: number;
  readonly numExperts: number;
  /** Holders of slot layer*numExperts+expert, best first; only live workers that hold it loaded. */
  readonly holders: (slot: number) => readonly string[];
  readonly client: (workerId: string) => ExpertDispatcher;
  /** A dispatch that takes longer fails over to a replica (default 10000). */
  readonly deadlineMs?: number;
  /** Activations on the wire: fp32 (exact, default) or fp16 (half the bytes). */
  readonly wireDtype?: WireDtype;
  /** Called when a worker failed a dispatch (the coordinator marks it suspect). */
  readonly onWorkerFailure?: (workerId: string, err: WorkerDispatchError) => void;
  /** A suspect worker gets work only when no other holder of the slot is left. */
  readonly isSuspect?: (workerId: string) => boolean;
  readonly onDispatch?: (workerId: string, ms: number, tokens: number) => void;
  /** Sees every layer's routing before it is dispatched (per-expert load for placement). */
  readonly onRouting?: (layer: number, routing: LayerRouting) => void;
}

interface Share {
  assignments: number[]; // indices into routing.experts
}

export class RemoteExpertBackend implements ExpertBackend {
  readonly computesElsewhere = true;
  private spread = 0;

  constructor(private readonly opts: RemoteExpertBackendOptions) {}

  async runLayer(layer: number, hidden: Float32Array, routing: LayerRouting): Promise<Float32Array> {
    const H = this.opts.hiddenSize;
    this.opts.onRouting?.(layer, routing);
    const out = new Float32Array(routing.tokenCount * H);
    const all = Array.from({ length: routing.experts.length }, (_, i) => i);
    await this.dispatchAssignments(layer, hidden, routing, all, new Set(), out);
    return out;
  }

  private async dispatchAssignments(layer: number, hidden: Float32Array, routing: LayerRouting, assignments: number[], excluded: Set<string>, out: Float32Array): Promise<void> {
    const shares = this.plan(layer, routing, assignments, excluded);
    const results = await Promise.allSettled([...shares].map(async ([workerId, share]) => this.send(workerId, layer, hidden, routing, share, out)));
    const retry: number[] = [];
    let failure: unknown = null;
    [...shares].forEach(([workerId, share], i) => {
      const r = results[i]!;
      if (r.status === 'fulfilled') return;
      if (r.reason instanceof WorkerDispatchError && r.reason.retryable) {
        this.opts.onWorkerFailure?.(workerId, r.reason);
        excluded.add(workerId);
        retry.push(...share.assignments);
      } else failure ??= r.reason;
    });
    if (failure) throw failure;
    if (retry.length > 0) await this.dispatchAssignments(layer, hidden, routing, retry, excluded, out);
  }

  /** Chooses a holder for every assignment; replicas share the load by rotating the first pick. */
  private plan(layer: number, routing: LayerRouting, assignments: number[], excluded: Set<string>): Map<string, Share> {
    const shares = new Map<string, Share>();
    const E = this.opts.numExperts;
    const rotation = this.spread++;
    for (const i of assignments) {
      const expert = routing.experts[i]!;
      const holders = this.opts.holders(layer * E + expert).filter((w) => !excluded.has(w));
      if (holders.length === 0) throw new ExpertUnavailableError(layer, expert, excluded.size > 0 ? 'every holder failed' : 'no live worker holds it');
      // Rotate among the healthy holders only: ordering suspects last is not enough, because the
      // rotation below would still pick a stalled replica for every other token and each such
      // dispatch would wait out the full deadline again.
      const healthy = this.opts.isSuspect ? holders.filter((w) => !this.opts.isSuspect!(w)) : holders;
      const pool = healthy.length > 0 ? healthy : holders;
      // All k experts of a token prefer the same replica index, so a token's experts tend to meet
      // on one worker (fewer rows on the wire).
      const token = Math.floor(i / routing.k);
      const workerId = pool[(token + rotation) % pool.length]!;
      let share = shares.get(workerId);
      if (!share) shares.set(workerId, (share = { assignments: [] }));
      share.assignments.push(i);
    }
    return shares;
  }

  private async send(workerId: string, layer: number, hidden: Float32Array, routing: LayerRouting, share: Share, out: Float32Array): Promise<void> {
    const H = this.opts.hiddenSize;
    // Only the rows of tokens this worker serves travel, each once however many of its experts it holds.
    const localRow = new Map<number, number>();
    const tokens: number[] = [];
    const rows = new Int32Array(share.assignments.length);
    const experts = new Int32Array(share.assignments.length);
    const weights = new Float32Array(share.assignments.length);
    share.assignments.forEach((i, j) => {
      const token = Math.floor(i / routing.k);
      let r = localRow.get(token);
      if (r === undefined) {
        r = tokens.length;
        localRow.set(token, r);
        tokens.push(token);
      }
      rows[j] = r;
      experts[j] = routing.experts[i]!;
      weights[j] = routing.weights[i]!;
    });
    const x = new Float32Array(tokens.length * H);
    tokens.forEach((t, r) => x.set(hidden.subarray(t * H, (t + 1) * H), r * H));
    const t0 = performance.now();
    const y = await this.opts.client(workerId).dispatch(layer, x, tokens.length, rows, experts, weights, {
      deadlineMs: this.opts.deadlineMs ?? 10_000,
      wireDtype: this.opts.wireDtype ?? 'fp32',
    });
    this.opts.onDispatch?.(workerId, performance.now() - t0, tokens.length);
    tokens.forEach((t, r) => {
      const o = t * H;
      const yo = r * H;
      for (let d = 0; d < H; d++) out[o + d] += y[yo + d]!;
    });
  }

  async close(): Promise<void> {}
}
