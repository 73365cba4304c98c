// Builds ONNX models in memory. Weights too large for a protobuf message (2 GiB) or simply large
// travel as "external data" whose bytes are handed to onnxruntime directly, so a model is never
// serialized twice.
import { ProtoWriter } from './protobuf-writer.js';

export type OnnxDtype = 'float32' | 'uint8' | 'int8' | 'uint16' | 'int32' | 'int64' | 'float16';

const DATA_TYPE_CODE: Record<OnnxDtype, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int32: 6,
  int64: 7,
  float16: 10,
};

export type AttributeValue =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

export type Dim = number | string;

interface ValueInfo {
  name: string;
  dtype: OnnxDtype;
  dims: readonly Dim[];
}

interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Readonly<Record<string, AttributeValue>>;
  domain: string;
}

interface InitializerSpec {
  name: string;
  dtype: OnnxDtype;
  dims: readonly number[];
  bytes: Uint8Array;
}

/** The serialized model plus the external weight files onnxruntime must be given with it. */
export interface BuiltModel {
  model: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
}

const EXTERNAL_THRESHOLD_BYTES = 1 << 20;

export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export class GraphBuilder {
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly nodes: NodeSpec[] = [];
  private readonly initializers: InitializerSpec[] = [];
  private counter = 0;

  constructor(private readonly graphName: string) {}

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  input(name: string, dtype: OnnxDtype, dims: readonly Dim[]): string {
    this.inputs.push({ name, dtype, dims });
    return name;
  }

  output(name: string, dtype: OnnxDtype, dims: readonly Dim[]): string {
    this.outputs.push({ name, dtype, dims });
    return name;
  }

  initializer(name: string, dtype: OnnxDtype, dims: readonly number[], data: ArrayBufferView): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const elementBytes = dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'int64' ? 8 : dtype === 'float16' || dtype === 'uint16' ? 2 : 1;
    if (data.byteLength !== count * elementBytes) {
      throw new Error(`initializer ${name}: ${data.byteLength} bytes for shape [${dims.join(',')}] ${dtype}`);
    }
    this.initializers.push({ name, dtype, dims, bytes: bytesOf(data) });
    return name;
  }

  scalar(value: number, dtype: OnnxDtype = 'float32'): string {
    const name = this.fresh('const');
    const data = dtype === 'int64' ? BigInt64Array.of(BigInt(value)) : dtype === 'int32' ? Int32Array.of(value) : Float32Array.of(value);
    return this.initializer(name, dtype, [], data);
  }

  int64s(values: readonly number[]): string {
    const name = this.fresh('shape');
    return this.initializer(name, 'int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /** Adds a node and returns its output names (fresh ones when only a count is given). */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[] | number = 1,
    attributes: Readonly<Record<string, AttributeValue>> = {},
    domain = '',
  ): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : [...outputs];
    this.nodes.push({ opType, inputs, outputs: outs, attributes, domain });
    return outs;
  }

  /** Single-output convenience. */
  op(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}, domain = ''): string {
    return this.node(opType, inputs, 1, attributes, domain)[0]!;
  }

  build(): BuiltModel {
    const externalData: { path: string; data: Uint8Array }[] = [];
    const w = new ProtoWriter();
    w.int(1, 8); // ir_version
    w.string(2, 'gptoss-cluster');
    w.message(7, (g) => {
      for (const n of this.nodes) g.message(1, (nw) => writeNode(nw, n));
      g.string(2, this.graphName);
      for (const init of this.initializers) {
        g.message(5, (t) => {
          for (const d of init.dims) t.int(1, d);
          t.int(2, DATA_TYPE_CODE[init.dtype]);
          t.string(8, init.name);
          if (init.bytes.byteLength >= EXTERNAL_THRESHOLD_BYTES) {
            const path = `${this.graphName}.${externalData.length}.bin`;
            externalData.push({ path, data: init.bytes });
            t.message(13, (e) => e.string(1, 'location').string(2, path));
            t.message(13, (e) => e.string(1, 'offset').string(2, '0'));
            t.message(13, (e) => e.string(1, 'length').string(2, String(init.bytes.byteLength)));
            t.int(14, 1); // data_location = EXTERNAL
          } else {
            t.bytes(9, init.bytes);
          }
        });
      }
      for (const v of this.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
      for (const v of this.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
    });
    w.message(8, (o) => o.string(1, '').int(2, 17));
    w.message(8, (o) => o.string(1, 'com.microsoft').int(2, 1));
    return { model: w.finish(), externalData };
  }
}

function writeNode(w: ProtoWriter, n: NodeSpec): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.opType}:${n.outputs[0]}`);
  w.string(4, n.opType);
  for (const [name, value] of Object.entries(n.attributes)) {
    w.message(5, (a) => {
      a.string(1, name);
      if ('i' in value) a.int(3, value.i).int(20, 2);
      else if ('f' in value) a.float(2, value.f).int(20, 1);
      else if ('s' in value) a.string(4, value.s).int(20, 3);
      else if ('ints' in value) {
        for (const v of value.ints) a.int(8, v);
        a.int(20, 7);
      } else {
        for (const v of value.floats) a.float(7, v);
        a.int(20, 6);
      }
    });
  }
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (t) =>
    t.message(1, (tt) => {
      tt.int(1, DATA_TYPE_CODE[v.dtype]);
      tt.message(2, (s) => {
        for (const d of v.dims) s.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}
