// Safetensors: 8-byte little-endian header length, a JSON header ({name: {dtype, shape,
// data_offsets}} with offsets relative to the end of the header), then raw bytes. Only the
// header is read at open; tensors are read later by byte range.
import { open, stat } from 'node:fs/promises';
import { CheckpointError } from '../errors.js';

export type SafetensorsDtype = 'BF16' | 'F16' | 'F32' | 'U8' | 'I8' | 'I32' | 'I64' | 'F64' | 'BOOL' | 'I16' | 'U16' | 'U32' | 'U64';

export const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  BF16: 2, F16: 2, F32: 4, U8: 1, I8: 1, I32: 4, I64: 8, F64: 8, BOOL: 1, I16: 2, U16: 2, U32: 4, U64: 8,
};

export interface TensorInfo {
  readonly name: string;
  readonly file: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Absolute offset of the first byte in the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export async function readSafetensorsHeader(file: string): Promise<Map<string, TensorInfo>> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw new CheckpointError(`${file}: cannot be read (${(err as Error).message})`, file, undefined, { cause: err });
  }
  if (size < 8) throw new CheckpointError(`${file}: truncated (${size} bytes, no safetensors header)`, file);
  const fh = await open(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      throw new CheckpointError(`${file}: invalid safetensors header length ${headerLen} (file is ${size} bytes)`, file);
    }
    const headerBuf = Buffer.alloc(headerLen);
    await fh.read(headerBuf, 0, headerLen, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (err) {
      throw new CheckpointError(`${file}: safetensors header is not valid JSON`, file, undefined, { cause: err });
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw new CheckpointError(`${file}: safetensors header is not a JSON object`, file);
    }
    const dataStart = 8 + headerLen;
    const out = new Map<string, TensorInfo>();
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      out.set(name, parseEntry(file, name, entry, dataStart, size));
    }
    return out;
  } finally {
    await fh.close();
  }
}

function parseEntry(file: string, name: string, entry: unknown, dataStart: number, fileSize: number): TensorInfo {
  const bad = (why: string): never => {
    throw new CheckpointError(`${file}: tensor ${name}: ${why}`, file, name);
  };
  if (typeof entry !== 'object' || entry === null) return bad('header entry is not an object');
  const e = entry as Record<string, unknown>;
  const dtype = e['dtype'];
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) return bad(`unknown dtype ${JSON.stringify(dtype)}`);
  const shape = e['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) return bad('shape must be a list of non-negative integers');
  const offsets = e['data_offsets'];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
    return bad('data_offsets must be [begin, end] with begin <= end');
  }
  const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as SafetensorsDtype];
  const [begin, end] = offsets as [number, number];
  if (end - begin !== expected) return bad(`data_offsets span ${end - begin} bytes but ${dtype}[${shape.join(', ')}] needs ${expected}`);
  if (dataStart + end > fileSize) return bad(`file is truncated: tensor ends at byte ${dataStart + end} but the file has ${fileSize}`);
  return { name, file, dtype: dtype as SafetensorsDtype, shape: shape as number[], byteOffset: dataStart + begin, byteLength: expected };
}

export async function readByteRange(file: string, offset: number, length: number, tensor?: string): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new CheckpointError(`${file}: tensor ${tensor ?? '?'}: file ended after ${done} of ${length} bytes`, file, tensor);
      }
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/**
 * Reads [offset, offset + length) of `file` in chunks of at most `chunkBytes` through one reused
 * buffer, calling `use(bytes, at)` with each chunk and its position relative to `offset` (the
 * bytes are only valid during the call).
 */
export async function readChunks(file: string, offset: number, length: number, chunkBytes: number, tensor: string, use: (bytes: Uint8Array, at: number) => void): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const buf = new Uint8Array(Math.max(1, Math.min(chunkBytes, length)));
    for (let at = 0; at < length; ) {
      const want = Math.min(buf.length, length - at);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, offset + at + got);
        if (bytesRead === 0) {
          throw new CheckpointError(`${file}: tensor ${tensor}: file ended after ${at + got} of ${length} bytes`, file, tensor);
        }
        got += bytesRead;
      }
      use(buf.subarray(0, want), at);
      at += want;
    }
  } finally {
    await fh.close();
  }
}

/** Serializes tensors into one safetensors file image (used by the checkpoint writer). */
export function encodeSafetensors(tensors: readonly { name: string; dtype: SafetensorsDtype; shape: readonly number[]; data: Uint8Array }[]): Uint8Array[] {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the safetensors writer does.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  return [len, headerBytes, ...tensors.map((t) => t.data)];
}
