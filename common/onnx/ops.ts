// Graph fragments shared by the dense and expert graphs.
import type { GraphBuilder } from './graph-builder.js';

/** RMSNorm in fp32 as the reference: x * rsqrt(mean(x^2) + eps) * scale, over the last axis. */
export function rmsNorm(g: GraphBuilder, x: string, scale: string, eps: number): string {
  const sq = g.op('Mul', [x, x]);
  const mean = g.op('ReduceMean', [sq], { axes: { ints: [-1] }, keepdims: { i: 1 } });
  const rms = g.op('Sqrt', [g.op('Add', [mean, g.scalar(eps)])]);
  return g.op('Mul', [g.op('Div', [x, rms]), scale]);
}

/** y = x W^T + b with W stored [out, in] as in the checkpoint. */
export function linear(g: GraphBuilder, x: string, weight: string, bias?: string): string {
  return g.op('Gemm', bias ? [x, weight, bias] : [x, weight], { transB: { i: 1 } });
}
