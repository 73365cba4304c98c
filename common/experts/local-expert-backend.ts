// The single-process default: every expert in this process.
import { availableParallelism } from 'node:os';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ExpertBackend, LayerRouting } from './expert-backend.js';
import { ExpertSet } from './expert-set.js';
import type { ExpertRuntimeOptions } from './expert-precision.js';
import { ExpertDecoderPool } from './expert-decoder-pool.js';
import type { DecodedExpert } from './expert-decode.js';

/** Experts being decoded ahead of the one handed to onnxruntime. */
const DECODE_AHEAD = 2;

export class LocalExpertBackend implements ExpertBackend {
  private constructor(private readonly set: ExpertSet) {}

  /**
   * Loads every expert: other cores read and decode them (DECODE_AHEAD at a time, which bounds
   * the decoded copies waiting in memory) while this thread hands each to onnxruntime.
   */
  static async load(ckpt: Checkpoint, options: ExpertRuntimeOptions, onExpert?: (done: number, total: number) => void): Promise<LocalExpertBackend> {
    const set = new ExpertSet(ckpt.config, ckpt, options);
    const { numLayers, numExperts } = ckpt.config;
    const total = numLayers * numExperts;
    const decoders = new ExpertDecoderPool(ckpt.dir, options.precision, Math.max(1, Math.min(DECODE_AHEAD, availableParallelism() - 1)));
    try {
      const decoding = new Map<number, Promise<DecodedExpert>>();
      const ask = (slot: number): void => {
        if (slot >= total) return;
        const decoded = decoders.decode(Math.floor(slot / numExperts), slot % numExperts);
        // Awaited in order below; one still pending when an earlier load fails must not surface
        // as an unhandled rejection.
        decoded.catch(() => undefined);
        decoding.set(slot, decoded);
      };
      for (let slot = 0; slot < DECODE_AHEAD; slot++) ask(slot);
      for (let slot = 0; slot < total; slot++) {
        const decoded = decoding.get(slot)!;
        decoding.delete(slot);
        ask(slot + DECODE_AHEAD);
        await set.load(Math.floor(slot / numExperts), slot % numExperts, decoded);
        onExpert?.(slot + 1, total);
      }
    } catch (err) {
      await set.close();
      throw err;
    } finally {
      await decoders.close();
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
