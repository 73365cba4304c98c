// Whether onnxruntime's CUDA execution provider runs every node of a built model, from its kernel
// list (cuda-kernel-list.ts: op, opset range, type constraints) and the element types of each
// node's actual inputs and outputs (onnx-element-types.ts), plus one placement rule of the CUDA
// provider that the list does not show: shape computations on the output of Shape or Size (which
// the CUDA kernels leave in host memory) are moved to the CPU provider (onnxruntime's
// GetCpuPreferredNodes). Attributes are not in the list: a kernel that exists for the types but
// not for an attribute value (say a MatMulNBits bit width) is found only on a GPU, where
// session.disable_cpu_ep_fallback turns it into a session creation error.
import { CudaKernelMissingError, type UncoveredCudaNode } from '../errors.js';
import { CUDA_KERNEL_LIST } from './cuda-kernel-list.js';
import type { CudaKernelList, CudaOpKernels } from './cuda-kernel-markdown.js';
import type { BuiltModel } from './graph-builder.js';
import { inferElementTypes } from './onnx-element-types.js';
import { readOnnxModel, type OnnxModel, type OnnxNode } from './onnx-model-reader.js';

/** Kernels whose output stays in host memory on the CUDA provider. */
const HOST_OUTPUT_OPS = new Set(['Shape', 'Size']);
/**
 * Inputs the CUDA kernels take in host memory (their InputMemoryType), which a host value may feed
 * without the consumer moving to the CPU. A slot missing here only makes the check stricter.
 */
const HOST_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Reshape: [1], Expand: [1], Tile: [1], Squeeze: [1], Unsqueeze: [1], Slice: [1, 2, 3, 4], Split: [1], Pad: [1, 2, 3],
  ConstantOfShape: [0], Range: [0, 1, 2], TopK: [1], CumSum: [1], OneHot: [1], Trilu: [1], Resize: [1, 2, 3], Upsample: [1],
  ReduceSum: [1], ReduceMean: [1], ReduceMax: [1], ReduceMin: [1], ReduceProd: [1], ReduceLogSum: [1], ReduceLogSumExp: [1],
  ReduceSumSquare: [1], ReduceL1: [1], ReduceL2: [1],
};

interface Formal {
  readonly constraint: string;
  readonly variadic: boolean;
}

function parseSignature(sig: string): { inputs: Formal[]; outputs: Formal[] } {
  const side = (s: string): Formal[] =>
    s === ''
      ? []
      : s.split(',').map((f) => {
          const colon = f.lastIndexOf(':');
          return { constraint: f.slice(colon + 1), variadic: f.slice(0, colon).endsWith('...') };
        });
  const [ins, outs] = sig.split('>') as [string, string];
  return { inputs: side(ins), outputs: side(outs) };
}

/** Why `types` (per actual input, then output) do not fit one signature of one kernel row, or null when they do. */
function signatureMismatch(sig: string, allowed: Readonly<Record<string, string>>, ins: readonly string[], outs: readonly string[]): string | null {
  const { inputs, outputs } = parseSignature(sig);
  const bound = new Map<string, string>();
  const check = (formals: Formal[], actual: readonly string[], kind: string): string | null => {
    const last = formals[formals.length - 1];
    if (actual.length > formals.length && !last?.variadic) return `${actual.length} ${kind}s, the kernel takes at most ${formals.length}`;
    for (let i = 0; i < actual.length; i++) {
      const type = actual[i]!;
      if (type === '') continue; // an absent optional input
      const formal = formals[Math.min(i, formals.length - 1)]!;
      const literal = /^tensor\((\w+)\)$/.exec(formal.constraint);
      const types = literal ? [literal[1]!] : allowed[formal.constraint]?.split(' ');
      if (!types) return `${kind} ${i}: the kernel list gives no types for its constraint ${formal.constraint}`;
      if (!types.includes(type)) return `${kind} ${i} is ${type}; ${formal.constraint} allows ${types.join(', ')}`;
      if (!literal) {
        const other = bound.get(formal.constraint);
        if (other !== undefined && other !== type) return `${kind} ${i} is ${type} but ${formal.constraint} is already ${other}`;
        bound.set(formal.constraint, type);
      }
    }
    return null;
  };
  return check(inputs, ins, 'input') ?? check(outputs, outs, 'output');
}

/** Why the list has no kernel for this node, or null when one fits. */
export function kernelMismatch(kernels: CudaOpKernels | undefined, opset: number, ins: readonly string[], outs: readonly string[]): string | null {
  if (!kernels) return 'no CUDA kernel for this op';
  const rows = kernels.kernels.filter(([from, to]) => from <= opset && (to === null || opset <= to));
  if (rows.length === 0) return `no CUDA kernel at opset ${opset} (kernels cover ${kernels.kernels.map(([f, t]) => (t === null ? `${f}+` : `${f}-${t}`)).join(', ')})`;
  let reason = '';
  for (const [, , allowed] of rows) {
    for (const sig of kernels.signatures) {
      const why = signatureMismatch(sig, allowed, ins, outs);
      if (why === null) return null;
      reason ||= why;
    }
  }
  return reason;
}

/** Nodes the CUDA provider would hand to the CPU as shape computations on host values. */
function hostPlacedNodes(model: OnnxModel): Set<OnnxNode> {
  const hostValues = new Set<string>();
  const onHost = new Set<OnnxNode>();
  const constants = new Set([...model.initializers, ...model.inputs].map((v) => v.name));
  for (const node of model.nodes) {
    const hostSlots = (!node.domain && HOST_INPUTS[node.opType]) || [];
    const consumesHostValue = node.inputs.some((name, i) => hostValues.has(name) && !hostSlots.includes(i));
    const allHostOrConstant = node.inputs.every((name, i) => name === '' || constants.has(name) || (hostValues.has(name) && !hostSlots.includes(i)));
    if (consumesHostValue && allHostOrConstant) {
      onHost.add(node);
      for (const o of node.outputs) hostValues.add(o);
    } else if (!node.domain && HOST_OUTPUT_OPS.has(node.opType)) {
      for (const o of node.outputs) hostValues.add(o);
    }
  }
  return onHost;
}

/** The graph's name and every node of it that the CUDA provider would not run, with the reason. */
export function checkCudaCoverage(model: Uint8Array | BuiltModel, list: CudaKernelList = CUDA_KERNEL_LIST): { graph: string; uncovered: UncoveredCudaNode[] } {
  const m = readOnnxModel(model instanceof Uint8Array ? model : model.model);
  const types = inferElementTypes(m);
  const onHost = hostPlacedNodes(m);
  const uncovered: UncoveredCudaNode[] = [];
  for (const node of m.nodes) {
    const domain = node.domain || 'ai.onnx';
    const opset = m.opsets.get(node.domain);
    const inputTypes = node.inputs.map((n) => (n === '' ? '' : types.get(n)!));
    const outputTypes = node.outputs.map((n) => (n === '' ? '' : types.get(n)!));
    const reason =
      opset === undefined
        ? `the model imports no opset for domain ${domain}`
        : onHost.has(node)
          ? 'a shape computation on a Shape/Size output: the CUDA provider places it on the CPU'
          : kernelMismatch(list.domains[domain]?.[node.opType], opset, inputTypes, outputTypes);
    if (reason !== null) uncovered.push({ node: node.name, domain: node.domain, opType: node.opType, opset: opset ?? 0, inputTypes, outputTypes, reason });
  }
  return { graph: m.graphName, uncovered };
}

/** Every node of `model` that the CUDA provider would not run (see checkCudaCoverage). */
export function uncoveredCudaNodes(model: Uint8Array | BuiltModel, list: CudaKernelList = CUDA_KERNEL_LIST): UncoveredCudaNode[] {
  return checkCudaCoverage(model, list).uncovered;
}

/** Throws CudaKernelMissingError naming every node of the model the CUDA provider would not run. */
export function assertCudaCoverage(model: Uint8Array | BuiltModel, list: CudaKernelList = CUDA_KERNEL_LIST): void {
  const { graph, uncovered } = checkCudaCoverage(model, list);
  if (uncovered.length > 0) throw new CudaKernelMissingError(graph, uncovered);
}
