// How a worker keeps and runs experts.
// - fp32: MXFP4 decoded to fp32 and run as Gemm. Exact (the golden sets are checked in it); 32 bits
//   per parameter resident.
// - q4x2: MXFP4 re-encoded exactly as two 4-bit integer matrices (2v = a + 4b) for one MatMulNBits
//   over the input doubled as [x | 4x] per block (q4x2-encoding.ts). Exact like fp32 up to fp32
//   summation order; 9 bits per parameter resident (8 of codes, 1 of fp32 block scale).
// - mxfp4: the checkpoint's own bytes stay resident (packed nibbles + e8m0 block scales, 4.25 bits
//   per parameter) and the expert graph widens them to fp32 on every run with standard ONNX ops
//   (Gather over a byte -> two-values table, times the block scale, Gemm). Exact like fp32.
// q8 (exact 8-bit blocks) was retired for q4x2: the same 9 bits per parameter, the same weights
// exactly, but onnxruntime 1.30 has no fast 8-bit kernel for fp32 activations (docs/architecture.md).
export type ExpertPrecision = 'fp32' | 'q4x2' | 'mxfp4';
export const EXPERT_PRECISIONS: readonly ExpertPrecision[] = ['fp32', 'q4x2', 'mxfp4'];

/** Precisions that no longer exist, with what replaced them (flags refuse them with this). */
export const RETIRED_EXPERT_PRECISIONS: Readonly<Record<string, string>> = {
  q8: 'was retired: use q4x2 (the same weights exactly, the same 9 bits per parameter, and far faster on CPU)',
};

/** The --expert-precision flag's help, the same for every command that takes it. */
export const EXPERT_PRECISION_HELP =
  'how experts are held and run: fp32 (exact, 32 bits/param, default), q4x2 (exact: two 4-bit matrices per weight, 9 bits/param) or mxfp4 (the checkpoint\'s own 4.25 bits/param, exact, widened per run); q8 was retired for q4x2';

export interface ExpertRuntimeOptions {
  readonly precision: ExpertPrecision;
  /**
   * q4x2's MatMulNBits accuracy_level: 0 or 1, both fp32 activations and exact (default:
   * DEFAULT_Q4X2_ACCURACY_LEVEL). Level 4 (int8 activations) is not offered: it is not exact.
   */
  readonly accuracyLevel?: 0 | 1;
  readonly intraOpThreads: number;
  /** onnxruntime execution provider: cpu (default) or cuda (GPU images; never falls back to the CPU: common/onnx/session.ts). */
  readonly executionProvider?: 'cpu' | 'cuda';
}

export const DEFAULT_EXPERT_RUNTIME: ExpertRuntimeOptions = { precision: 'fp32', intraOpThreads: 1 };
