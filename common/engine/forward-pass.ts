// One forward step over a batch of sequences, each contributing any number of new tokens (a
// prefill chunk or one decode token). All sequences' tokens are flattened into one [N, hidden]
// batch for every matmul, RoPE and the expert dispatch; only the KV append and the attention core
// (packed decode tokens in one run, else a run per sequence) work per sequence.
// The same class serves the single-process engine and the distributed coordinator: only the
// ExpertBackend differs.
//
// Micro-batch overlap (MegaScale-Infer's ping-pong): when the experts run elsewhere, a step's
// sequences are split into micro-batches whose layers interleave. While micro-batch A's layer-L
// experts run on the workers, this thread computes B's layer-L attention, then waits for A's
// experts and computes A's layer L+1 while B's experts run, so neither side idles. Every row's
// arithmetic is the same as without the split: the tokens are identical.
import type { ExpertBackend, LayerRouting } from '../experts/expert-backend.js';
import { routeTokens } from '../experts/expert-backend.js';
import { f32 } from '../onnx/session.js';
import type { DenseModel } from './dense-model.js';
import type { KvCache } from './kv-cache.js';
import { RotaryTable } from './rope.js';

export interface StepEntry {
  readonly cache: KvCache;
  readonly tokens: readonly number[];
  /** Whether to return logits for this entry's last new token. */
  readonly wantLogits: boolean;
}

/** Observes per-layer internals (tests compare them with the reference's traces). */
export interface ForwardObserver {
  afterAttention?(layer: number, resid: Float32Array): void;
  routerLogits?(layer: number, logits: Float32Array): void;
  afterMlp?(layer: number, x: Float32Array): void;
}

export const OVERLAP_POLICIES = ['auto', 'always', 'never'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

export interface ForwardPassOptions {
  /**
   * When a step is split into interleaved micro-batches (only ever when the experts compute
   * elsewhere and the step has at least two sequences). 'auto' (default) splits when the experts'
   * per-layer round trip, measured on whole steps, is at least half the batch's attention time per
   * layer: then each micro-batch's attention can hide most of the other's round trip, while
   * splitting a step whose round trip is short only adds graph runs and messages. Every 16th step
   * runs whole to measure again.
   */
  readonly overlap?: OverlapPolicy;
  /** Micro-batches a split step has (default 2). */
  readonly microBatches?: number;
  /** Below this many tokens a step runs whole (default 2). */
  readonly minOverlapTokens?: number;
}

const REMEASURE_EVERY_STEPS = 16;
/** Weight of the newest whole step in the running estimates. */
const ESTIMATE_WEIGHT = 0.3;

/** One micro-batch's state through the layers: its sequences' rows as one [n, hidden] batch. */
interface MicroBatch {
  readonly entries: readonly StepEntry[];
  readonly firstRows: readonly number[];
  readonly n: number;
  x: Float32Array;
  readonly rotation: { cos: ReturnType<typeof f32>; sin: ReturnType<typeof f32> };
  readonly attn: Float32Array;
}

/** A layer's attention half done: the residual stream, and what the experts need. */
interface AttentionResult {
  readonly resid: Float32Array;
  readonly normed: Float32Array;
  readonly routing: LayerRouting;
}

export class ForwardPass {
  /** Steps run, and how many of them as interleaved micro-batches. */
  readonly counters = { steps: 0, overlappedSteps: 0 };
  private readonly rope: RotaryTable;
  private readonly microBatches: number;
  private readonly minOverlapTokens: number;
  private readonly overlap: OverlapPolicy;
  /** Running per-layer estimates from whole steps: the experts' round trip, and attention. */
  private readonly estimate = { roundTripMs: NaN, attentionMs: NaN, stepsSinceWhole: 0 };

  constructor(
    readonly model: DenseModel,
    readonly experts: ExpertBackend,
    options: ForwardPassOptions = {},
  ) {
    this.rope = new RotaryTable(model.config);
    this.microBatches = options.microBatches ?? 2;
    this.minOverlapTokens = options.minOverlapTokens ?? 2;
    this.overlap = options.overlap ?? 'auto';
    if (!Number.isInteger(this.microBatches) || this.microBatches < 1) throw new RangeError(`microBatches must be a positive integer, got ${options.microBatches}`);
  }

  /** Runs one step; returns, per entry, the fp32 logits of its last token (or null). */
  async step(entries: readonly StepEntry[], observer?: ForwardObserver): Promise<(Float32Array | null)[]> {
    if (entries.every((e) => e.tokens.length === 0)) return entries.map(() => null);
    for (const e of entries) e.cache.ensureCapacity(e.cache.length + e.tokens.length);
    // Observers see whole-step tensors, so a step they watch is not split.
    const batches = this.split(entries.filter((e) => e.tokens.length > 0), observer).map((group) => this.prepare(group));
    this.counters.steps++;
    if (batches.length === 1) {
      const b = batches[0]!;
      let attentionMs = 0;
      let roundTripMs = 0;
      for (let l = 0; l < this.model.config.numLayers; l++) {
        const t0 = performance.now();
        const a = await this.attention(b, l, observer);
        const t1 = performance.now();
        const moe = await this.experts.runLayer(l, a.normed, a.routing);
        const t2 = performance.now();
        this.addExperts(b, a, moe, l, observer);
        attentionMs += t1 - t0;
        roundTripMs += t2 - t1;
      }
      this.learn(attentionMs / this.model.config.numLayers, roundTripMs / this.model.config.numLayers);
    } else {
      this.counters.overlappedSteps++;
      await this.interleaved(batches);
    }
    const logits = await this.logits(batches);
    for (const e of entries) e.cache.commit(e.tokens);
    return entries.map((e) => logits.get(e) ?? null);
  }

  /** The ping-pong: each micro-batch's layer L attention runs while the others' experts compute. */
  private async interleaved(batches: MicroBatch[]): Promise<void> {
    const inFlight: (Promise<Float32Array> | null)[] = batches.map(() => null);
    const started: (AttentionResult | null)[] = batches.map(() => null);
    try {
      for (let l = 0; l < this.model.config.numLayers; l++) {
        for (let m = 0; m < batches.length; m++) {
          const b = batches[m]!;
          if (inFlight[m]) this.addExperts(b, started[m]!, await inFlight[m]!, l - 1);
          const a = await this.attention(b, l);
          started[m] = a;
          inFlight[m] = this.experts.runLayer(l, a.normed, a.routing);
          inFlight[m]!.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
          // Let the dispatch leave before the next micro-batch's onnxruntime runs block this thread.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const last = this.model.config.numLayers - 1;
      for (let m = 0; m < batches.length; m++) this.addExperts(batches[m]!, started[m]!, await inFlight[m]!, last);
    } catch (err) {
      await Promise.allSettled(inFlight.filter((p) => p !== null));
      throw err;
    }
  }

  private learn(attentionMs: number, roundTripMs: number): void {
    const e = this.estimate;
    e.stepsSinceWhole = 0;
    const blend = (old: number, now: number) => (Number.isNaN(old) ? now : old + ESTIMATE_WEIGHT * (now - old));
    e.attentionMs = blend(e.attentionMs, attentionMs);
    e.roundTripMs = blend(e.roundTripMs, roundTripMs);
  }

  /** Whether this step's wait on the experts is worth hiding behind another micro-batch. */
  private worthSplitting(): boolean {
    if (this.overlap !== 'auto') return this.overlap === 'always';
    const e = this.estimate;
    if (Number.isNaN(e.roundTripMs) || ++e.stepsSinceWhole >= REMEASURE_EVERY_STEPS) return false;
    return e.roundTripMs >= 0.5 * e.attentionMs;
  }

  /** Contiguous groups of sequences with about equal token counts, or the whole step. */
  private split(entries: readonly StepEntry[], observer: ForwardObserver | undefined): StepEntry[][] {
    const total = entries.reduce((s, e) => s + e.tokens.length, 0);
    const parts = Math.min(this.microBatches, entries.length);
    const eligible = !observer && parts >= 2 && this.experts.computesElsewhere === true && total >= this.minOverlapTokens;
    if (!eligible || !this.worthSplitting()) return [[...entries]];
    const groups: StepEntry[][] = [];
    let current: StepEntry[] = [];
    let seen = 0;
    entries.forEach((e, i) => {
      current.push(e);
      seen += e.tokens.length;
      const remainingEntries = entries.length - i - 1;
      const remainingGroups = parts - groups.length - 1;
      const full = seen >= (total * (groups.length + 1)) / parts;
      if (remainingGroups > 0 && (full || remainingEntries === remainingGroups)) {
        groups.push(current);
        current = [];
      }
    });
    groups.push(current);
    return groups;
  }

  private prepare(entries: readonly StepEntry[]): MicroBatch {
    const c = this.model.config;
    const half = this.rope.halfDim;
    const n = entries.reduce((s, e) => s + e.tokens.length, 0);
    const x = new Float32Array(n * c.hiddenSize);
    const cos = new Float32Array(n * half);
    const sin = new Float32Array(n * half);
    const firstRows: number[] = [];
    let row = 0;
    for (const e of entries) {
      firstRows.push(row);
      this.model.embed(e.tokens, x, row);
      for (let i = 0; i < e.tokens.length; i++) this.rope.fill(e.cache.length + i, cos, sin, row + i);
      row += e.tokens.length;
    }
    const rotation = { cos: f32(cos, [n, half]), sin: f32(sin, [n, half]) };
    return { entries, firstRows, n, x, rotation, attn: new Float32Array(n * c.numHeads * c.headDim) };
  }

  /** Layer l up to the router: qkv + RoPE, KV append, attention core, o_proj, residual, norm, router. */
  private async attention(b: MicroBatch, l: number, observer?: ForwardObserver): Promise<AttentionResult> {
    const c = this.model.config;
    const H = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const qkvStride = qDim + 2 * kvDim;
    const layer = this.model.layers[l]!;
    const { qkv } = await layer.attentionIn.run({ x: f32(b.x, [b.n, H]), ...b.rotation });
    const window = c.layerTypes[l] === 'sliding_attention' ? c.slidingWindow : 0;
    const sequences = b.entries.map((e, s) => {
      const keys = e.cache.layerKeys(l);
      const values = e.cache.layerValues(l);
      const start = e.cache.length;
      for (let i = 0; i < e.tokens.length; i++) {
        const r = (b.firstRows[s]! + i) * qkvStride + qDim;
        keys.set(qkv!.subarray(r, r + kvDim), (start + i) * kvDim);
        values.set(qkv!.subarray(r + kvDim, r + 2 * kvDim), (start + i) * kvDim);
      }
      return { qkv: qkv!, firstRow: b.firstRows[s]!, count: e.tokens.length, firstPosition: start, keys, values, sinks: layer.sinks, window };
    });
    await this.model.attention.attendAll(sequences, b.attn);
    const out = await layer.attentionOut.run({ attn: f32(b.attn, [b.n, qDim]), x: f32(b.x, [b.n, H]) });
    const resid = out['resid']!;
    observer?.afterAttention?.(l, resid);
    observer?.routerLogits?.(l, out['router_logits']!);
    const routing = routeTokens(out['router_logits']!, b.n, c.numExperts, c.expertsPerToken);
    return { resid, normed: out['normed']!, routing };
  }

  private addExperts(b: MicroBatch, a: AttentionResult, moe: Float32Array, l: number, observer?: ForwardObserver): void {
    const resid = a.resid;
    for (let i = 0; i < resid.length; i++) resid[i] += moe[i]!;
    b.x = resid;
    observer?.afterMlp?.(l, resid);
  }

  /** lm_head(rmsnorm(x)) of each entry's last token that wants logits, in one run for the step. */
  private async logits(batches: readonly MicroBatch[]): Promise<Map<StepEntry, Float32Array>> {
    const H = this.model.config.hiddenSize;
    const V = this.model.config.vocabSize;
    const wanted: { entry: StepEntry; row: Float32Array }[] = [];
    for (const b of batches) {
      b.entries.forEach((e, s) => {
        const r = b.firstRows[s]! + e.tokens.length - 1;
        if (e.wantLogits) wanted.push({ entry: e, row: b.x.subarray(r * H, (r + 1) * H) });
      });
    }
    const result = new Map<StepEntry, Float32Array>();
    if (wanted.length === 0) return result;
    const last = new Float32Array(wanted.length * H);
    wanted.forEach((w, i) => last.set(w.row, i * H));
    const { logits } = await this.model.unembedding.run({ x: f32(last, [wanted.length, H]) });
    wanted.forEach((w, j) => result.set(w.entry, logits!.slice(j * V, (j + 1) * V)));
    return result;
  }
}
