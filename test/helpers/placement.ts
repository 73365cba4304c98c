// Small builders and checks shared by the placement tests and the placement benchmark.
import assert from 'node:assert/strict';
import type { PlacementWorker } from '../../common/cluster/placement.js';

export const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `w${i}`);
export const workers = (n: number, capacity: number): PlacementWorker[] => ids(n).map((id) => ({ id, capacity }));

/** slot → holders, checking no worker holds a slot twice. */
export function holders(target: Record<string, number[]>, numSlots: number): string[][] {
  const out: string[][] = Array.from({ length: numSlots }, () => []);
  for (const [id, slots] of Object.entries(target)) {
    assert.equal(new Set(slots).size, slots.length, `${id} holds a slot twice`);
    for (const s of slots) {
      assert.ok(s >= 0 && s < numSlots, `slot ${s} out of range`);
      out[s]!.push(id);
    }
  }
  return out;
}

/** Slots newly assigned to some worker between two targets (the experts that must be loaded). */
export function moves(before: Record<string, number[]>, after: Record<string, number[]>): number {
  let n = 0;
  for (const [id, slots] of Object.entries(after)) {
    const had = new Set(before[id] ?? []);
    n += slots.filter((s) => !had.has(s)).length;
  }
  return n;
}

/** Deterministic xorshift PRNG for property tests and simulations. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}
