// One onnxruntime session over a model built in memory.
import ort from 'onnxruntime-node';
import type { BuiltModel } from './graph-builder.js';

export interface SessionSettings {
  /** Threads one run may use; 1 when parallelism comes from worker threads instead. */
  readonly intraOpThreads: number;
  readonly executionProvider?: 'cpu' | 'cuda';
}

export type Feeds = Record<string, ort.Tensor>;

export class OrtGraph {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(built: BuiltModel, settings: SessionSettings): Promise<OrtGraph> {
    const session = await ort.InferenceSession.create(built.model, {
      externalData: built.externalData,
      intraOpNumThreads: settings.intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: settings.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      // A process holds many sessions (one per expert); spinning intra-op threads of idle sessions
      // would steal the cores the running one needs.
      extra: {
        session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } },
      },
    });
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
