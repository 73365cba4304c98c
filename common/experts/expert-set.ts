// The experts one process holds, each a small onnxruntime graph, and the grouped computation
// "for these tokens, the weighted sum of these experts". The single-process engine holds all of
// them; a worker holds its assigned subset and serves the same computation over gRPC.
import type { ModelConfig } from '../model/model-config.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { loadExpertWeights } from '../checkpoint/weights.js';
import { OrtGraph, f32, type Feeds, type SessionSettings } from '../onnx/session.js';
import { buildExpertGraph, expertFeeds, fedExpertGraph, weightsAreFed } from './expert-graph.js';
import { decodeExpert } from './expert-decode.js';
import type { ExpertRuntimeOptions } from './expert-precision.js';

/** Token `token` (a row of the hidden batch) needs expert `expert` with mixing weight `weight`. */
export interface ExpertAssignments {
  readonly tokens: Int32Array;
  readonly experts: Int32Array;
  readonly weights: Float32Array;
}

const key = (layer: number, expert: number): number => layer * 1_000_000 + expert;

/** A loaded expert: a graph of its own (fp32, q4x2), or the shared fed graph plus its weights (mxfp4). */
interface HeldExpert {
  readonly graph: OrtGraph;
  readonly weights: Feeds;
  readonly ownsGraph: boolean;
}

export class ExpertSet {
  private readonly graphs = new Map<number, HeldExpert>();
  private readonly loading = new Map<number, Promise<void>>();
  /** The one graph every fed (mxfp4) expert runs in, created with the first of them. */
  private fedGraph: Promise<OrtGraph> | null = null;

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

  /** Loads one expert: reads its bytes and decodes them (idempotent; concurrent calls share one load). */
  async load(layer: number, expert: number): Promise<void> {
    const k = key(layer, expert);
    if (this.graphs.has(k)) return;
    let pending = this.loading.get(k);
    if (!pending) {
      pending = (async () => {
        const decoded = decodeExpert(this.config, await loadExpertWeights(this.checkpoint, layer, expert), this.options.precision);
        if (weightsAreFed(this.options)) {
          const feeds = expertFeeds(this.config, decoded);
          this.graphs.set(k, { graph: await this.sharedFedGraph(), weights: feeds, ownsGraph: false });
          return;
        }
        const graph = await OrtGraph.create(buildExpertGraph(this.config, decoded, this.options), this.sessionSettings());
        this.graphs.set(k, { graph, weights: {}, ownsGraph: true });
      })().finally(() => this.loading.delete(k));
      this.loading.set(k, pending);
    }
    await pending;
  }

  async drop(layer: number, expert: number): Promise<void> {
    const k = key(layer, expert);
    const held = this.graphs.get(k);
    if (!held) return;
    this.graphs.delete(k);
    if (held.ownsGraph) await held.graph.release();
  }

  private sessionSettings(): SessionSettings {
    return { intraOpThreads: this.options.intraOpThreads, executionProvider: this.options.executionProvider };
  }

  private sharedFedGraph(): Promise<OrtGraph> {
    if (!this.fedGraph) {
      this.fedGraph = OrtGraph.create(fedExpertGraph(this.config, this.options), this.sessionSettings());
      // A failed creation is retried by the next load rather than cached.
      this.fedGraph.catch(() => (this.fedGraph = null));
    }
    return this.fedGraph;
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
      const held = this.graphs.get(key(layer, e));
      if (!held) throw new Error(`layer ${layer} expert ${e} is not loaded here`);
      const idx = byExpert.get(e)!;
      const x = new Float32Array(idx.length * H);
      for (let j = 0; j < idx.length; j++) {
        const t = a.tokens[idx[j]!]!;
        x.set(hidden.subarray(t * H, (t + 1) * H), j * H);
      }
      const { y } = await held.graph.run({ ...held.weights, x: f32(x, [idx.length, H]) });
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
    const own = [...this.graphs.values()].filter((h) => h.ownsGraph).map((h) => h.graph);
    this.graphs.clear();
    const fed = this.fedGraph;
    this.fedGraph = null;
    await Promise.all([...own.map((g) => g.release()), fed?.then((g) => g.release(), () => undefined)]);
  }
}
