// A gpt-oss checkpoint directory in Hugging Face layout: config.json plus one safetensors file or
// many with model.safetensors.index.json. Opening reads only headers; tensors are read by byte
// range, so a worker reads only its own experts.
import { createHash } from 'node:crypto';
import { readFile, readdir, access } from 'node:fs/promises';
import path from 'node:path';
import { CheckpointError, ConfigError } from '../errors.js';
import { parseModelConfig, type ModelConfig } from '../model/model-config.js';
import { bf16ToFloat32, f16ToFloat32, widenBf16Into } from './bf16.js';
import { DTYPE_BYTES, readByteRange, readChunks, readSafetensorsHeader, type SafetensorsDtype, type TensorInfo } from './safetensors.js';

export class Checkpoint {
  private constructor(
    readonly dir: string,
    readonly config: ModelConfig,
    private readonly tensors: ReadonlyMap<string, TensorInfo>,
    /** Identifies the weights: sha256 over config.json and every safetensors header. */
    readonly fingerprint: string,
  ) {}

  static async open(dir: string): Promise<Checkpoint> {
    const configPath = path.join(dir, 'config.json');
    let configText: string;
    try {
      configText = await readFile(configPath, 'utf8');
    } catch (err) {
      throw new CheckpointError(`${configPath}: cannot read the model's config.json (${(err as Error).message})`, configPath, undefined, { cause: err });
    }
    let raw: unknown;
    try {
      raw = JSON.parse(configText);
    } catch (err) {
      throw new ConfigError(`${configPath}: not valid JSON (${(err as Error).message})`, '<root>', { cause: err });
    }
    const config = parseModelConfig(raw);
    const files = await listShardFiles(dir);
    const hash = createHash('sha256').update(configText);
    const tensors = new Map<string, TensorInfo>();
    for (const file of files.shards) {
      const header = await readSafetensorsHeader(file);
      hash.update(file.slice(dir.length));
      for (const [name, info] of header) {
        hash.update(`${name}:${info.dtype}:${info.shape.join('x')}:${info.byteLength};`);
        const expected = files.weightMap?.get(name);
        if (files.weightMap && expected !== file) continue;
        if (tensors.has(name)) throw new CheckpointError(`${file}: tensor ${name} appears in more than one file`, file, name);
        tensors.set(name, info);
      }
    }
    if (files.weightMap) {
      for (const [name, file] of files.weightMap) {
        if (!tensors.has(name)) throw new CheckpointError(`${file}: tensor ${name} is listed in model.safetensors.index.json but not in the file`, file, name);
      }
    }
    return new Checkpoint(dir, config, tensors, hash.digest('hex').slice(0, 16));
  }

  /** The safetensors files the tensors live in, sorted. */
  shardFiles(): string[] {
    return [...new Set([...this.tensors.values()].map((t) => t.file))].sort();
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string, dtypes?: readonly SafetensorsDtype[], shape?: readonly number[]): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.dir}: tensor ${name} is missing from the checkpoint`, this.dir, name);
    if (dtypes && !dtypes.includes(info.dtype)) {
      throw new CheckpointError(`${info.file}: tensor ${name} has dtype ${info.dtype}, expected ${dtypes.join(' or ')}`, info.file, name);
    }
    if (shape && (shape.length !== info.shape.length || shape.some((d, i) => d !== info.shape[i]))) {
      throw new CheckpointError(`${info.file}: tensor ${name} has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}]`, info.file, name);
    }
    return info;
  }

  /** A float tensor of the given shape, widened to fp32. */
  async readFloat32(name: string, shape: readonly number[]): Promise<Float32Array> {
    const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
    await this.readFloat32Into(name, shape, out);
    return out;
  }

  /**
   * Reads a float tensor into `out`, widening to fp32 chunk by chunk: the file's bytes pass
   * through one bounded buffer, never a whole-tensor copy beside the result.
   */
  async readFloat32Into(name: string, shape: readonly number[], out: Float32Array, firstRow = 0): Promise<void> {
    const info = this.info(name, ['BF16', 'F16', 'F32'], shape);
    const width = DTYPE_BYTES[info.dtype];
    // `out` takes whole rows along dim 0, from `firstRow` on (all of them by default).
    const rows = info.shape[0] ?? 1;
    const rowValues = info.byteLength / width / Math.max(1, rows);
    const count = out.length / rowValues;
    if (!Number.isInteger(count) || firstRow < 0 || firstRow + count > Math.max(1, rows)) {
      throw new RangeError(`readFloat32Into ${name}: ${out.length} floats from row ${firstRow} do not fit [${info.shape.join(', ')}]`);
    }
    const chunkValues = Math.floor(READ_CHUNK_BYTES / width);
    await readChunks(info.file, info.byteOffset + firstRow * rowValues * width, out.length * width, chunkValues * width, name, (bytes, at) => {
      const first = at / width;
      const dst = out.subarray(first, first + bytes.length / width);
      if (info.dtype === 'BF16') widenBf16Into(bytes, dst);
      else dst.set(toFloat32(info.dtype, bytes));
    });
  }

  /** Rows [first, first+count) along dim 0 of a float tensor, widened to fp32. */
  async readFloat32Rows(name: string, shape: readonly number[], first: number, count: number): Promise<Float32Array> {
    const info = this.info(name, ['BF16', 'F16', 'F32'], shape);
    const bytes = await this.readRows(info, first, count);
    return toFloat32(info.dtype, bytes);
  }

  /** Rows [first, first+count) along dim 0 of a u8 tensor (MXFP4 blocks or scales). */
  async readUint8Rows(name: string, shape: readonly number[], first: number, count: number): Promise<Uint8Array> {
    const info = this.info(name, ['U8'], shape);
    return this.readRows(info, first, count);
  }

  private async readRows(info: TensorInfo, first: number, count: number): Promise<Uint8Array> {
    const rows = info.shape[0]!;
    if (first < 0 || count < 0 || first + count > rows) {
      throw new CheckpointError(`${info.file}: tensor ${info.name}: rows ${first}..${first + count} out of ${rows}`, info.file, info.name);
    }
    const rowBytes = info.byteLength / rows;
    return readByteRange(info.file, info.byteOffset + first * rowBytes, count * rowBytes, info.name);
  }
}

/** Bytes read per call when widening: large enough for disk speed, small beside any weight. */
const READ_CHUNK_BYTES = 8 << 20;

function toFloat32(dtype: SafetensorsDtype, bytes: Uint8Array): Float32Array {
  if (dtype === 'BF16') return bf16ToFloat32(bytes);
  if (dtype === 'F16') return f16ToFloat32(bytes);
  // Copy so the result is 4-byte aligned whatever the file offset was.
  return new Float32Array(bytes.slice().buffer);
}

async function listShardFiles(dir: string): Promise<{ shards: string[]; weightMap: Map<string, string> | null }> {
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  if (await exists(indexPath)) {
    let index: unknown;
    try {
      index = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (err) {
      throw new CheckpointError(`${indexPath}: not valid JSON`, indexPath, undefined, { cause: err });
    }
    const map = (index as { weight_map?: unknown })?.weight_map;
    if (typeof map !== 'object' || map === null) throw new CheckpointError(`${indexPath}: missing "weight_map"`, indexPath);
    const weightMap = new Map<string, string>();
    for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
        throw new CheckpointError(`${indexPath}: weight_map["${name}"] must be a file name in the checkpoint directory`, indexPath, name);
      }
      weightMap.set(name, path.join(dir, file));
    }
    const shards = [...new Set(weightMap.values())].sort();
    for (const s of shards) {
      if (!(await exists(s))) throw new CheckpointError(`${s}: listed in model.safetensors.index.json but missing`, s);
    }
    return { shards, weightMap };
  }
  const names = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  if (names.length === 0) throw new CheckpointError(`${dir}: no .safetensors files and no model.safetensors.index.json`, dir);
  return { shards: names.map((n) => path.join(dir, n)), weightMap: null };
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
