// The attention core for one sequence's new tokens against its KV cache, on onnxruntime (see
// attention-graph.ts). The cache stays in JavaScript, position-major, and is only ever an input:
// a window or a prefix of it is a zero-copy view, so a step never copies a cache out of
// onnxruntime. Long prefills run in query blocks, each seeing only keys up to its last position,
// which bounds the score tensor's memory and skips most of the causal triangle's masked half.
import { OrtGraph, f32, type SessionSettings } from '../onnx/session.js';
import { buildAttentionCore, type AttentionShape } from './attention-graph.js';

/** Scores per graph run (heads x queries x keys), i.e. 64 MiB per fp32 intermediate. */
const SCORE_BUDGET = 16 * 2 ** 20;
const MAX_QUERY_BLOCK = 512;

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

export class AttentionCore {
  private zeros = new Float32Array(0);

  private constructor(
    private readonly graph: OrtGraph,
    private readonly config: AttentionShape,
  ) {}

  static async create(c: AttentionShape, settings: SessionSettings): Promise<AttentionCore> {
    return new AttentionCore(await OrtGraph.create(buildAttentionCore(c), settings), c);
  }

  /** Writes [heads * headDim] per new token into `out` at the sequence's rows. */
  async attend(a: SequenceAttention, out: Float32Array): Promise<void> {
    const c = this.config;
    const kvDim = c.numKvHeads * c.headDim;
    const qkvDim = c.numHeads * c.headDim + 2 * kvDim;
    const qDim = c.numHeads * c.headDim;
    for (let done = 0; done < a.count; ) {
      const first = a.firstPosition + done;
      const n = this.blockSize(a.count - done, first, a.window);
      const keyStart = a.window > 0 ? Math.max(0, first - a.window + 1) : 0;
      const keyEnd = first + n;
      const t = keyEnd - keyStart;
      const row = a.firstRow + done;
      const { attn } = await this.graph.run({
        qkv: f32(a.qkv.subarray(row * qkvDim, (row + n) * qkvDim), [n, qkvDim]),
        keys: f32(a.keys.subarray(keyStart * kvDim, keyEnd * kvDim), [t, c.numKvHeads, c.headDim]),
        values: f32(a.values.subarray(keyStart * kvDim, keyEnd * kvDim), [t, c.numKvHeads, c.headDim]),
        mask: f32(this.mask(n, first, keyStart, t, a.window), [n, t]),
        sinks: f32(a.sinks, [c.numHeads]),
      });
      out.set(attn!, row * qDim);
      done += n;
    }
  }

  /** The most queries one run may take so its scores stay within the budget. */
  private blockSize(remaining: number, first: number, window: number): number {
    const keysFor = (n: number) => (window > 0 ? Math.min(first + n, window + n - 1) : first + n);
    let n = Math.min(remaining, MAX_QUERY_BLOCK);
    while (n > 1 && this.config.numHeads * n * keysFor(n) > SCORE_BUDGET) n = Math.ceil(n / 2);
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
      const lo = window > 0 ? Math.max(keyStart, pos - window + 1) : keyStart;
      m.fill(-Infinity, i * t, i * t + (lo - keyStart));
      m.fill(-Infinity, i * t + (pos - keyStart + 1), (i + 1) * t);
    }
    return m;
  }

  async release(): Promise<void> {
    await this.graph.release();
  }
}
