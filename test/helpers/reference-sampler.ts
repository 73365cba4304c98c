// The previous sampler's draw, which sorted the whole vocabulary for top_p, kept as the reference
// the current sampler must agree with token for token (same logits, same seed).
import { SeededRandom, argmax } from '../../common/engine/sampler.js';

export class ReferenceSampler {
  private readonly random: SeededRandom;

  constructor(
    private readonly temperature: number,
    private readonly topP: number,
    seed: number,
  ) {
    this.random = new SeededRandom(seed);
  }

  draw(logits: Float32Array): number {
    const t = this.temperature;
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
    const probs = new Float64Array(logits.length);
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp((logits[i]! - max) / t);
    const order = this.topP < 1 ? sortedNucleus(probs, sum, this.topP) : null;
    const u = this.random.next();
    if (order) {
      const mass = order.reduce((s, i) => s + probs[i]!, 0);
      let acc = 0;
      for (const i of order) {
        acc += probs[i]! / mass;
        if (u < acc) return i;
      }
      return order[order.length - 1]!;
    }
    let acc = 0;
    for (let i = 0; i < probs.length; i++) {
      acc += probs[i]! / sum;
      if (u < acc) return i;
    }
    return argmax(logits);
  }
}

export function sortedNucleus(probs: Float64Array, sum: number, topP: number): number[] {
  const ids = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
  const out: number[] = [];
  let acc = 0;
  for (const i of ids) {
    out.push(i);
    acc += probs[i]! / sum;
    if (acc >= topP) break;
  }
  return out;
}
