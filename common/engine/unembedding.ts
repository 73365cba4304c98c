// The unembedding as several sessions over row blocks of lm_head, each built from its own rows
// and created before the next block is read: loading then holds one block's JavaScript copy and
// onnxruntime's copies of it at a time, not the whole 2.3 GB (20b size) matrix twice or three
// times over. Each block's logits land in their columns of the [M, vocab] result.
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { FINAL_NORM, LM_HEAD } from '../checkpoint/tensor-names.js';
import { OrtGraph, f32, type Feeds, type SessionSettings } from '../onnx/session.js';
import { buildUnembedding } from './dense-graphs.js';

/** lm_head rows per session: 512 MiB of fp32, well under onnxruntime's 2 GiB initializer limit. */
export const UNEMBEDDING_BLOCK_BYTES = 512 * 2 ** 20;

interface Block {
  readonly first: number;
  readonly rows: number;
  readonly graph: OrtGraph;
}

export class BlockedUnembedding {
  private constructor(
    private readonly hidden: number,
    private readonly vocab: number,
    private readonly blocks: readonly Block[],
  ) {}

  static async load(ckpt: Checkpoint, settings: SessionSettings, onTensor?: (name: string) => void, blockBytes = UNEMBEDDING_BLOCK_BYTES): Promise<BlockedUnembedding> {
    const c = ckpt.config;
    const H = c.hiddenSize;
    const finalNorm = await ckpt.readFloat32(FINAL_NORM, [H]);
    onTensor?.(FINAL_NORM);
    const rowsPerBlock = Math.max(1, Math.floor(blockBytes / (H * 4)));
    const blocks: Block[] = [];
    // One staging buffer for every block (onnxruntime copies what it is given): touching fresh
    // memory costs about ten times writing it again (0.7 s against 0.07 s per GiB measured here).
    const staging = new Float32Array(Math.min(rowsPerBlock, c.vocabSize) * H);
    try {
      for (let first = 0; first < c.vocabSize; first += rowsPerBlock) {
        const rows = Math.min(rowsPerBlock, c.vocabSize - first);
        const lmHead = staging.subarray(0, rows * H);
        await ckpt.readFloat32Into(LM_HEAD, [c.vocabSize, H], lmHead, first);
        // The one-block graph is the whole-vocabulary graph over a vocabulary of `rows`.
        blocks.push({ first, rows, graph: await OrtGraph.create(buildUnembedding({ ...c, vocabSize: rows }, finalNorm, lmHead), settings) });
      }
    } catch (err) {
      await Promise.all(blocks.map((b) => b.graph.release()));
      throw err;
    }
    onTensor?.(LM_HEAD);
    return new BlockedUnembedding(H, c.vocabSize, blocks);
  }

  /** { x: [M, H] } -> { logits: [M, vocab] }, as the single-session unembedding graph. */
  async run(feeds: Feeds): Promise<Record<string, Float32Array>> {
    const x = feeds['x'];
    if (!x) throw new RangeError('unembedding: feed "x" is missing');
    const m = x.dims[0]!;
    if (this.blocks.length === 1) return this.blocks[0]!.graph.run({ x });
    const logits = new Float32Array(m * this.vocab);
    for (const b of this.blocks) {
      const part = (await b.graph.run({ x: f32(x.data as Float32Array, [m, this.hidden]) }))['logits']!;
      for (let r = 0; r < m; r++) logits.set(part.subarray(r * b.rows, (r + 1) * b.rows), r * this.vocab + b.first);
    }
    return { logits };
  }

  async release(): Promise<void> {
    await Promise.all(this.blocks.map((b) => b.graph.release()));
  }
}
