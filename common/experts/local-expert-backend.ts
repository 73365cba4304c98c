// The single-process default: every expert in this process, held by an ExpertPool's compute
// threads (the same pool a worker uses). Loading then runs on every core, reading, decoding and
// handing experts to onnxruntime in parallel with each other and with the dense half, which the
// engine loads on the main thread meanwhile; each layer's experts also run on every core.
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ExpertBackend, LayerRouting } from './expert-backend.js';
import { ExpertPool } from './expert-pool.js';
import type { ExpertRuntimeOptions } from './expert-precision.js';

export class LocalExpertBackend implements ExpertBackend {
  private constructor(private readonly pool: ExpertPool) {}

  /** Loads every expert; `threads` defaults to one per core. */
  static async load(ckpt: Checkpoint, options: Omit<ExpertRuntimeOptions, 'intraOpThreads'>, threads?: number, onExpert?: (done: number, total: number) => void): Promise<LocalExpertBackend> {
    const pool = await ExpertPool.create({ checkpointDir: ckpt.dir, threads, runtime: options });
    try {
      if (pool.fingerprint !== ckpt.fingerprint) throw new Error(`${ckpt.dir}: checkpoint changed while the expert threads opened it`);
      const { numLayers, numExperts } = ckpt.config;
      const total = numLayers * numExperts;
      let done = 0;
      await Promise.all(
        Array.from({ length: total }, (_, slot) =>
          pool.load(Math.floor(slot / numExperts), slot % numExperts).then(() => onExpert?.(++done, total)),
        ),
      );
    } catch (err) {
      await pool.close();
      throw err;
    }
    return new LocalExpertBackend(pool);
  }

  runLayer(layer: number, hidden: Float32Array, routing: LayerRouting): Promise<Float32Array> {
    const n = routing.tokenCount * routing.k;
    const tokens = new Int32Array(n);
    for (let i = 0; i < n; i++) tokens[i] = Math.floor(i / routing.k);
    return this.pool.weightedSum(layer, hidden, routing.tokenCount, { tokens, experts: routing.experts, weights: routing.weights });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
