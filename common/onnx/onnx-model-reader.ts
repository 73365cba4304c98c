// Reads back what the graph builder wrote: a ModelProto's opset imports, graph inputs, outputs,
// initializers (names and element types, never their bytes) and nodes with their attributes. The
// CUDA coverage check reads the serialized model, not the builder's state, so it sees exactly what
// onnxruntime is given, whoever built it.
import { OnnxModelError } from '../errors.js';

/** ONNX TensorProto.DataType codes, named as onnxruntime's kernel list names them. */
export const ELEMENT_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'float', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'double', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
  17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4',
  23: 'float4e2m1', 24: 'float8e8m0', 25: 'uint2', 26: 'int2',
};

export interface OnnxAttribute {
  readonly i?: number;
  readonly ints?: readonly number[];
  readonly f?: number;
  readonly s?: string;
  /** Element type of a tensor attribute (e.g. Constant's or ConstantOfShape's `value`). */
  readonly tensorType?: string;
}

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

export interface OnnxValue {
  readonly name: string;
  readonly type: string;
}

export interface OnnxModel {
  readonly graphName: string;
  /** Opset version per domain ('' is the default ONNX domain). */
  readonly opsets: ReadonlyMap<string, number>;
  readonly inputs: readonly OnnxValue[];
  readonly outputs: readonly OnnxValue[];
  readonly initializers: readonly OnnxValue[];
  readonly nodes: readonly OnnxNode[];
}

const decoder = new TextDecoder();

/** Protobuf fields of one message: [field number, wire type, value]: varints as signed 64-bit numbers, bytes as views. */
function* fields(buf: Uint8Array): Generator<[number, number, number | Uint8Array]> {
  let at = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= buf.length) throw new OnnxModelError('truncated varint');
      const b = buf[at++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  };
  // int64 fields hold negative values (axes = -1) as their 64-bit two's complement.
  const signed = (v: bigint): number => Number(BigInt.asIntN(64, v));
  while (at < buf.length) {
    const key = signed(varint());
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield [field, wire, signed(varint())];
    else if (wire === 2) {
      const len = signed(varint());
      if (len < 0 || at + len > buf.length) throw new OnnxModelError(`field ${field}: ${len} bytes past the end`);
      yield [field, wire, buf.subarray(at, at + len)];
      at += len;
    } else if (wire === 5) {
      if (at + 4 > buf.length) throw new OnnxModelError(`field ${field}: truncated float`);
      yield [field, wire, new DataView(buf.buffer, buf.byteOffset + at, 4).getFloat32(0, true)];
      at += 4;
    } else if (wire === 1) at += 8;
    else throw new OnnxModelError(`unsupported wire type ${wire} (field ${field})`);
  }
}

const text = (v: number | Uint8Array): string => decoder.decode(v as Uint8Array);

function elementType(code: number, what: string): string {
  const name = ELEMENT_TYPE_NAMES[code];
  if (!name) throw new OnnxModelError(`${what}: unknown element type code ${code}`);
  return name;
}

function readTensorHeader(buf: Uint8Array): { name: string; type: string } {
  let name = '';
  let code = 0;
  for (const [f, , v] of fields(buf)) {
    if (f === 8) name = text(v);
    else if (f === 2) code = v as number;
  }
  return { name, type: elementType(code, `tensor ${name}`) };
}

function readValueInfo(buf: Uint8Array): OnnxValue {
  let name = '';
  let type: string | null = null;
  for (const [f, , v] of fields(buf)) {
    if (f === 1) name = text(v);
    else if (f === 2) {
      for (const [tf, , tv] of fields(v as Uint8Array)) {
        if (tf !== 1) continue; // only tensor_type
        for (const [ef, , ev] of fields(tv as Uint8Array)) if (ef === 1) type = elementType(ev as number, `value ${name}`);
      }
    }
  }
  if (type === null) throw new OnnxModelError(`graph value ${name} is not a tensor with an element type`);
  return { name, type };
}

function readAttribute(buf: Uint8Array): [string, OnnxAttribute] {
  let name = '';
  const a: { i?: number; ints?: number[]; f?: number; s?: string; tensorType?: string } = {};
  for (const [f, wire, v] of fields(buf)) {
    if (f === 1) name = text(v);
    else if (f === 2) a.f = v as number;
    else if (f === 3) a.i = v as number;
    else if (f === 4) a.s = text(v);
    else if (f === 5) a.tensorType = readTensorHeader(v as Uint8Array).type;
    else if (f === 8) {
      a.ints ??= [];
      if (wire === 0) a.ints.push(v as number);
      else for (const [, , p] of fields(packedAsFields(v as Uint8Array))) a.ints.push(p as number);
    }
  }
  return [name, a];
}

/** Packed varints read with the field reader: prefix each with a field-1 varint key. */
function packedAsFields(packed: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < packed.length; i++) {
    if (i === 0 || packed[i - 1]! < 0x80) out.push(0x08);
    out.push(packed[i]!);
  }
  return Uint8Array.from(out);
}

function readNode(buf: Uint8Array): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes = new Map<string, OnnxAttribute>();
  let name = '';
  let opType = '';
  let domain = '';
  for (const [f, , v] of fields(buf)) {
    if (f === 1) inputs.push(text(v));
    else if (f === 2) outputs.push(text(v));
    else if (f === 3) name = text(v);
    else if (f === 4) opType = text(v);
    else if (f === 7) domain = text(v);
    else if (f === 5) attributes.set(...readAttribute(v as Uint8Array));
  }
  return { name, opType, domain: domain === 'ai.onnx' ? '' : domain, inputs, outputs, attributes };
}

export function readOnnxModel(model: Uint8Array): OnnxModel {
  const opsets = new Map<string, number>();
  let graph: Uint8Array | null = null;
  for (const [f, , v] of fields(model)) {
    if (f === 7) graph = v as Uint8Array;
    else if (f === 8) {
      let domain = '';
      let version = 0;
      for (const [of, , ov] of fields(v as Uint8Array)) {
        if (of === 1) domain = text(ov);
        else if (of === 2) version = ov as number;
      }
      opsets.set(domain === 'ai.onnx' ? '' : domain, version);
    }
  }
  if (!graph) throw new OnnxModelError('the model has no graph');
  let graphName = '';
  const inputs: OnnxValue[] = [];
  const outputs: OnnxValue[] = [];
  const initializers: OnnxValue[] = [];
  const nodes: OnnxNode[] = [];
  for (const [f, , v] of fields(graph)) {
    if (f === 1) nodes.push(readNode(v as Uint8Array));
    else if (f === 2) graphName = text(v);
    else if (f === 5) initializers.push(readTensorHeader(v as Uint8Array));
    else if (f === 11) inputs.push(readValueInfo(v as Uint8Array));
    else if (f === 12) outputs.push(readValueInfo(v as Uint8Array));
  }
  return { graphName, opsets, inputs, outputs, initializers, nodes };
}
