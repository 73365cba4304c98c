// The single-process engine: a checkpoint's dense half plus an expert backend behind one
// ForwardPass, and a generation loop. The distributed coordinator builds the same ForwardPass
// with a remote expert backend.
import { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ExpertBackend } from '../experts/expert-backend.js';
import { LocalExpertBackend } from '../experts/local-expert-backend.js';
import { DEFAULT_EXPERT_RUNTIME, type ExpertRuntimeOptions } from '../experts/expert-precision.js';
import type { ModelConfig } from '../model/model-config.js';
import { DenseModel } from './dense-model.js';
import { ForwardPass, type ForwardPassOptions } from './forward-pass.js';
import { KvCache } from './kv-cache.js';
import { Sampler, type SampledToken, type SamplingParams } from './sampler.js';

export interface GenerateRequest {
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  readonly stopTokenIds?: readonly number[];
}

export interface GenerateResult {
  readonly promptIds: readonly number[];
  readonly tokens: SampledToken[];
  readonly finishReason: 'stop' | 'length';
  readonly timings: GenerateTimings;
}

/** Wall time of one generation, as llama.cpp reports it: the prompt's step, then each later token. */
export interface GenerateTimings {
  /** The first step: the whole prompt through the model, and the first token sampled. */
  readonly prefillMs: number;
  /** Mean over the later steps (one token each); null when only one token was generated. */
  readonly decodeMsPerToken: number | null;
}

export interface EngineOptions {
  readonly denseThreads: number;
  /** Expert precision; each expert session runs on one intra-op thread of the pool. */
  readonly experts: Omit<ExpertRuntimeOptions, 'intraOpThreads'>;
  /** The expert pool's compute threads (default: one per core). */
  readonly expertThreads?: number;
}

export class Engine {
  constructor(
    readonly checkpoint: Checkpoint,
    readonly forward: ForwardPass,
  ) {}

  get config(): ModelConfig {
    return this.checkpoint.config;
  }

  static async loadLocal(dir: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
    const ckpt = await Checkpoint.open(dir);
    // The experts load on the pool's threads while this thread loads the dense half: session
    // creation blocks the thread it runs on, so this is what puts every core to work.
    const expertsLoading = LocalExpertBackend.load(ckpt, { ...DEFAULT_EXPERT_RUNTIME, ...options.experts }, options.expertThreads);
    // Awaited below; a failure while the dense half still loads must not surface as unhandled.
    expertsLoading.catch(() => undefined);
    let dense: DenseModel;
    try {
      dense = await DenseModel.load(ckpt, { intraOpThreads: options.denseThreads ?? 1 });
    } catch (err) {
      await expertsLoading.then((e) => e.close(), () => undefined);
      throw err;
    }
    try {
      return new Engine(ckpt, new ForwardPass(dense, await expertsLoading));
    } catch (err) {
      await dense.close();
      throw err;
    }
  }

  static async withBackend(
    ckpt: Checkpoint,
    experts: ExpertBackend,
    denseThreads: number,
    onTensor?: (name: string) => void,
    forwardOptions?: ForwardPassOptions,
  ): Promise<Engine> {
    const dense = await DenseModel.load(ckpt, { intraOpThreads: denseThreads }, onTensor);
    return new Engine(ckpt, new ForwardPass(dense, experts, forwardOptions));
  }

  newCache(): KvCache {
    const c = this.config;
    return new KvCache(c.numLayers, c.numKvHeads * c.headDim);
  }

  /** Generates for several prompts at once, all in the same forward steps. */
  async generateBatch(requests: readonly GenerateRequest[]): Promise<GenerateResult[]> {
    const states = requests.map((r) => ({
      req: r,
      cache: this.newCache(),
      sampler: new Sampler(r.sampling),
      pending: [...r.promptIds],
      out: [] as SampledToken[],
      finish: null as null | 'stop' | 'length',
    }));
    for (const s of states) {
      if (s.req.promptIds.length === 0) throw new RangeError('prompt must hold at least one token');
      if (s.req.maxTokens <= 0) s.finish = 'length';
    }
    const started = performance.now();
    let prefillMs: number | null = null;
    let steps = 0;
    while (states.some((s) => s.finish === null)) {
      const active = states.filter((s) => s.finish === null);
      const logits = await this.forward.step(active.map((s) => ({ cache: s.cache, tokens: s.pending, wantLogits: true })));
      active.forEach((s, i) => {
        const tok = s.sampler.sample(logits[i]!);
        s.out.push(tok);
        s.pending = [tok.id];
        if (s.req.stopTokenIds?.includes(tok.id)) s.finish = 'stop';
        else if (s.out.length >= s.req.maxTokens) s.finish = 'length';
      });
      steps++;
      prefillMs ??= performance.now() - started;
    }
    const decodeMs = performance.now() - started - (prefillMs ?? 0);
    const timings = { prefillMs: prefillMs ?? 0, decodeMsPerToken: steps > 1 ? decodeMs / (steps - 1) : null };
    return states.map((s) => ({ promptIds: s.req.promptIds, tokens: s.out, finishReason: s.finish!, timings }));
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    return (await this.generateBatch([request]))[0]!;
  }

  async close(): Promise<void> {
    await this.forward.experts.close();
    await this.forward.model.close();
  }
}
