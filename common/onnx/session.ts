// One onnxruntime session over a model built in memory.
import ort from 'onnxruntime-node';
import { assertCudaCoverage } from './cuda-coverage.js';
import type { BuiltModel } from './graph-builder.js';

export interface SessionSettings {
  /** Threads one run may use; 1 when parallelism comes from worker threads instead. */
  readonly intraOpThreads: number;
  readonly executionProvider?: 'cpu' | 'cuda';
}

export type Feeds = Record<string, ort.Tensor>;

/**
 * onnxruntime's session options for these settings. With `cuda`, the CUDA provider alone is listed
 * and session.disable_cpu_ep_fallback is set: a node the CUDA provider does not take fails the
 * session's creation instead of running on the CPU unseen (onnxruntime refuses the setting when the
 * CPU provider is listed explicitly; it is still there for its own bookkeeping).
 */
export function sessionOptions(settings: SessionSettings): ort.InferenceSession.SessionOptions {
  const cuda = settings.executionProvider === 'cuda';
  return {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: cuda ? ['cuda'] : ['cpu'],
    // A process holds many sessions (one per expert); spinning intra-op threads of idle sessions
    // would steal the cores the running one needs.
    extra: {
      session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' }, ...(cuda ? { disable_cpu_ep_fallback: '1' } : {}) },
    },
  };
}

export class OrtGraph {
  private constructor(private readonly session: ort.InferenceSession) {}

  /**
   * With the cuda provider the graph is first checked against onnxruntime's CUDA kernel list
   * (cuda-coverage.ts): an uncovered node throws CudaKernelMissingError naming it, before any CUDA
   * library is loaded.
   */
  static async create(built: BuiltModel, settings: SessionSettings): Promise<OrtGraph> {
    if (settings.executionProvider === 'cuda') assertCudaCoverage(built);
    const session = await ort.InferenceSession.create(built.model, { ...sessionOptions(settings), externalData: built.externalData });
    return new OrtGraph(session);
  }

  async run(feeds: Feeds): Promise<Record<string, Float32Array>> {
    const out = await this.session.run(feeds);
    const result: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(out)) result[name] = t.data as Float32Array;
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export function f32(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}
