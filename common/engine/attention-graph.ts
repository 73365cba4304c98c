// The attention core as one onnxruntime graph of standard ops (MatMul, Softmax's parts, Transpose,
// Reshape), so onnxruntime's multi-threaded kernels do the work and the CUDA provider can run it
// too. One graph serves every layer: the sinks are an input, and the window is expressed by which
// cache positions are fed and by the additive mask.
//
// Inputs, for B sequences' blocks of S new tokens each against T visible cache positions (B = 1
// with zero-copy views of one sequence's cache; B > 1 for decode tokens packed together):
//   qkv    [B, S, qkvDim]  the step's rows for these tokens (post-RoPE q first; only q is read)
//   keys   [B, T, kvHeads, headDim]  the cache's position-major rows
//   values [B, T, kvHeads, headDim]
//   mask   [B, S, T]       0 where query s may see key t, -inf elsewhere (causal, window, padding)
//   sinks  [heads]         the layer's learned sink logits
// Output: attn [B, S, heads * headDim].
//
// The sink is an extra softmax column per head that is dropped afterwards (reference sdpa); here
// it enters the max and the denominator directly, which is the same softmax without a Concat.
import type { ModelConfig } from '../model/model-config.js';
import { GraphBuilder, type BuiltModel } from '../onnx/graph-builder.js';

export type AttentionShape = Pick<ModelConfig, 'numHeads' | 'numKvHeads' | 'headDim'>;

export function buildAttentionCore(c: AttentionShape): BuiltModel {
  const g = new GraphBuilder('attention_core');
  const { numHeads: heads, numKvHeads: kvHeads, headDim: d } = c;
  const group = heads / kvHeads;
  const qDim = heads * d;
  const qkvDim = (heads + 2 * kvHeads) * d;
  const qkv = g.input('qkv', 'float32', ['b', 's', qkvDim]);
  const keys = g.input('keys', 'float32', ['b', 't', kvHeads, d]);
  const values = g.input('values', 'float32', ['b', 't', kvHeads, d]);
  const mask = g.input('mask', 'float32', ['b', 's', 't']);
  const sinks = g.input('sinks', 'float32', [heads]);

  // q [B, S, qDim] -> [B, kvHeads, group * S, d]: each kv head's queries as one matrix, so the
  // cache is read once per kv head rather than once per query head. Scaling q instead of the scores
  // saves a pass over the scores and is exact for gpt-oss (head_dim 64: a power-of-two scale).
  const q = g.op('Slice', [qkv, g.int64s([0]), g.int64s([qDim]), g.int64s([2])]);
  const qHeads = g.op('Transpose', [g.op('Reshape', [q, g.int64s([0, -1, kvHeads, group, d])])], { perm: { ints: [0, 2, 3, 1, 4] } });
  const qScaled = g.op('Mul', [g.op('Reshape', [qHeads, g.int64s([0, kvHeads, -1, d])]), g.scalar(1 / Math.sqrt(d))]);
  const keysT = g.op('Transpose', [keys], { perm: { ints: [0, 2, 3, 1] } }); // [B, kvHeads, d, T]
  const valuesH = g.op('Transpose', [values], { perm: { ints: [0, 2, 1, 3] } }); // [B, kvHeads, T, d]
  const scores = g.op('MatMul', [qScaled, keysT]); // [B, kvHeads, group * S, T]

  // Everything stays in the scores' own [B, kvHeads, group * S, T] layout, built from constant
  // shapes only: shape arithmetic on a Shape op's output is what the CUDA provider runs on the CPU.
  // Row g * S + s of every kv head sees mask row s: the mask tiled group times along its rows.
  const mask4 = g.op('Unsqueeze', [g.op('Tile', [mask, g.int64s([1, group, 1])]), g.int64s([1])]); // [B, 1, group * S, T]
  const masked = g.op('Add', [scores, mask4]);
  // Each row's sink, [B, kvHeads, group * S, 1]: the sinks broadcast over a zero column taken from
  // q, which has the rows' shape (0 * q + sink is the sink exactly).
  const zeros = g.op('Mul', [g.op('Slice', [qHeads, g.int64s([0]), g.int64s([1]), g.int64s([4])]), g.scalar(0)]); // [B, kvHeads, group, S, 1]
  const sinks5 = g.op('Reshape', [sinks, g.int64s([1, kvHeads, group, 1, 1])]);
  const sinkRows = g.op('Reshape', [g.op('Add', [zeros, sinks5]), g.int64s([0, kvHeads, -1, 1])]);
  const max = g.op('Max', [g.op('ReduceMax', [masked], { axes: { ints: [-1] }, keepdims: { i: 1 } }), sinkRows]);
  const exp = g.op('Exp', [g.op('Sub', [masked, max])]);
  const denom = g.op('Add', [g.op('ReduceSum', [exp, g.int64s([-1])], { keepdims: { i: 1 } }), g.op('Exp', [g.op('Sub', [sinkRows, max])])]);
  const probs = g.op('Div', [exp, denom]);

  const out = g.op('MatMul', [probs, valuesH]); // [B, kvHeads, group * S, d]
  const perToken = g.op('Transpose', [g.op('Reshape', [out, g.int64s([0, kvHeads, group, -1, d])])], { perm: { ints: [0, 3, 1, 2, 4] } });
  g.node('Reshape', [perToken, g.int64s([0, -1, qDim])], ['attn']);
  g.output('attn', 'float32', ['b', 's', qDim]);
  return g.build();
}

/**
 * The same attention for one query per sequence (decode), laid out for reading long caches: the
 * scores are computed transposed, keys x queries ([B, kvHeads, T, group]), so the keys only need
 * the cheap head-major copy (runs of headDim floats) rather than an element-wise transpose to
 * [d, T]; only the probabilities, group times smaller, are transposed back. Same inputs, with
 * S = 1; same output.
 */
export function buildDecodeAttention(c: AttentionShape): BuiltModel {
  const g = new GraphBuilder('attention_decode');
  const { numHeads: heads, numKvHeads: kvHeads, headDim: d } = c;
  const group = heads / kvHeads;
  const qDim = heads * d;
  const qkvDim = (heads + 2 * kvHeads) * d;
  const qkv = g.input('qkv', 'float32', ['b', 1, qkvDim]);
  const keys = g.input('keys', 'float32', ['b', 't', kvHeads, d]);
  const values = g.input('values', 'float32', ['b', 't', kvHeads, d]);
  const mask = g.input('mask', 'float32', ['b', 1, 't']);
  const sinks = g.input('sinks', 'float32', [heads]);

  const q = g.op('Slice', [qkv, g.int64s([0]), g.int64s([qDim]), g.int64s([2])]);
  const qT = g.op('Transpose', [g.op('Reshape', [q, g.int64s([0, kvHeads, group, d])])], { perm: { ints: [0, 1, 3, 2] } }); // [B, kvHeads, d, group]
  const qScaled = g.op('Mul', [qT, g.scalar(1 / Math.sqrt(d))]);
  const keysH = g.op('Transpose', [keys], { perm: { ints: [0, 2, 1, 3] } }); // [B, kvHeads, T, d]
  const valuesH = g.op('Transpose', [values], { perm: { ints: [0, 2, 1, 3] } });
  const scores = g.op('MatMul', [keysH, qScaled]); // [B, kvHeads, T, group]
  const masked = g.op('Add', [scores, g.op('Reshape', [mask, g.int64s([0, 1, -1, 1])])]);
  const sinks4 = g.op('Reshape', [sinks, g.int64s([1, kvHeads, 1, group])]);
  const max = g.op('Max', [g.op('ReduceMax', [masked], { axes: { ints: [-2] }, keepdims: { i: 1 } }), sinks4]);
  const exp = g.op('Exp', [g.op('Sub', [masked, max])]);
  const denom = g.op('Add', [g.op('ReduceSum', [exp, g.int64s([-2])], { keepdims: { i: 1 } }), g.op('Exp', [g.op('Sub', [sinks4, max])])]);
  const probs = g.op('Transpose', [g.op('Div', [exp, denom])], { perm: { ints: [0, 1, 3, 2] } }); // [B, kvHeads, group, T]
  const out = g.op('MatMul', [probs, valuesH]); // [B, kvHeads, group, d]
  g.node('Reshape', [out, g.int64s([0, 1, qDim])], ['attn']);
  g.output('attn', 'float32', ['b', 1, qDim]);
  return g.build();
}
