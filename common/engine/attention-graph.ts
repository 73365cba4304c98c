// The attention core as one onnxruntime graph of standard ops (MatMul, Softmax's parts, Transpose,
// Reshape), so onnxruntime's multi-threaded kernels do the work and the CUDA provider can run it
// too. One graph serves every layer: the sinks are an input, and the window is expressed by which
// cache positions are fed and by the additive mask.
//
// Inputs, for one sequence's block of S new tokens against T visible cache positions:
//   qkv    [S, qkvDim]  the step's rows for these tokens (post-RoPE q first; only q is read)
//   keys   [T, kvHeads, headDim]  a zero-copy view of the cache's position-major rows
//   values [T, kvHeads, headDim]
//   mask   [S, T]       0 where query s may see key t, -inf elsewhere (causal and window)
//   sinks  [heads]      the layer's learned sink logits
// Output: attn [S, heads * headDim].
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
  const qkv = g.input('qkv', 'float32', ['s', qkvDim]);
  const keys = g.input('keys', 'float32', ['t', kvHeads, d]);
  const values = g.input('values', 'float32', ['t', kvHeads, d]);
  const mask = g.input('mask', 'float32', ['s', 't']);
  const sinks = g.input('sinks', 'float32', [heads]);

  // q [S, qDim] -> [kvHeads, group * S, d]: each kv head's queries as one matrix, so the cache is
  // read once per kv head rather than once per query head. Scaling q instead of the scores saves
  // a pass over the scores and is exact for gpt-oss (head_dim 64: a power-of-two scale).
  const q = g.op('Slice', [qkv, g.int64s([0]), g.int64s([qDim]), g.int64s([1])]);
  const qHeads = g.op('Transpose', [g.op('Reshape', [q, g.int64s([-1, kvHeads, group, d])])], { perm: { ints: [1, 2, 0, 3] } });
  const qScaled = g.op('Mul', [g.op('Reshape', [qHeads, g.int64s([kvHeads, -1, d])]), g.scalar(1 / Math.sqrt(d))]);
  const keysT = g.op('Transpose', [keys], { perm: { ints: [1, 2, 0] } }); // [kvHeads, d, T]
  const valuesH = g.op('Transpose', [values], { perm: { ints: [1, 0, 2] } }); // [kvHeads, T, d]
  const scores = g.op('MatMul', [qScaled, keysT]); // [kvHeads, group * S, T]

  const maskShape = g.op('Shape', [mask]);
  const shape4 = g.op('Concat', [g.int64s([kvHeads, group]), maskShape], { axis: { i: 0 } });
  const masked = g.op('Add', [g.op('Reshape', [scores, shape4]), mask]); // [kvHeads, group, S, T]
  const sinks4 = g.op('Reshape', [sinks, g.int64s([kvHeads, group, 1, 1])]);
  const max = g.op('Max', [g.op('ReduceMax', [masked], { axes: { ints: [-1] }, keepdims: { i: 1 } }), sinks4]);
  const exp = g.op('Exp', [g.op('Sub', [masked, max])]);
  const denom = g.op('Add', [g.op('ReduceSum', [exp, g.int64s([-1])], { keepdims: { i: 1 } }), g.op('Exp', [g.op('Sub', [sinks4, max])])]);
  const probs = g.op('Div', [exp, denom]);

  const keyCount = g.op('Slice', [maskShape, g.int64s([1]), g.int64s([2])]);
  const shape3 = g.op('Concat', [g.int64s([kvHeads, -1]), keyCount], { axis: { i: 0 } });
  const out = g.op('MatMul', [g.op('Reshape', [probs, shape3]), valuesH]); // [kvHeads, group * S, d]
  const perToken = g.op('Transpose', [g.op('Reshape', [out, g.int64s([kvHeads, group, -1, d])])], { perm: { ints: [2, 0, 1, 3] } });
  g.node('Reshape', [perToken, g.int64s([-1, qDim])], ['attn']);
  g.output('attn', 'float32', ['s', qDim]);
  return g.build();
}
