// Turns fp32 logits into a token: greedy, temperature, top-p, with a seeded generator so a request
// with a seed is reproducible; plus the top-k log-probabilities of the unmodified distribution.
import { exactNucleus, sampleNucleus, sampleOrdered, weigh } from './nucleus.js';

export interface SamplingParams {
  /** 0 = greedy. */
  readonly temperature: number;
  readonly topP: number;
  readonly seed?: number;
  /** How many top log-probabilities to report per token (0 = none). */
  readonly topLogprobs: number;
}

export const GREEDY: SamplingParams = { temperature: 0, topP: 1, topLogprobs: 0 };

export interface TokenLogprob {
  readonly id: number;
  readonly logprob: number;
}

export interface SampledToken {
  readonly id: number;
  /** log-softmax of the fp32 logits at the chosen id. */
  readonly logprob: number;
  readonly top: readonly TokenLogprob[];
}

/** Deterministic generator (splitmix32-seeded xoshiro128**) so sampling with a seed repeats. */
export class SeededRandom {
  private s: Uint32Array;
  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s = Uint32Array.of(next(), next(), next(), next());
  }
  /** Uniform in [0, 1). */
  next(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return result / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export function maxOf(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  return max;
}

export function logSumExp(logits: Float32Array, max = maxOf(logits)): number {
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** The k largest logits' ids, most likely first (lower id first on ties). */
export function topK(logits: Float32Array, k: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (ids.length === k && v <= logits[ids[k - 1]!]!) continue;
    let j = ids.length < k ? ids.length : k - 1;
    ids[j] = i;
    while (j > 0 && logits[ids[j - 1]!]! < v) {
      ids[j] = ids[j - 1]!;
      ids[j - 1] = i;
      j--;
    }
  }
  return ids;
}

export class Sampler {
  private readonly random: SeededRandom;
  private probs = new Float64Array(0);

  constructor(readonly params: SamplingParams) {
    this.random = new SeededRandom(params.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  sample(logits: Float32Array): SampledToken {
    const max = maxOf(logits);
    const lse = logSumExp(logits, max);
    const id = this.params.temperature <= 0 ? argmax(logits) : this.draw(logits, max);
    const top = this.params.topLogprobs > 0 ? topK(logits, this.params.topLogprobs).map((t) => ({ id: t, logprob: logits[t]! - lse })) : [];
    return { id, logprob: logits[id]! - lse, top };
  }

  private draw(logits: Float32Array, max: number): number {
    const t = this.params.temperature;
    if (this.probs.length !== logits.length) this.probs = new Float64Array(logits.length);
    const probs = this.probs;
    if (this.params.topP < 1) {
      const nucleus = weigh(logits, max, t, this.params.topP, probs);
      const u = this.random.next();
      return sampleNucleus(nucleus, u) ?? sampleOrdered(probs, exactNucleus(nucleus), u);
    }
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp((logits[i]! - max) / t);
    const u = this.random.next();
    let acc = 0;
    for (let i = 0; i < probs.length; i++) {
      acc += probs[i]! / sum;
      if (u < acc) return i;
    }
    return argmax(logits);
  }
}
