// A minimal protobuf encoder: just the wire types the ONNX schema uses. Written here rather than
// pulled from onnx-proto/protobufjs because graphs are built once at load time and the encoder
// must stream multi-gigabyte initializers without an intermediate object tree.

const textEncoder = new TextEncoder();

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  private length = 0;

  get byteLength(): number {
    return this.length + this.scratch.length;
  }

  private flushScratch(): void {
    if (this.scratch.length > 0) {
      const bytes = Uint8Array.from(this.scratch);
      this.chunks.push(bytes);
      this.length += bytes.length;
      this.scratch = [];
    }
  }

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  private tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.scratch.push(...b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    this.flushScratch();
    this.chunks.push(data);
    this.length += data.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    inner.flushScratch();
    this.tag(field, 2);
    this.varint(inner.length);
    this.flushScratch();
    for (const c of inner.chunks) this.chunks.push(c);
    this.length += inner.length;
    return this;
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}
