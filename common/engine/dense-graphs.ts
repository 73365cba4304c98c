// The dense half of each layer as onnxruntime graphs over the step's flattened tokens [N, hidden].
// Between `attentionIn` and `attentionOut` the step appends each sequence's keys and values to its
// cache and runs the attention core (attention-graph.ts) per sequence, because a step mixes
// sequences of different lengths (chunked prefill beside decode).
import type { ModelConfig } from '../model/model-config.js';
import type { AttentionWeights, RouterWeights } from '../checkpoint/weights.js';
import { GraphBuilder, type BuiltModel } from '../onnx/graph-builder.js';
import { linear, rmsNorm } from '../onnx/ops.js';

/**
 * x [N, H], cos/sin [N, headDim / 2] (each token's YaRN table row) -> qkv [N, (heads + 2 kvHeads) *
 * headDim] = qkv_proj(rmsnorm(x)) with q and k rotated. RoPE runs here, batched over the step's
 * tokens, in fp32 like the reference.
 */
export function buildAttentionIn(c: ModelConfig, layer: number, w: AttentionWeights): BuiltModel {
  const g = new GraphBuilder(`attn_in_${layer}`);
  const H = c.hiddenSize;
  const half = c.headDim / 2;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const qkvDim = qDim + 2 * kvDim;
  const x = g.input('x', 'float32', ['n', H]);
  const cos = g.op('Reshape', [g.input('cos', 'float32', ['n', half]), g.int64s([-1, 1, 1, half])]);
  const sin = g.op('Reshape', [g.input('sin', 'float32', ['n', half]), g.int64s([-1, 1, 1, half])]);
  const scale = g.initializer('norm', 'float32', [H], w.inputNorm);
  const wq = g.initializer('qkv_w', 'float32', [qkvDim, H], w.qkvWeight);
  const bq = g.initializer('qkv_b', 'float32', [qkvDim], w.qkvBias);
  const raw = g.op('Gemm', [rmsNorm(g, x, scale, c.rmsNormEps), wq, bq], { transB: { i: 1 } });
  const columns = (from: number, to: number) => g.op('Slice', [raw, g.int64s([from]), g.int64s([to]), g.int64s([1])]);
  const q = rotateHalves(g, columns(0, qDim), cos, sin, c.numHeads, c.headDim);
  const k = rotateHalves(g, columns(qDim, qDim + kvDim), cos, sin, c.numKvHeads, c.headDim);
  g.node('Concat', [q, k, columns(qDim + kvDim, qkvDim)], ['qkv'], { axis: { i: 1 } });
  g.output('qkv', 'float32', ['n', qkvDim]);
  return g.build();
}

/** NeoX rotation of each head's two halves: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin). */
function rotateHalves(g: GraphBuilder, x: string, cos: string, sin: string, heads: number, headDim: number): string {
  const half = headDim / 2;
  const pairs = g.op('Reshape', [x, g.int64s([-1, heads, 2, half])]);
  const part = (i: number) => g.op('Slice', [pairs, g.int64s([i]), g.int64s([i + 1]), g.int64s([2])]);
  const x1 = part(0);
  const x2 = part(1);
  const o1 = g.op('Sub', [g.op('Mul', [x1, cos]), g.op('Mul', [x2, sin])]);
  const o2 = g.op('Add', [g.op('Mul', [x2, cos]), g.op('Mul', [x1, sin])]);
  return g.op('Reshape', [g.op('Concat', [o1, o2], { axis: { i: 2 } }), g.int64s([-1, heads * headDim])]);
}

/**
 * attn [N, heads*headDim], x [N, H] -> resid = x + o_proj(attn); normed = rmsnorm(resid);
 * router_logits = router(normed).
 */
export function buildAttentionOut(c: ModelConfig, layer: number, w: AttentionWeights, r: RouterWeights): BuiltModel {
  const g = new GraphBuilder(`attn_out_${layer}`);
  const H = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const attn = g.input('attn', 'float32', ['n', qDim]);
  const x = g.input('x', 'float32', ['n', H]);
  const wo = g.initializer('o_w', 'float32', [H, qDim], w.oWeight);
  const bo = g.initializer('o_b', 'float32', [H], w.oBias);
  g.node('Add', [x, linear(g, attn, wo, bo)], ['resid']);
  const scale = g.initializer('post_norm', 'float32', [H], r.postAttentionNorm);
  g.node('Identity', [rmsNorm(g, 'resid', scale, c.rmsNormEps)], ['normed']);
  const wr = g.initializer('router_w', 'float32', [c.numExperts, H], r.weight);
  const br = g.initializer('router_b', 'float32', [c.numExperts], r.bias);
  g.node('Gemm', ['normed', wr, br], ['router_logits'], { transB: { i: 1 } });
  g.output('resid', 'float32', ['n', H]);
  g.output('normed', 'float32', ['n', H]);
  g.output('router_logits', 'float32', ['n', c.numExperts]);
  return g.build();
}

/** onnxruntime refuses any one initializer over 2 GiB, even as in-memory external data. */
const MAX_INITIALIZER_BYTES = 1 << 30;

/**
 * x [M, H] -> logits [M, vocab] = lm_head(rmsnorm(x)); the unembedding is not tied. A vocabulary
 * too large for one initializer (201088 x 2880 fp32 is 2.3 GB) is split into row blocks whose
 * logits are concatenated.
 */
export function buildUnembedding(c: ModelConfig, finalNorm: Float32Array, lmHead: Float32Array): BuiltModel {
  const g = new GraphBuilder('unembed');
  const H = c.hiddenSize;
  const x = g.input('x', 'float32', ['m', H]);
  const scale = g.initializer('final_norm', 'float32', [H], finalNorm);
  const normed = rmsNorm(g, x, scale, c.rmsNormEps);
  const rowsPerBlock = Math.max(1, Math.floor(MAX_INITIALIZER_BYTES / (H * 4)));
  const parts: string[] = [];
  for (let first = 0; first < c.vocabSize; first += rowsPerBlock) {
    const rows = Math.min(rowsPerBlock, c.vocabSize - first);
    const w = g.initializer(`lm_head_${first}`, 'float32', [rows, H], lmHead.subarray(first * H, (first + rows) * H));
    parts.push(g.op('Gemm', [normed, w], { transB: { i: 1 } }));
  }
  g.node(parts.length === 1 ? 'Identity' : 'Concat', parts, ['logits'], parts.length === 1 ? {} : { axis: { i: 1 } });
  g.output('logits', 'float32', ['m', c.vocabSize]);
  return g.build();
}
