// One expert (SwiGLU with clamp) as one small onnxruntime graph: x [n, H] -> y [n, H].
// h = W1 x + b1 with rows interleaved (even = gate, odd = up); g = min(gate, limit);
// u = clamp(up, -limit, limit); a = g * sigmoid(1.702 g) * (u + 1); y = W2 a + b2.
import type { ModelConfig } from '../model/model-config.js';
import type { ExpertWeights } from '../checkpoint/weights.js';
import { GraphBuilder, type BuiltModel } from '../onnx/graph-builder.js';
import type { ExpertRuntimeOptions } from './expert-precision.js';
import { addMxfp4Tables, mxfp4Feeds, mxfp4Projection, type Mxfp4Tables } from './mxfp4-projection.js';
import type { Feeds } from '../onnx/session.js';
import { decodeExpert, type DecodedExpert, type DecodedProjection } from './expert-decode.js';
import { DEFAULT_Q4X2_ACCURACY_LEVEL, q4x2Projection } from './q4x2-projection.js';

const SWIGLU_ALPHA = 1.702;

/** A projection's weights: held by the graph (decoded), or fed on each run (mxfp4). */
type ProjectionWeights = { readonly held: DecodedProjection; readonly bias: Float32Array } | 'fed';

function projection(g: GraphBuilder, x: string, name: string, w: ProjectionWeights, outDim: number, inDim: number, opts: ExpertRuntimeOptions, tables: Mxfp4Tables | null): string {
  if (w === 'fed') return mxfp4Projection(g, tables!, x, name, outDim, inDim);
  const { held: p, bias } = w;
  if (p.kind === 'mxfp4') throw new Error(`expert projection ${name}: mxfp4 weights are fed, not held`);
  const b = g.initializer(`${name}_b`, 'float32', [outDim], bias);
  if (p.kind === 'fp32') {
    // Decoded in JavaScript, not by onnxruntime constant-folding the mxfp4 widening nodes: folding
    // measured over ten times slower at session creation (8.6 s per 20b-size expert against 0.7 s).
    const w = g.initializer(`${name}_w`, 'float32', [outDim, inDim], p.weight);
    return g.op('Gemm', [x, w, b], { transB: { i: 1 } });
  }
  const level = opts.accuracyLevel ?? DEFAULT_Q4X2_ACCURACY_LEVEL;
  // Checked here too: options can come from untyped places (worker thread data, JSON).
  if (level !== 0 && level !== 1) throw new Error(`expert projection ${name}: q4x2 runs at accuracy level 0 or 1 (fp32 activations, exact), not ${String(level)}`);
  return g.op('Add', [q4x2Projection(g, x, name, p, outDim, inDim, level), b]);
}

/**
 * The expert's graph from its checkpoint bytes (decoded here) or from an already decoded expert.
 * fp32 and q4x2 graphs hold their weights: onnxruntime prepacks them once, which makes each run
 * faster than feeding them (up to 2x at 2-16 tokens, measured). An mxfp4 expert has no graph of
 * its own: fedExpertGraph serves them all.
 */
export function buildExpertGraph(c: ModelConfig, w: ExpertWeights | DecodedExpert, opts: ExpertRuntimeOptions): BuiltModel {
  const d = 'gateUp' in w ? w : decodeExpert(c, w, opts.precision);
  return expertGraph(c, `expert_${d.layer}_${d.expert}`, { held: d.gateUp, bias: d.gateUpBias }, { held: d.down, bias: d.downBias }, opts);
}

/** The one graph of every mxfp4 expert: its weights are inputs, bound per expert by expertFeeds. */
export function fedExpertGraph(c: ModelConfig, opts: ExpertRuntimeOptions): BuiltModel {
  return expertGraph(c, 'expert_mxfp4_fed', 'fed', 'fed', opts);
}

function expertGraph(c: ModelConfig, name: string, up: ProjectionWeights, down: ProjectionWeights, opts: ExpertRuntimeOptions): BuiltModel {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const g = new GraphBuilder(name);
  const x = g.input('x', 'float32', ['n', H]);
  const tables = up === 'fed' || down === 'fed' ? addMxfp4Tables(g) : null;
  const h = projection(g, x, 'up', up, 2 * I, H, opts, tables);
  const pairs = g.op('Reshape', [h, g.int64s([-1, I, 2])]);
  const gate = g.op('Gather', [pairs, g.scalar(0, 'int64')], { axis: { i: 2 } });
  const upHalf = g.op('Gather', [pairs, g.scalar(1, 'int64')], { axis: { i: 2 } });
  const limit = c.swigluLimit;
  const gClamped = g.op('Min', [gate, g.scalar(limit)]);
  const uClamped = g.op('Clip', [upHalf, g.scalar(-limit), g.scalar(limit)]);
  const glu = g.op('Mul', [gClamped, g.op('Sigmoid', [g.op('Mul', [gClamped, g.scalar(SWIGLU_ALPHA)])])]);
  const act = g.op('Mul', [glu, g.op('Add', [uClamped, g.scalar(1)])]);
  const y = projection(g, act, 'down', down, H, I, opts, tables);
  g.node('Identity', [y], ['y']);
  g.output('y', 'float32', ['n', H]);
  return g.build();
}

/** The inputs that carry an expert's weights into its graph: none for fp32 and q4x2. */
export function expertFeeds(c: ModelConfig, d: DecodedExpert): Feeds {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const feeds: Feeds = {};
  if (d.gateUp.kind === 'mxfp4') Object.assign(feeds, mxfp4Feeds('up', d.gateUp.blocks, d.gateUp.scales, d.gateUpBias, 2 * I, H));
  if (d.down.kind === 'mxfp4') Object.assign(feeds, mxfp4Feeds('down', d.down.blocks, d.down.scales, d.downBias, H, I));
  return feeds;
}

/** Whether one graph serves every expert (fedExpertGraph), its weights fed on each run (expertFeeds). */
export function weightsAreFed(opts: Pick<ExpertRuntimeOptions, 'precision'>): boolean {
  return opts.precision === 'mxfp4';
}

/** Resident bytes of one expert's weights in the given precision (for sizing and reports). */
export function expertResidentBytes(c: ModelConfig, opts: Pick<ExpertRuntimeOptions, 'precision'>): number {
  const params = 2 * c.intermediateSize * c.hiddenSize + c.hiddenSize * c.intermediateSize;
  const biases = (2 * c.intermediateSize + c.hiddenSize) * 4;
  switch (opts.precision) {
    case 'fp32':
      return params * 4 + biases;
    case 'q4x2': // two 4-bit codes per parameter, one fp32 scale per 32 parameters
      return params + (params / 32) * 4 + biases;
    case 'mxfp4':
      return params / 2 + params / 32 + biases;
  }
}
