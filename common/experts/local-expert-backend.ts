// The single-process default: every expert in this process.
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ExpertBackend, LayerRouting } from './expert-backend.js';
import { ExpertSet } from './expert-set.js';
import type { ExpertRuntimeOptions } from './expert-precision.js';

export class LocalExpertBackend implements ExpertBackend {
  private constructor(private readonly set: ExpertSet) {}

  static async load(ckpt: Checkpoint, options: ExpertRuntimeOptions, onExpert?: (done: number, total: number) => void): Promise<LocalExpertBackend> {
    const set = new ExpertSet(ckpt.config, ckpt, options);
    const { numLayers, numExperts } = ckpt.config;
    let done = 0;
    for (let l = 0; l < numLayers; l++) {
      for (let e = 0; e < numExperts; e++) {
        await set.load(l, e);
        onExpert?.(++done, numLayers * numExperts);
      }
    }
    return new LocalExpertBackend(set);
  }

  runLayer(layer: number, hidden: Float32Array, routing: LayerRouting): Promise<Float32Array> {
    const n = routing.tokenCount * routing.k;
    const tokens = new Int32Array(n);
    for (let i = 0; i < n; i++) tokens[i] = Math.floor(i / routing.k);
    return this.set.weightedSum(layer, hidden, routing.tokenCount, { tokens, experts: routing.experts, weights: routing.weights });
  }

  close(): Promise<void> {
    return this.set.close();
  }
}
