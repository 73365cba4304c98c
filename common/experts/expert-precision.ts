// How a worker keeps and runs experts.
// - fp32: MXFP4 decoded to fp32 and run as Gemm. Exact (the golden sets are checked in it); 32 bits
//   per parameter resident.
// - q8: MXFP4 re-encoded exactly into 8-bit blocks of 32 for MatMulNBits (9 bits per parameter
//   with onnxruntime's fp32 block scales). Weights are bit-exact; activations stay fp32 unless
//   accuracy level 4 is chosen, which quantizes them to int8 for speed.
// - mxfp4: the checkpoint's own bytes stay resident (packed nibbles + e8m0 block scales, 4.25 bits
//   per parameter) and the expert graph widens them to fp32 on every run with standard ONNX ops
//   (Gather over a byte -> two-values table, times the block scale, Gemm). Exact like fp32.
export type ExpertPrecision = 'fp32' | 'q8' | 'mxfp4';
export const EXPERT_PRECISIONS: readonly ExpertPrecision[] = ['fp32', 'q8', 'mxfp4'];

export interface ExpertRuntimeOptions {
  readonly precision: ExpertPrecision;
  /** MatMulNBits accuracy_level for q8 (0 = fp32 activations, 4 = int8 activations). */
  readonly accuracyLevel: 0 | 4;
  readonly intraOpThreads: number;
  /** onnxruntime execution provider: cpu (default) or cuda (GPU images; never falls back to the CPU: common/onnx/session.ts). */
  readonly executionProvider?: 'cpu' | 'cuda';
}

export const DEFAULT_EXPERT_RUNTIME: ExpertRuntimeOptions = { precision: 'fp32', accuracyLevel: 0, intraOpThreads: 1 };
