// How a worker keeps and runs experts.
// - fp32: MXFP4 decoded to fp32 and run as Gemm. Exact (the golden sets are checked in it); 32 bits
//   per parameter resident.
// - q4x2: MXFP4 re-encoded exactly as two 4-bit integer matrices (2v = a + 4b) for one MatMulNBits
//   over the input doubled as [x | 4x] per block (q4x2-encoding.ts). Exact like fp32 up to fp32
//   summation order; 9 bits per parameter resident (8 of codes, 1 of fp32 block scale).
// - q8: MXFP4 re-encoded exactly into 8-bit blocks of 32 for MatMulNBits (9 bits per parameter
//   with onnxruntime's fp32 block scales). Weights are bit-exact; activations stay fp32 unless
//   accuracy level 4 is chosen, which quantizes them to int8 for speed.
// - mxfp4: the checkpoint's own bytes stay resident (packed nibbles + e8m0 block scales, 4.25 bits
//   per parameter) and the expert graph widens them to fp32 on every run with standard ONNX ops
//   (Gather over a byte -> two-values table, times the block scale, Gemm). Exact like fp32.
export type ExpertPrecision = 'fp32' | 'q4x2' | 'q8' | 'mxfp4';
export const EXPERT_PRECISIONS: readonly ExpertPrecision[] = ['fp32', 'q4x2', 'q8', 'mxfp4'];

/** The --expert-precision flag's help, the same for every command that takes it. */
export const EXPERT_PRECISION_HELP =
  'how experts are held and run: fp32 (exact, 32 bits/param, default), q4x2 (exact: two 4-bit matrices per weight, 9 bits/param), q8 (exact 8-bit re-encoding, 9 bits/param, slow on CPU) or mxfp4 (the checkpoint\'s own 4.25 bits/param, exact, widened per run)';

export interface ExpertRuntimeOptions {
  readonly precision: ExpertPrecision;
  /**
   * MatMulNBits accuracy_level. q8: 0 (fp32 activations, default) or 4 (int8 activations). q4x2:
   * 0 or 1, both fp32 activations (default: DEFAULT_Q4X2_ACCURACY_LEVEL); 4 is refused, not exact.
   */
  readonly accuracyLevel?: 0 | 1 | 4;
  readonly intraOpThreads: number;
  /** onnxruntime execution provider: cpu (default) or cuda (GPU images; falls back to cpu per op). */
  readonly executionProvider?: 'cpu' | 'cuda';
}

export const DEFAULT_EXPERT_RUNTIME: ExpertRuntimeOptions = { precision: 'fp32', accuracyLevel: 0, intraOpThreads: 1 };
