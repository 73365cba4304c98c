// Tensors and index arrays between typed arrays and their wire form (dtype, shape, raw
// little-endian bytes). Encoding fp32 is a view, never a copy; decoding is a view when the bytes
// are 4-byte aligned inside their buffer (a field inside a received protobuf frame often is not,
// and a misaligned Float32Array cannot be made) and a copy otherwise. Every decode validates and
// throws WireFormatError naming the field, so the server can answer INVALID_ARGUMENT with it.
import { endianness } from 'node:os';
import { WireFormatError } from '../errors.js';
import { f16ToFloat32 } from '../checkpoint/bf16.js';
import { DType, type DTypeCode, type TensorMessage } from './expert-proto.js';

// Typed arrays use the platform's byte order and the wire is little-endian; every platform Node
// ships for is, but a silent byte swap would be the worst failure, so refuse to load instead.
if (endianness() !== 'LE') throw new Error('the gptoss wire format needs a little-endian platform');

export type WireDtype = 'fp32' | 'fp16';

export function wireDtypeCode(d: WireDtype): DTypeCode {
  return d === 'fp16' ? DType.FLOAT16 : DType.FLOAT32;
}

/** Bytes per element of a known dtype; WireFormatError for DTYPE_UNSPECIFIED and unknown values. */
export function dtypeSize(dtype: number, field: string): 2 | 4 {
  if (dtype === DType.FLOAT32) return 4;
  if (dtype === DType.FLOAT16) return 2;
  throw new WireFormatError(`${field}: dtype ${dtype} is not FLOAT32 (1) or FLOAT16 (2)`, field);
}

/** Encodes [shape] float values as a Tensor; fp32 shares `values`' memory, fp16 rounds to nearest even. */
export function encodeTensor(values: Float32Array, shape: readonly number[], dtype: WireDtype = 'fp32'): TensorMessage {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== values.length) throw new RangeError(`encodeTensor: shape [${shape.join(', ')}] holds ${n} values, got ${values.length}`);
  if (dtype === 'fp16') {
    const bits = float32ToFloat16(values);
    return { dtype: DType.FLOAT16, shape: [...shape], data: new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength) };
  }
  return { dtype: DType.FLOAT32, shape: [...shape], data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export interface DecodedTensor {
  readonly values: Float32Array;
  readonly shape: readonly number[];
}

/**
 * Validates a Tensor message (present, dtype known, every dim a non-negative integer, byte length
 * = product(shape) x dtype size) and widens it to fp32. `field` names it in errors (`hidden`).
 */
export function decodeTensor(t: TensorMessage | null | undefined, field: string, maxElements = Number.MAX_SAFE_INTEGER): DecodedTensor {
  if (!t) throw new WireFormatError(`${field}: missing`, field);
  const size = dtypeSize(t.dtype, `${field}.dtype`);
  let n = 1;
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d < 0) throw new WireFormatError(`${field}.shape: dim ${d} is not a non-negative integer`, `${field}.shape`);
    n *= d;
    // Checked as it grows so a hostile shape cannot overflow the product into something plausible.
    if (n > maxElements) throw new WireFormatError(`${field}.shape: [${t.shape.join(', ')}] exceeds ${maxElements} elements`, `${field}.shape`);
  }
  const data = t.data ?? new Uint8Array(0);
  if (data.byteLength !== n * size) {
    throw new WireFormatError(
      `${field}.data: ${data.byteLength} bytes, but shape [${t.shape.join(', ')}] of ${size === 4 ? 'FLOAT32' : 'FLOAT16'} needs ${n * size}`,
      `${field}.data`,
    );
  }
  const values = size === 4 ? float32View(data) : float16BytesToFloat32(data);
  return { values, shape: [...t.shape] };
}

/** An Int32Array's bytes, sharing its memory. */
export function int32Bytes(a: Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A Float32Array's bytes, sharing its memory. */
export function float32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** int32 LE bytes as an Int32Array (a view when aligned); the length must be a multiple of 4. */
export function decodeInt32(bytes: Uint8Array, field: string): Int32Array {
  checkWordLength(bytes, field, 'int32');
  if (bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Int32Array(copyBytes(bytes).buffer);
}

/** f32 LE bytes as a Float32Array (a view when aligned); the length must be a multiple of 4. */
export function decodeFloat32(bytes: Uint8Array, field: string): Float32Array {
  checkWordLength(bytes, field, 'f32');
  return float32View(bytes);
}

function checkWordLength(bytes: Uint8Array, field: string, what: string): void {
  if (bytes.byteLength % 4 !== 0) {
    throw new WireFormatError(`${field}: ${bytes.byteLength} bytes is not a whole number of ${what} values (4 bytes each)`, field);
  }
}

function float32View(bytes: Uint8Array): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(copyBytes(bytes).buffer);
}

/** A copy in a fresh ArrayBuffer. Not `bytes.slice()`: on a Buffer that is a view, not a copy. */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** fp32 -> IEEE binary16 bits, round to nearest even; overflow goes to +-Inf, NaN stays NaN. */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32BitsToF16(bits[i]!);
  return out;
}

function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value / 2^-24 = (1.mant) * 2^(exp-126), i.e. shift by 14 - e.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    const half = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && (half & 1) === 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the correct rounding (up to Inf).
  return sign | (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1) ? half + 1 : half);
}

let f16Table: Float32Array | null = null;

/** IEEE binary16 LE bytes -> fp32, exact (every half is a float). One table lookup per value. */
export function float16BytesToFloat32(bytes: Uint8Array): Float32Array {
  if (!f16Table) {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    f16Table = f16ToFloat32(new Uint8Array(all.buffer));
  }
  const table = f16Table;
  const n = bytes.byteLength >> 1;
  const out = new Float32Array(n);
  if (bytes.byteOffset % 2 === 0) {
    const h = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = table[h[i]!]!;
  } else {
    for (let i = 0; i < n; i++) out[i] = table[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  }
  return out;
}
