// The dense half of gpt-oss loaded into onnxruntime: per layer the attention-in and
// attention-out/router graphs, the attention core (one graph for every layer), the unembedding,
// and the embedding table.
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { loadEmbeddingBf16, loadLayerWeights } from '../checkpoint/weights.js';
import type { ModelConfig } from '../model/model-config.js';
import { OrtGraph, type SessionSettings } from '../onnx/session.js';
import { AttentionCore } from './attention.js';
import { buildAttentionIn, buildAttentionOut } from './dense-graphs.js';
import { BlockedUnembedding } from './unembedding.js';

export interface DenseLayer {
  readonly attentionIn: OrtGraph;
  readonly attentionOut: OrtGraph;
  readonly sinks: Float32Array;
}

export class DenseModel {
  private constructor(
    readonly config: ModelConfig,
    private readonly embedBf16: Uint8Array,
    readonly layers: readonly DenseLayer[],
    readonly unembedding: BlockedUnembedding,
    readonly attention: AttentionCore,
  ) {}

  /**
   * One graph's weights at a time: read, handed to onnxruntime (which keeps its own copy), and
   * dropped before the next graph's are read, so JavaScript never holds the whole dense half.
   * The unembedding goes first, one row block per session (unembedding.ts): its 2.3 GB at 20b
   * size is the largest tensor, and its transient copies cost least while nothing else is resident.
   */
  static async load(ckpt: Checkpoint, settings: SessionSettings, onTensor?: (name: string) => void): Promise<DenseModel> {
    const c = ckpt.config;
    const unembedding = await BlockedUnembedding.load(ckpt, settings, onTensor);
    const layers: DenseLayer[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const lw = await loadLayerWeights(ckpt, l, onTensor);
      layers.push({
        attentionIn: await OrtGraph.create(buildAttentionIn(c, l, lw.attention), settings),
        attentionOut: await OrtGraph.create(buildAttentionOut(c, l, lw.attention, lw.router), settings),
        sinks: lw.attention.sinks,
      });
    }
    const attention = await AttentionCore.create(c, settings);
    return new DenseModel(c, await loadEmbeddingBf16(ckpt, onTensor), layers, unembedding, attention);
  }

  /** Writes the (unscaled) embedding of each token into rows of `out`. */
  embed(tokens: readonly number[], out: Float32Array, firstRow: number): void {
    const H = this.config.hiddenSize;
    const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    const src = this.embedBf16;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) {
        throw new RangeError(`token id ${t} is outside the vocabulary [0, ${this.config.vocabSize})`);
      }
      const o = (firstRow + i) * H;
      const s = t * H * 2;
      for (let d = 0; d < H; d++) bits[o + d] = (src[s + 2 * d]! | (src[s + 2 * d + 1]! << 8)) << 16;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.layers.flatMap((l) => [l.attentionIn.release(), l.attentionOut.release()]), this.unembedding.release(), this.attention.release()]);
  }
}
