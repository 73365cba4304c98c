// Top-p sampling without sorting the vocabulary, token for token what the definition gives.
//
// The definition (and this project's previous implementation): order the ids by probability,
// descending, lower id first on ties; the nucleus is the shortest prefix whose probabilities
// p_i / sum, added in that order, reach top_p; then, with u uniform in [0, 1), the token is the
// first id of the nucleus at which the running sum of p_i / mass exceeds u (mass: the nucleus's
// probability). Sorting 201,088 ids for that cost more than a decode step.
//
// Ordering by logit is ordering by probability (exp is monotonic, and distinct fp32 logits give
// distinct float64 probabilities), so a histogram of probability mass over logit buckets locates
// both crossings (top_p, then u) at bucket granularity; only the one or two buckets holding a
// crossing are ordered, by a radix sort on the logit's bits. The running sums before those buckets
// are then bucket totals rather than the definition's element-by-element sums: they differ by at
// most a few hundred ulps (1e-11), so wherever a crossing lies farther than MARGIN from its
// threshold the token is the definition's. Where it does not (about once in 10^9 draws) the caller
// falls back to the exact ordered computation.

export interface NucleusInput {
  readonly logits: Float32Array;
  /** exp((logit - max) / temperature), float64. */
  readonly probs: Float64Array;
  /** The probabilities' sum, added in id order. */
  readonly sum: number;
  readonly max: number;
  readonly temperature: number;
  readonly topP: number;
  /** Each id's bucket: floor((max - logit) / temperature * BUCKETS_PER_NAT), at most BUCKETS - 1. */
  readonly buckets: Uint16Array;
  /** Each bucket's probability. */
  readonly mass: Float64Array;
}

const BUCKETS_PER_NAT = 8;
const BUCKETS = 1024;
const MARGIN = 1e-9;

/** One pass over the logits: probabilities into `probs`, their sum in id order, the histogram. */
export function weigh(logits: Float32Array, max: number, temperature: number, topP: number, probs: Float64Array): NucleusInput {
  const scale = BUCKETS_PER_NAT / temperature;
  const buckets = new Uint16Array(logits.length);
  const mass = new Float64Array(BUCKETS);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const l = logits[i]!;
    const p = Math.exp((l - max) / temperature);
    const b = Math.min(BUCKETS - 1, Math.floor((max - l) * scale));
    probs[i] = p;
    sum += p;
    buckets[i] = b;
    mass[b] += p;
  }
  return { logits, probs, sum, max, temperature, topP, buckets, mass };
}

/** The sampled id, or null when a crossing lies too close to its threshold to decide by buckets. */
export function sampleNucleus(n: NucleusInput, u: number): number | null {
  const { buckets, mass, probs, sum, topP } = n;

  // The nucleus: whole buckets before the one where the running p / sum reaches top_p, plus that
  // bucket's ordered prefix up to the crossing.
  let cutBucket = -1;
  let before = 0;
  for (let b = 0; b < BUCKETS; b++) {
    if (before + mass[b]! / sum >= topP - MARGIN) {
      cutBucket = b;
      break;
    }
    before += mass[b]! / sum;
  }
  if (cutBucket < 0) return null;
  const cutOrdered = byDescendingLogit(n.logits, idsInBucket(buckets, cutBucket));
  let cut = -1;
  let acc = before;
  for (let j = 0; j < cutOrdered.length; j++) {
    const next = acc + probs[cutOrdered[j]!]! / sum;
    if (next >= topP) {
      if (next - topP < MARGIN || topP - acc < MARGIN) return null;
      cut = j;
      break;
    }
    acc = next;
  }
  if (cut < 0) return null;
  let nucleusMass = 0;
  for (let b = 0; b < cutBucket; b++) nucleusMass += mass[b]!;
  for (let j = 0; j <= cut; j++) nucleusMass += probs[cutOrdered[j]!]!;

  // The token: the same walk over p / mass, against u.
  let drawBefore = 0;
  for (let b = 0; b <= cutBucket; b++) {
    const ordered = b === cutBucket ? cutOrdered.subarray(0, cut + 1) : null;
    let bucketShare = 0;
    if (ordered) for (const i of ordered) bucketShare += probs[i]! / nucleusMass;
    else bucketShare = mass[b]! / nucleusMass;
    if (drawBefore + bucketShare < u - MARGIN) {
      drawBefore += bucketShare;
      continue;
    }
    let running = drawBefore;
    for (const i of ordered ?? byDescendingLogit(n.logits, idsInBucket(buckets, b))) {
      const next = running + probs[i]! / nucleusMass;
      if (u < next) return next - u < MARGIN || u - running < MARGIN ? null : i;
      running = next;
    }
    return null;
  }
  return null;
}

/** The nucleus in the definition's order, computed exactly (the fallback, and the tests' view). */
export function exactNucleus(n: NucleusInput): Uint32Array {
  const { buckets, mass } = n;
  // Every id in the fewest most likely buckets that hold top_p of the mass, with headroom.
  let last = BUCKETS - 1;
  for (let b = 0, acc = 0; b < BUCKETS; b++) {
    acc += mass[b]!;
    if (acc >= n.topP * n.sum * (1 + MARGIN)) {
      last = b;
      break;
    }
  }
  let count = 0;
  for (let i = 0; i < buckets.length; i++) if (buckets[i]! <= last) count++;
  const candidates = new Uint32Array(count);
  for (let i = 0, j = 0; i < buckets.length; i++) if (buckets[i]! <= last) candidates[j++] = i;
  const ordered = byDescendingLogit(n.logits, candidates);
  const prefix = probabilityPrefix(ordered, n);
  if (prefix) return prefix;
  const all = count === buckets.length ? ordered : byDescendingLogit(n.logits, Uint32Array.from(n.logits.keys()));
  return probabilityPrefix(all, n) ?? all;
}

/** The definition's draw over an ordered nucleus. */
export function sampleOrdered(probs: Float64Array, order: Uint32Array, u: number): number {
  let mass = 0;
  for (const i of order) mass += probs[i]!;
  let acc = 0;
  for (const i of order) {
    acc += probs[i]! / mass;
    if (u < acc) return i;
  }
  return order[order.length - 1]!;
}

function idsInBucket(buckets: Uint16Array, b: number): Uint32Array {
  const ids: number[] = [];
  for (let i = 0; i < buckets.length; i++) if (buckets[i] === b) ids.push(i);
  return Uint32Array.from(ids);
}

/** The ordered ids up to the one whose running probability reaches top_p, or null if none does. */
function probabilityPrefix(ordered: Uint32Array, n: NucleusInput): Uint32Array | null {
  let acc = 0;
  for (let j = 0; j < ordered.length; j++) {
    acc += n.probs[ordered[j]!]! / n.sum;
    if (acc >= n.topP) return ordered.subarray(0, j + 1);
  }
  return null;
}

/** `ids` (ascending) reordered by descending logit, lower id first on ties: a stable LSD radix sort. */
export function byDescendingLogit(logits: Float32Array, ids: Uint32Array): Uint32Array {
  const bits = new Uint32Array(logits.buffer, logits.byteOffset, logits.length);
  const n = ids.length;
  let keys = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    const i = ids[j]!;
    const b = logits[i] === 0 ? 0 : bits[i]!; // -0 ties with +0
    const ascending = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys[j] = ~ascending >>> 0;
  }
  let order = ids.slice();
  let nextKeys = new Uint32Array(n);
  let nextOrder = new Uint32Array(n);
  const count = new Uint32Array(2048);
  for (const shift of [0, 11, 22]) {
    count.fill(0);
    for (let j = 0; j < n; j++) count[(keys[j]! >>> shift) & 0x7ff]++;
    for (let d = 0, at = 0; d < 2048; d++) {
      const c = count[d]!;
      count[d] = at;
      at += c;
    }
    for (let j = 0; j < n; j++) {
      const to = count[(keys[j]! >>> shift) & 0x7ff]++;
      nextKeys[to] = keys[j]!;
      nextOrder[to] = order[j]!;
    }
    [keys, nextKeys] = [nextKeys, keys];
    [order, nextOrder] = [nextOrder, order];
  }
  return order;
}
