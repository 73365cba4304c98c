// One KV block as stored in Redis: raw little-endian bytes, never JSON numbers.
//
//   offset  size  field
//   0       4     magic      "GKVB"
//   4       2     version    u16 = 1
//   6       2     dtype      u16 = 1 (fp32; the only one)
//   8       4     numLayers  u32
//   12      4     kvDim      u32  (kvHeads * headDim)
//   16      4     blockSize  u32  (tokens in the block)
//   20      4     reserved   u32 = 0
//   24      ...   for each layer: K [blockSize, kvDim] fp32, then V [blockSize, kvDim] fp32
//
// Decoding trusts nothing: every header field is checked against the model the reader serves and
// the length against the header; a mismatch throws WireFormatError naming the field (the store
// turns it into a miss with a warning).
import os from 'node:os';
import { WireFormatError } from '../../common/errors.js';

export const KV_BLOCK_MAGIC = 'GKVB';
export const KV_BLOCK_VERSION = 1;
export const KV_DTYPE_FP32 = 1;
export const KV_BLOCK_HEADER_BYTES = 24;

/** The shape a block must have for this model. */
export interface KvBlockLayout {
  readonly numLayers: number;
  readonly kvDim: number;
  readonly blockSize: number;
}

export interface KvBlockData {
  /** Per layer, [blockSize, kvDim] fp32. */
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
}

const littleEndianHost = os.endianness() === 'LE';

export function kvBlockBytes(layout: KvBlockLayout): number {
  return KV_BLOCK_HEADER_BYTES + layout.numLayers * 2 * layout.blockSize * layout.kvDim * 4;
}

/**
 * Encodes positions [offset, offset + blockSize) of per-layer [position, kvDim] arrays (as
 * KvCache.exportRange returns them) into one block.
 */
export function encodeKvBlock(layout: KvBlockLayout, keys: readonly Float32Array[], values: readonly Float32Array[], offset = 0): Buffer {
  const { numLayers, kvDim, blockSize } = layout;
  const out = Buffer.allocUnsafe(kvBlockBytes(layout));
  out.write(KV_BLOCK_MAGIC, 0, 'latin1');
  out.writeUInt16LE(KV_BLOCK_VERSION, 4);
  out.writeUInt16LE(KV_DTYPE_FP32, 6);
  out.writeUInt32LE(numLayers, 8);
  out.writeUInt32LE(kvDim, 12);
  out.writeUInt32LE(blockSize, 16);
  out.writeUInt32LE(0, 20);
  const n = blockSize * kvDim;
  let at = KV_BLOCK_HEADER_BYTES;
  for (let l = 0; l < numLayers; l++) {
    for (const src of [keys[l], values[l]]) {
      if (!src || src.length < (offset + blockSize) * kvDim) {
        throw new RangeError(`layer ${l}: ${src?.length ?? 0} floats cannot hold positions [${offset}, ${offset + blockSize}) of kvDim ${kvDim}`);
      }
      writeF32(out, at, src.subarray(offset * kvDim, offset * kvDim + n));
      at += n * 4;
    }
  }
  return out;
}

/** Checks the header and length of one block against `layout`; throws WireFormatError naming the field. */
export function validateKvBlockHeader(layout: KvBlockLayout, bytes: Uint8Array): void {
  const buf = asBuffer(bytes);
  if (buf.length < KV_BLOCK_HEADER_BYTES) {
    throw new WireFormatError(`kv block: ${buf.length} bytes is shorter than the ${KV_BLOCK_HEADER_BYTES}-byte header`, 'length');
  }
  const magic = buf.toString('latin1', 0, 4);
  if (magic !== KV_BLOCK_MAGIC) throw new WireFormatError(`kv block: magic ${JSON.stringify(magic)}, expected "${KV_BLOCK_MAGIC}"`, 'magic');
  expectField('version', buf.readUInt16LE(4), KV_BLOCK_VERSION);
  expectField('dtype', buf.readUInt16LE(6), KV_DTYPE_FP32);
  expectField('numLayers', buf.readUInt32LE(8), layout.numLayers);
  expectField('kvDim', buf.readUInt32LE(12), layout.kvDim);
  expectField('blockSize', buf.readUInt32LE(16), layout.blockSize);
  expectField('reserved', buf.readUInt32LE(20), 0);
  const expected = kvBlockBytes(layout);
  if (buf.length !== expected) throw new WireFormatError(`kv block: ${buf.length} bytes, the header implies ${expected}`, 'length');
}

/** Decodes and validates one block against `layout`; throws WireFormatError on any mismatch. */
export function decodeKvBlock(layout: KvBlockLayout, bytes: Uint8Array): KvBlockData {
  validateKvBlockHeader(layout, bytes);
  const buf = asBuffer(bytes);
  const n = layout.blockSize * layout.kvDim;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  let at = KV_BLOCK_HEADER_BYTES;
  for (let l = 0; l < layout.numLayers; l++) {
    keys.push(readF32(buf, at, n));
    at += n * 4;
    values.push(readF32(buf, at, n));
    at += n * 4;
  }
  return { keys, values };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function expectField(field: string, got: number, want: number): void {
  if (got !== want) throw new WireFormatError(`kv block: ${field} is ${got}, expected ${want}`, field);
}

function writeF32(out: Buffer, at: number, src: Float32Array): void {
  if (littleEndianHost) {
    out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), at);
    return;
  }
  for (let i = 0; i < src.length; i++) out.writeFloatLE(src[i]!, at + i * 4);
}

function readF32(buf: Buffer, at: number, n: number): Float32Array {
  const dst = new Float32Array(n);
  if (littleEndianHost) {
    // Copy: Redis replies land at arbitrary (unaligned) offsets of shared buffers.
    new Uint8Array(dst.buffer).set(buf.subarray(at, at + n * 4));
    return dst;
  }
  for (let i = 0; i < n; i++) dst[i] = buf.readFloatLE(at + i * 4);
  return dst;
}
