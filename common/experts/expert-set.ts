// The experts one process holds, each a small onnxruntime graph, and the grouped computation
// "for these tokens, the weighted sum of these experts". The single-process engine holds all of
// them; a worker holds its assigned subset and serves the same computation over gRPC.
import type { ModelConfig } from '../model/model-config.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { loadExpertWeights } from '../checkpoint/weights.js';
import { OrtGraph, f32 } from '../onnx/session.js';
import { buildExpertGraph } from './expert-graph.js';
import type { DecodedExpert } from './expert-decode.js';
import type { ExpertRuntimeOptions } from './expert-precision.js';

/** Token `token` (a row of the hidden batch) needs expert `expert` with mixing weight `weight`. */
export interface ExpertAssignments {
  readonly tokens: Int32Array;
  readonly experts: Int32Array;
  readonly weights: Float32Array;
}

const key = (layer: number, expert: number): number => layer * 1_000_000 + expert;

export class ExpertSet {
  private readonly graphs = new Map<number, OrtGraph>();
  private readonly loading = new Map<number, Promise<void>>();

  constructor(
    readonly config: ModelConfig,
    private readonly checkpoint: Checkpoint,
    readonly options: ExpertRuntimeOptions,
  ) {}

  has(layer: number, expert: number): boolean {
    return this.graphs.has(key(layer, expert));
  }

  held(): { layer: number; expert: number }[] {
    return [...this.graphs.keys()].map((k) => ({ layer: Math.floor(k / 1_000_000), expert: k % 1_000_000 }));
  }

  /**
   * Loads one expert (idempotent; concurrent calls share one load). `decoded`, when given, is the
   * expert already read and decoded elsewhere (an ExpertDecoderPool); otherwise it is done here.
   */
  async load(layer: number, expert: number, decoded?: Promise<DecodedExpert>): Promise<void> {
    const k = key(layer, expert);
    if (this.graphs.has(k)) return;
    let pending = this.loading.get(k);
    if (!pending) {
      pending = (async () => {
        const weights = decoded ? await decoded : await loadExpertWeights(this.checkpoint, layer, expert);
        const mxfp4 = this.options.precision === 'mxfp4';
        const graph = await OrtGraph.create(buildExpertGraph(this.config, weights, this.options), {
          intraOpThreads: this.options.intraOpThreads,
          executionProvider: this.options.executionProvider,
          noConstantFolding: mxfp4,
          memoryArena: !mxfp4,
        });
        this.graphs.set(k, graph);
      })().finally(() => this.loading.delete(k));
      this.loading.set(k, pending);
    }
    await pending;
  }

  async drop(layer: number, expert: number): Promise<void> {
    const k = key(layer, expert);
    const g = this.graphs.get(k);
    if (!g) return;
    this.graphs.delete(k);
    await g.release();
  }

  /**
   * Returns [tokenCount, hidden]: row t = sum over t's assignments of weight * expert(hidden[t]).
   * One graph run per distinct expert, over all of its tokens at once.
   */
  async weightedSum(layer: number, hidden: Float32Array, tokenCount: number, a: ExpertAssignments): Promise<Float32Array> {
    const H = this.config.hiddenSize;
    const out = new Float32Array(tokenCount * H);
    const byExpert = new Map<number, number[]>();
    for (let i = 0; i < a.experts.length; i++) {
      const e = a.experts[i]!;
      let list = byExpert.get(e);
      if (!list) byExpert.set(e, (list = []));
      list.push(i);
    }
    // Fixed expert order keeps the float summation order independent of arrival order.
    for (const e of [...byExpert.keys()].sort((x, y) => x - y)) {
      const graph = this.graphs.get(key(layer, e));
      if (!graph) throw new Error(`layer ${layer} expert ${e} is not loaded here`);
      const idx = byExpert.get(e)!;
      const x = new Float32Array(idx.length * H);
      for (let j = 0; j < idx.length; j++) {
        const t = a.tokens[idx[j]!]!;
        x.set(hidden.subarray(t * H, (t + 1) * H), j * H);
      }
      const { y } = await graph.run({ x: f32(x, [idx.length, H]) });
      for (let j = 0; j < idx.length; j++) {
        const t = a.tokens[idx[j]!]!;
        const w = a.weights[idx[j]!]!;
        const o = t * H;
        const yo = j * H;
        for (let d = 0; d < H; d++) out[o + d] += w * y![yo + d]!;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.loading.values()]);
    const graphs = [...this.graphs.values()];
    this.graphs.clear();
    await Promise.all(graphs.map((g) => g.release()));
  }
}
