import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { writeRandomCheckpoint, DEFAULT_CHECKPOINT_SPEC } from '../../common/checkpoint/checkpoint-writer.js';
import { loadDenseWeights, loadExpertWeights } from '../../common/checkpoint/weights.js';
import { CheckpointError } from '../../common/errors.js';
import { GOLDEN_ROOT, TMP_ROOT } from '../helpers/paths.js';

const SPEC = { ...DEFAULT_CHECKPOINT_SPEC, vocab: 512, layers: 2 };

async function digest(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of (await readdir(dir)).sort()) h.update(f).update(await readFile(path.join(dir, f)));
  return h.digest('hex');
}

describe('checkpoint', () => {
  const root = path.join(TMP_ROOT, `checkpoint-test-${process.pid}`);
  after(() => rm(root, { recursive: true, force: true }));

  it('checkpoint - the writer is deterministic by seed and shards with an index', async () => {
    await writeRandomCheckpoint(path.join(root, 'a'), SPEC);
    await writeRandomCheckpoint(path.join(root, 'b'), SPEC);
    await writeRandomCheckpoint(path.join(root, 'c'), { ...SPEC, seed: 1 });
    assert.equal(await digest(path.join(root, 'a')), await digest(path.join(root, 'b')));
    assert.notEqual(await digest(path.join(root, 'a')), await digest(path.join(root, 'c')));
    const files = await readdir(path.join(root, 'a'));
    assert.ok(files.includes('model.safetensors.index.json'));
    assert.ok(files.includes('model-00001-of-00002.safetensors') && files.includes('model-00002-of-00002.safetensors'));
  });

  it('checkpoint - one shard and many shards read the same tensors', async () => {
    await writeRandomCheckpoint(path.join(root, 'one'), { ...SPEC, shards: 1 });
    await writeRandomCheckpoint(path.join(root, 'four'), { ...SPEC, shards: 4 });
    const one = await Checkpoint.open(path.join(root, 'one'));
    const four = await Checkpoint.open(path.join(root, 'four'));
    const a = await loadDenseWeights(one);
    const b = await loadDenseWeights(four);
    assert.deepEqual(a.lmHead, b.lmHead);
    assert.deepEqual(a.layers[1]!.attention.qkvWeight, b.layers[1]!.attention.qkvWeight);
    assert.deepEqual(await loadExpertWeights(one, 1, 5), await loadExpertWeights(four, 1, 5));
  });

  it('checkpoint - an expert is read from its own byte range of the stacked tensor', async () => {
    const ckpt = await Checkpoint.open(path.join(GOLDEN_ROOT, 'visible-v4k', 'hf'));
    const info = ckpt.info('model.layers.2.mlp.experts.gate_up_proj_blocks');
    const file = await readFile(info.file);
    const per = info.byteLength / 8;
    const e = await loadExpertWeights(ckpt, 2, 6);
    assert.deepEqual(e.gateUpBlocks, new Uint8Array(file.subarray(info.byteOffset + 6 * per, info.byteOffset + 7 * per)));
    assert.equal(e.downBias.length, 64);
  });

  it('checkpoint - a truncated file is an error naming the file and tensor', async () => {
    const dir = path.join(root, 'trunc');
    await writeRandomCheckpoint(dir, { ...SPEC, shards: 1 });
    const file = path.join(dir, 'model.safetensors');
    await truncate(file, 20000);
    await assert.rejects(Checkpoint.open(dir), (e: unknown) => e instanceof CheckpointError && e.file === file && e.tensor !== undefined && /truncated/.test(e.message));
    await truncate(file, 4);
    await assert.rejects(Checkpoint.open(dir), (e: unknown) => e instanceof CheckpointError && e.file === file);
  });

  it('checkpoint - a wrong dtype or shape names the file and tensor', async () => {
    const dir = path.join(root, 'badshape');
    await mkdir(dir, { recursive: true });
    const src = path.join(GOLDEN_ROOT, 'visible-v4k', 'hf');
    await copyFile(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const cfg = JSON.parse(await readFile(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 96 }));
    const ckpt = await Checkpoint.open(dir);
    await assert.rejects(loadExpertWeights(ckpt, 0, 0), (e: unknown) => e instanceof CheckpointError && e.tensor === 'model.layers.0.mlp.experts.gate_up_proj_blocks' && /shape/.test(e.message));
    assert.throws(() => ckpt.info('model.layers.0.mlp.experts.gate_up_proj_blocks', ['BF16']), (e: unknown) => e instanceof CheckpointError && /dtype U8/.test(e.message));
    assert.throws(() => ckpt.info('model.layers.9.self_attn.sinks'), (e: unknown) => e instanceof CheckpointError && e.tensor === 'model.layers.9.self_attn.sinks');
  });

  it('checkpoint - a corrupt header or index names the file', async () => {
    const dir = path.join(root, 'corrupt');
    await writeRandomCheckpoint(dir, SPEC);
    const shard = path.join(dir, 'model-00002-of-00002.safetensors');
    const bytes = await readFile(shard);
    bytes.fill(0x7b, 8, 20);
    await writeFile(shard, bytes);
    await assert.rejects(Checkpoint.open(dir), (e: unknown) => e instanceof CheckpointError && e.file === shard && /JSON/.test(e.message));
    await writeFile(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": {"x": "../etc/passwd"}}');
    await assert.rejects(Checkpoint.open(dir), (e: unknown) => e instanceof CheckpointError && /weight_map/.test(e.message));
    await rm(path.join(dir, 'config.json'));
    await assert.rejects(Checkpoint.open(dir), (e: unknown) => e instanceof CheckpointError && /config\.json/.test(e.message));
  });
});
