// Tensor wire codec: fp16 rounding against known bit patterns, views versus copies, validation.
import assert from 'node:assert/strict';
import { WireFormatError } from '../../common/errors.js';
import { DType } from '../../common/wire/expert-proto.js';
import {
  decodeFloat32,
  decodeInt32,
  decodeTensor,
  encodeTensor,
  float16BytesToFloat32,
  float32ToFloat16,
  int32Bytes,
} from '../../common/wire/tensor-codec.js';

const half = (x: number): number => float32ToFloat16(Float32Array.of(x))[0]!;

function misaligned(bytes: Uint8Array): Uint8Array {
  const b = new Uint8Array(bytes.length + 1);
  b.set(bytes, 1);
  return b.subarray(1);
}

describe('tensor codec', () => {
  it('tensor codec - fp32 -> fp16 matches known bit patterns, rounding to nearest even', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [1 / 3, 0x3555],
      [65504, 0x7bff], // largest half
      [65519, 0x7bff], // below the midpoint to 65536
      [65520, 0x7c00], // the midpoint rounds to even: 65536, i.e. Inf
      [1e9, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // half of it: a tie, rounds to even (0)
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal steps -> 2
      [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01 -> even
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02 -> even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [2 ** -30, 0x0000],
    ];
    for (const [x, bits] of cases) assert.equal(half(x), bits, `${x} -> 0x${half(x).toString(16)}, expected 0x${bits.toString(16)}`);
    assert.ok((half(NaN) & 0x7c00) === 0x7c00 && (half(NaN) & 0x3ff) !== 0, 'NaN stays NaN');
  });

  it('tensor codec - every finite half survives fp16 -> fp32 -> fp16 bit for bit', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = float16BytesToFloat32(new Uint8Array(all.buffer));
    const back = float32ToFloat16(f);
    for (let i = 0; i < 65536; i++) {
      if ((i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0) continue; // NaN payloads are not kept
      assert.equal(back[i], i, `half 0x${i.toString(16)} came back as 0x${back[i]!.toString(16)}`);
    }
    assert.equal(f[0x3c00], 1);
    assert.equal(f[0x0001], 2 ** -24);
    assert.equal(f[0xfc00], -Infinity);
  });

  it('tensor codec - fp16 round trip of random values is within half an ulp (2^-11 relative)', () => {
    let s = 12345;
    const rand = (): number => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 20;
    const x = Float32Array.from({ length: 4096 }, rand);
    const t = encodeTensor(x, [64, 64], 'fp16');
    assert.equal(t.dtype, DType.FLOAT16);
    assert.equal(t.data.byteLength, 4096 * 2);
    const y = decodeTensor(t, 'hidden').values;
    for (let i = 0; i < x.length; i++) {
      assert.ok(Math.abs(y[i]! - x[i]!) <= Math.abs(x[i]!) * 2 ** -11 + 2 ** -25, `${x[i]} -> ${y[i]}`);
    }
  });

  it('tensor codec - fp32 encodes as a view and decodes aligned bytes as a view', () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 1);
    const t = encodeTensor(x, [3, 4]);
    assert.equal(t.dtype, DType.FLOAT32);
    assert.deepEqual(t.shape, [3, 4]);
    assert.equal(t.data.buffer, x.buffer, 'encoding shares memory');
    const d = decodeTensor(t, 'hidden');
    assert.equal(d.values.buffer, x.buffer, 'aligned decoding shares memory');
    assert.deepEqual(Array.from(d.values), Array.from(x));
  });

  it('tensor codec - misaligned bytes are copied and decode to the same values', () => {
    const x = Float32Array.of(1.5, -2.25, 3e-8, 7);
    const t = { dtype: DType.FLOAT32, shape: [4], data: misaligned(new Uint8Array(x.buffer)) };
    assert.equal(t.data.byteOffset % 4, 1);
    const d = decodeTensor(t, 'hidden');
    assert.notEqual(d.values.buffer, t.data.buffer);
    assert.deepEqual(Array.from(d.values), Array.from(x));
    const ints = Int32Array.of(0, -1, 2147483647, 5);
    assert.deepEqual(Array.from(decodeInt32(misaligned(int32Bytes(ints)), 'rows')), Array.from(ints));
    assert.deepEqual(Array.from(decodeFloat32(misaligned(new Uint8Array(x.buffer)), 'weights')), Array.from(x));
    const h = float32ToFloat16(x);
    assert.deepEqual(Array.from(float16BytesToFloat32(misaligned(new Uint8Array(h.buffer)))), Array.from(float16BytesToFloat32(new Uint8Array(h.buffer))));
  });

  it('tensor codec - a misaligned Buffer slice (as protobufjs hands out) decodes its own bytes, not its pool', () => {
    // Buffer#slice is a view, so a copy made with it would still span the whole pool slab.
    const frame = Buffer.alloc(64, 0xff);
    const ints = Int32Array.of(3, -7, 11);
    Buffer.from(int32Bytes(ints)).copy(frame, 6);
    const field = frame.slice(6, 18);
    assert.equal(field.byteOffset % 4, 2);
    assert.deepEqual(Array.from(decodeInt32(field, 'rows')), [3, -7, 11]);
    const f = Float32Array.of(0.5, -1);
    Buffer.from(new Uint8Array(f.buffer)).copy(frame, 33);
    assert.deepEqual(Array.from(decodeFloat32(frame.subarray(33, 41), 'weights')), [0.5, -1]);
    assert.deepEqual(Array.from(decodeTensor({ dtype: DType.FLOAT32, shape: [1, 2], data: frame.slice(33, 41) }, 'hidden').values), [0.5, -1]);
  });

  it('tensor codec - rejects an unknown or unspecified dtype, naming the field', () => {
    for (const dtype of [DType.UNSPECIFIED, 3, 7]) {
      assert.throws(
        () => decodeTensor({ dtype, shape: [1, 2], data: new Uint8Array(8) }, 'hidden'),
        (e: unknown) => e instanceof WireFormatError && e.field === 'hidden.dtype' && e.message.includes(`dtype ${dtype}`),
      );
    }
  });

  it('tensor codec - rejects a byte length that is not product(shape) x dtype size, naming the field', () => {
    assert.throws(
      () => decodeTensor({ dtype: DType.FLOAT32, shape: [2, 3], data: new Uint8Array(20) }, 'hidden'),
      (e: unknown) => e instanceof WireFormatError && e.field === 'hidden.data' && /20 bytes.*needs 24/.test(e.message),
    );
    assert.throws(
      () => decodeTensor({ dtype: DType.FLOAT16, shape: [2, 3], data: new Uint8Array(24) }, 'output'),
      (e: unknown) => e instanceof WireFormatError && e.field === 'output.data' && /needs 12/.test(e.message),
    );
  });

  it('tensor codec - rejects a missing tensor, a bad dim and a shape over the element limit', () => {
    assert.throws(() => decodeTensor(null, 'hidden'), (e: unknown) => e instanceof WireFormatError && e.field === 'hidden');
    assert.throws(
      () => decodeTensor({ dtype: DType.FLOAT32, shape: [2, -1], data: new Uint8Array(0) }, 'hidden'),
      (e: unknown) => e instanceof WireFormatError && e.field === 'hidden.shape',
    );
    // A hostile shape whose product would overflow is refused while it grows.
    assert.throws(
      () => decodeTensor({ dtype: DType.FLOAT32, shape: [4294967295, 4294967295, 4294967295], data: new Uint8Array(0) }, 'hidden', 1 << 30),
      (e: unknown) => e instanceof WireFormatError && e.field === 'hidden.shape' && e.message.includes('exceeds'),
    );
  });

  it('tensor codec - rejects index and weight bytes that are not whole 4-byte values', () => {
    assert.throws(() => decodeInt32(new Uint8Array(7), 'rows'), (e: unknown) => e instanceof WireFormatError && e.field === 'rows' && e.message.includes('7 bytes'));
    assert.throws(() => decodeFloat32(new Uint8Array(5), 'weights'), (e: unknown) => e instanceof WireFormatError && e.field === 'weights');
    assert.equal(decodeInt32(new Uint8Array(0), 'rows').length, 0);
  });

  it('tensor codec - encode refuses a shape that does not match the values', () => {
    assert.throws(() => encodeTensor(new Float32Array(6), [4, 2]), RangeError);
  });
});
