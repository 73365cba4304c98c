// Element types of every value of a model: graph inputs and initializers as declared, each node's
// outputs by its op's rule. An op without a rule is an error naming the node, never a guess: a check
// built on these types must not pass a node whose types it does not know. Adding an op to a graph
// means adding its rule here (one line for most ops).
import { OnnxModelError } from '../errors.js';
import { ELEMENT_TYPE_NAMES, type OnnxModel, type OnnxNode } from './onnx-model-reader.js';

/** Output element types of a node from its input types ('' for an absent optional input). */
type Rule = (inputs: readonly string[], node: OnnxNode) => readonly string[];

const sameAs =
  (i: number): Rule =>
  (inputs, node) =>
    node.outputs.map(() => required(inputs, i, node));
const fixed =
  (...types: string[]): Rule =>
  () =>
    types;

function required(inputs: readonly string[], i: number, node: OnnxNode): string {
  const t = inputs[i];
  if (!t) throw new OnnxModelError(`node ${node.name} (${node.opType}): input ${i}, which gives its output type, is missing`, node.name, node.opType);
  return t;
}

function attributeType(node: OnnxNode, name: string): string {
  const code = node.attributes.get(name)?.i;
  const type = code === undefined ? undefined : ELEMENT_TYPE_NAMES[code];
  if (!type) throw new OnnxModelError(`node ${node.name} (${node.opType}): attribute ${name} does not name an element type`, node.name, node.opType);
  return type;
}

// Ops whose every output has the type of input 0 (elementwise math, shape moves, reductions, the
// contrib ops that keep their activation type).
const LIKE_INPUT_0 = [
  'Abs', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Neg', 'Sqrt', 'Exp', 'Log', 'Reciprocal', 'Sigmoid', 'Tanh', 'Relu', 'Erf', 'Sin',
  'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Min', 'Max', 'Sum', 'Mean', 'Clip', 'Softplus', 'LeakyRelu', 'HardSigmoid', 'Elu', 'Gelu',
  'Identity', 'Reshape', 'Transpose', 'Slice', 'Concat', 'Squeeze', 'Unsqueeze', 'Flatten', 'Expand', 'Tile', 'Pad', 'Split', 'Gather',
  'GatherElements', 'GatherND', 'ScatterElements', 'ScatterND', 'Trilu', 'CumSum', 'Range', 'Einsum', 'Gemm', 'MatMul',
  'ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceLogSumExp', 'ReduceLogSum', 'ReduceSumSquare',
  'ReduceL1', 'ReduceL2', 'Softmax', 'LogSoftmax',
];
const LIKE_INPUT_0_CONTRIB = ['MatMulNBits', 'MatMulBnb4', 'FusedMatMul', 'TransposeMatMul', 'FastGelu', 'QuickGelu', 'BiasGelu', 'Gelu', 'RotaryEmbedding', 'MoE', 'QMoE'];
const BOOLEAN = ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf'];

const RULES = new Map<string, Rule>([
  ...LIKE_INPUT_0.map((op): [string, Rule] => [op, sameAs(0)]),
  ...LIKE_INPUT_0_CONTRIB.map((op): [string, Rule] => [`com.microsoft:${op}`, sameAs(0)]),
  ...BOOLEAN.map((op): [string, Rule] => [op, (_, node) => node.outputs.map(() => 'bool')]),
  ['Shape', fixed('int64')],
  ['Size', fixed('int64')],
  ['ArgMax', fixed('int64')],
  ['ArgMin', fixed('int64')],
  ['NonZero', fixed('int64')],
  ['TopK', (inputs, node) => [required(inputs, 0, node), 'int64']],
  ['Where', sameAs(1)],
  ['CastLike', sameAs(1)],
  ['OneHot', sameAs(2)],
  ['Cast', (_, node) => [attributeType(node, 'to')]],
  ['ConstantOfShape', (_, node) => [node.attributes.get('value')?.tensorType ?? 'float']],
  ['Constant', (_, node) => [constantType(node)]],
  ['LayerNormalization', (inputs, node) => [required(inputs, 0, node), 'float', 'float']],
  ['com.microsoft:SimplifiedLayerNormalization', (inputs, node) => [required(inputs, 1, node), 'float']],
  ['com.microsoft:SkipSimplifiedLayerNormalization', (inputs, node) => [required(inputs, 0, node), 'float', 'float', required(inputs, 0, node)]],
  ['com.microsoft:GatherBlockQuantized', sameAs(2)],
]);

function constantType(node: OnnxNode): string {
  const a = node.attributes;
  const tensor = a.get('value')?.tensorType;
  if (tensor) return tensor;
  if (a.has('value_float') || a.has('value_floats')) return 'float';
  if (a.has('value_int') || a.has('value_ints')) return 'int64';
  throw new OnnxModelError(`node ${node.name} (Constant): no value attribute whose type is known`, node.name, 'Constant');
}

/** Whether an output-type rule exists for this op (domain '' is ONNX's own). */
export function hasTypeRule(domain: string, opType: string): boolean {
  return RULES.has(domain ? `${domain}:${opType}` : opType);
}

/** Every value's element type, in graph order; throws OnnxModelError naming the first node it cannot type. */
export function inferElementTypes(model: OnnxModel): Map<string, string> {
  const types = new Map<string, string>();
  for (const v of [...model.inputs, ...model.initializers]) types.set(v.name, v.type);
  for (const node of model.nodes) {
    const rule = RULES.get(node.domain ? `${node.domain}:${node.opType}` : node.opType);
    if (!rule) {
      throw new OnnxModelError(
        `node ${node.name}: no output-type rule for ${node.domain || 'ai.onnx'}.${node.opType}; add one in common/onnx/onnx-element-types.ts`,
        node.name,
        node.opType,
      );
    }
    const inputs = node.inputs.map((name, i) => {
      if (name === '') return '';
      const t = types.get(name);
      if (!t) throw new OnnxModelError(`node ${node.name} (${node.opType}): input ${i} "${name}" is neither a graph input, an initializer nor an earlier node's output`, node.name, node.opType);
      return t;
    });
    const outputs = rule(inputs, node);
    node.outputs.forEach((name, i) => {
      const t = outputs[i];
      if (!t) throw new OnnxModelError(`node ${node.name} (${node.opType}): the type rule gives no type for output ${i}`, node.name, node.opType);
      if (name !== '') types.set(name, t);
    });
  }
  for (const out of model.outputs) {
    const t = types.get(out.name);
    if (t !== out.type) throw new OnnxModelError(`graph output ${out.name} is declared ${out.type} but computed as ${t ?? 'nothing'}`, null, null);
  }
  return types;
}
