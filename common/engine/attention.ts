// The attention core for a step's sequences against their KV caches, on onnxruntime (see
// attention-graph.ts). The caches stay in JavaScript, position-major, and are only ever inputs, so
// a step never copies a cache out of onnxruntime. Two ways to feed the one graph:
//  - one sequence per run, its cache (or its window) a zero-copy view: prefill chunks, and decode
//    tokens that see many keys. Long prefills run in query blocks, each seeing only keys up to its
//    last position, which bounds the scores' memory and skips most of the masked causal half.
//  - decode tokens that see few keys (every sliding-window layer, short contexts) packed together,
//    B sequences in one run: copying their few keys costs less than a run per sequence.
import { OrtGraph, f32, type SessionSettings } from '../onnx/session.js';
import { buildAttentionCore, buildDecodeAttention, type AttentionShape } from './attention-graph.js';

/** Scores per graph run (batch x heads x queries x keys), i.e. 64 MiB per fp32 intermediate. */
const SCORE_BUDGET = 16 * 2 ** 20;
const MAX_QUERY_BLOCK = 512;
/**
 * A decode token is packed with others when its visible keys hold at most this many floats
 * (256 KiB each for keys and values): copying them costs less than the ~0.1-0.2 ms of a run.
 */
const PACK_MAX_KEY_FLOATS = 64 * 1024;

export interface SequenceAttention {
  /** The step's post-RoPE qkv rows, [N, qkvDim]. */
  readonly qkv: Float32Array;
  /** This sequence's first row in `qkv` (and in the output). */
  readonly firstRow: number;
  readonly count: number;
  /** The position of the first new token; the cache already holds positions up to the last one. */
  readonly firstPosition: number;
  /** The layer's cache, [position, kvHeads * headDim]. */
  readonly keys: Float32Array;
  readonly values: Float32Array;
  readonly sinks: Float32Array;
  /** 0 for full attention, else the sliding window (a query at q sees keys k with q - W < k <= q). */
  readonly window: number;
}

/** The first cache position a query at `position` sees. */
function firstVisible(position: number, window: number): number {
  return window > 0 ? Math.max(0, position - window + 1) : 0;
}

export class AttentionCore {
  private zeros = new Float32Array(0);
  private readonly kvDim: number;
  private readonly qkvDim: number;
  private readonly qDim: number;

  private constructor(
    /** Any number of queries per sequence (prefill blocks). */
    private readonly graph: OrtGraph,
    /** One query per sequence (decode, packed or alone). */
    private readonly decodeGraph: OrtGraph,
    private readonly shape: AttentionShape,
  ) {
    this.kvDim = shape.numKvHeads * shape.headDim;
    this.qDim = shape.numHeads * shape.headDim;
    this.qkvDim = this.qDim + 2 * this.kvDim;
  }

  static async create(shape: AttentionShape, settings: SessionSettings): Promise<AttentionCore> {
    const [graph, decodeGraph] = await Promise.all([OrtGraph.create(buildAttentionCore(shape), settings), OrtGraph.create(buildDecodeAttention(shape), settings)]);
    return new AttentionCore(graph, decodeGraph, shape);
  }

  /** Writes [heads * headDim] per new token of every sequence into `out` at its rows. */
  async attendAll(sequences: readonly SequenceAttention[], out: Float32Array): Promise<void> {
    const packable: SequenceAttention[] = [];
    for (const a of sequences) {
      const span = a.firstPosition + 1 - firstVisible(a.firstPosition, a.window);
      if (a.count === 1 && span * this.kvDim <= PACK_MAX_KEY_FLOATS) packable.push(a);
      else if (a.count > 0) await this.attend(a, out);
    }
    if (packable.length === 1) return this.attend(packable[0]!, out);
    const maxSpan = Math.floor(PACK_MAX_KEY_FLOATS / this.kvDim);
    const perRun = Math.max(1, Math.floor(SCORE_BUDGET / (this.shape.numHeads * maxSpan)));
    for (let i = 0; i < packable.length; i += perRun) await this.attendPacked(packable.slice(i, i + perRun), out);
  }

  /** One sequence's new tokens, in query blocks, against zero-copy views of its cache. */
  async attend(a: SequenceAttention, out: Float32Array): Promise<void> {
    const { numHeads, numKvHeads, headDim } = this.shape;
    const { kvDim, qkvDim, qDim } = this;
    for (let done = 0; done < a.count; ) {
      const first = a.firstPosition + done;
      const n = this.blockSize(a.count - done, first, a.window);
      const keyStart = firstVisible(first, a.window);
      const keyEnd = first + n;
      const t = keyEnd - keyStart;
      const row = a.firstRow + done;
      const { attn } = await (n === 1 ? this.decodeGraph : this.graph).run({
        qkv: f32(a.qkv.subarray(row * qkvDim, (row + n) * qkvDim), [1, n, qkvDim]),
        keys: f32(a.keys.subarray(keyStart * kvDim, keyEnd * kvDim), [1, t, numKvHeads, headDim]),
        values: f32(a.values.subarray(keyStart * kvDim, keyEnd * kvDim), [1, t, numKvHeads, headDim]),
        mask: f32(this.mask(n, first, keyStart, t, a.window), [1, n, t]),
        sinks: f32(a.sinks, [numHeads]),
      });
      out.set(attn!, row * qDim);
      done += n;
    }
  }

  /** Decode tokens of several sequences in one run: their visible keys copied side by side, padded. */
  private async attendPacked(batch: readonly SequenceAttention[], out: Float32Array): Promise<void> {
    const { numHeads, numKvHeads, headDim } = this.shape;
    const { kvDim, qkvDim, qDim } = this;
    const b = batch.length;
    const spans = batch.map((a) => a.firstPosition + 1 - firstVisible(a.firstPosition, a.window));
    const t = Math.max(...spans);
    const qkv = new Float32Array(b * qkvDim);
    const keys = new Float32Array(b * t * kvDim);
    const values = new Float32Array(b * t * kvDim);
    const mask = new Float32Array(b * t);
    batch.forEach((a, i) => {
      const start = firstVisible(a.firstPosition, a.window);
      const end = a.firstPosition + 1;
      qkv.set(a.qkv.subarray(a.firstRow * qkvDim, (a.firstRow + 1) * qkvDim), i * qkvDim);
      keys.set(a.keys.subarray(start * kvDim, end * kvDim), i * t * kvDim);
      values.set(a.values.subarray(start * kvDim, end * kvDim), i * t * kvDim);
      mask.fill(-Infinity, i * t + spans[i]!, (i + 1) * t);
    });
    // Every packed sequence of a run comes from the same layer, so they share its sinks.
    const { attn } = await this.decodeGraph.run({
      qkv: f32(qkv, [b, 1, qkvDim]),
      keys: f32(keys, [b, t, numKvHeads, headDim]),
      values: f32(values, [b, t, numKvHeads, headDim]),
      mask: f32(mask, [b, 1, t]),
      sinks: f32(batch[0]!.sinks, [numHeads]),
    });
    batch.forEach((a, i) => out.set(attn!.subarray(i * qDim, (i + 1) * qDim), a.firstRow * qDim));
  }

  /** The most queries one run may take so its scores stay within the budget. */
  private blockSize(remaining: number, first: number, window: number): number {
    const keysFor = (n: number) => (window > 0 ? Math.min(first + n, window + n - 1) : first + n);
    let n = Math.min(remaining, MAX_QUERY_BLOCK);
    while (n > 1 && this.shape.numHeads * n * keysFor(n) > SCORE_BUDGET) n = Math.ceil(n / 2);
    return n;
  }

  /** [n, t] additive mask: query i (position first + i) sees key j (position keyStart + j)? */
  private mask(n: number, first: number, keyStart: number, t: number, window: number): Float32Array {
    if (n === 1) {
      // One query sees every fed key: the fed range already is its causal window.
      if (this.zeros.length < t) this.zeros = new Float32Array(Math.max(t, 2 * this.zeros.length));
      return this.zeros.subarray(0, t);
    }
    const m = new Float32Array(n * t);
    for (let i = 0; i < n; i++) {
      const pos = first + i;
      const lo = firstVisible(pos, window) - keyStart;
      m.fill(-Infinity, i * t, i * t + Math.max(0, lo));
      m.fill(-Infinity, i * t + (pos - keyStart + 1), (i + 1) * t);
    }
    return m;
  }

  async release(): Promise<void> {
    await Promise.all([this.graph.release(), this.decodeGraph.release()]);
  }
}
