// One forward step over a batch of sequences, each contributing any number of new tokens (a
// prefill chunk or one decode token). All sequences' tokens are flattened into one [N, hidden]
// batch for every matmul, RoPE and the expert dispatch; only the KV append and the attention core
// (one onnxruntime run per sequence and layer) are per sequence.
// The same class serves the single-process engine and the distributed coordinator: only the
// ExpertBackend differs.
import type { ExpertBackend } from '../experts/expert-backend.js';
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

export class ForwardPass {
  private readonly rope: RotaryTable;

  constructor(
    readonly model: DenseModel,
    readonly experts: ExpertBackend,
  ) {
    this.rope = new RotaryTable(model.config);
  }

  /** Runs one step; returns, per entry, the fp32 logits of its last token (or null). */
  async step(entries: readonly StepEntry[], observer?: ForwardObserver): Promise<(Float32Array | null)[]> {
    const c = this.model.config;
    const H = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const qkvStride = qDim + 2 * kvDim;
    const n = entries.reduce((s, e) => s + e.tokens.length, 0);
    if (n === 0) return entries.map(() => null);

    const half = this.rope.halfDim;
    const firstRows: number[] = [];
    let x: Float32Array = new Float32Array(n * H);
    const cos = new Float32Array(n * half);
    const sin = new Float32Array(n * half);
    let row = 0;
    for (const e of entries) {
      firstRows.push(row);
      this.model.embed(e.tokens, x, row);
      for (let i = 0; i < e.tokens.length; i++) this.rope.fill(e.cache.length + i, cos, sin, row + i);
      e.cache.ensureCapacity(e.cache.length + e.tokens.length);
      row += e.tokens.length;
    }
    const rotation = { cos: f32(cos, [n, half]), sin: f32(sin, [n, half]) };

    const attn = new Float32Array(n * qDim);
    for (let l = 0; l < c.numLayers; l++) {
      const layer = this.model.layers[l]!;
      const { qkv } = await layer.attentionIn.run({ x: f32(x, [n, H]), ...rotation });
      const window = c.layerTypes[l] === 'sliding_attention' ? c.slidingWindow : 0;
      for (let s = 0; s < entries.length; s++) {
        const e = entries[s]!;
        const keys = e.cache.layerKeys(l);
        const values = e.cache.layerValues(l);
        const start = e.cache.length;
        for (let i = 0; i < e.tokens.length; i++) {
          const r = (firstRows[s]! + i) * qkvStride + qDim;
          keys.set(qkv!.subarray(r, r + kvDim), (start + i) * kvDim);
          values.set(qkv!.subarray(r + kvDim, r + 2 * kvDim), (start + i) * kvDim);
        }
        const sequence = { qkv: qkv!, firstRow: firstRows[s]!, count: e.tokens.length, firstPosition: start, keys, values, sinks: layer.sinks, window };
        await this.model.attention.attend(sequence, attn);
      }
      const out = await layer.attentionOut.run({ attn: f32(attn, [n, qDim]), x: f32(x, [n, H]) });
      const resid = out['resid']!;
      observer?.afterAttention?.(l, resid);
      observer?.routerLogits?.(l, out['router_logits']!);
      const routing = routeTokens(out['router_logits']!, n, c.numExperts, c.expertsPerToken);
      const moe = await this.experts.runLayer(l, out['normed']!, routing);
      for (let i = 0; i < resid.length; i++) resid[i] += moe[i]!;
      x = resid;
      observer?.afterMlp?.(l, x);
    }

    const wanted = entries.map((e, s) => (e.wantLogits && e.tokens.length > 0 ? firstRows[s]! + e.tokens.length - 1 : -1));
    const rows = wanted.filter((r) => r >= 0);
    const result: (Float32Array | null)[] = entries.map(() => null);
    if (rows.length > 0) {
      const last = new Float32Array(rows.length * H);
      rows.forEach((r, i) => last.set(x.subarray(r * H, (r + 1) * H), i * H));
      const { logits } = await this.model.unembedding.run({ x: f32(last, [rows.length, H]) });
      const V = c.vocabSize;
      let j = 0;
      wanted.forEach((r, s) => {
        if (r >= 0) {
          result[s] = logits!.slice(j * V, (j + 1) * V);
          j++;
        }
      });
    }
    for (const e of entries) e.cache.commit(e.tokens);
    return result;
  }
}
