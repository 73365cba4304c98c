// o200k_base byte-pair encoding: regex pre-split, then rank-ordered merges within each piece.
// The ranks come from js-tiktoken's o200k_base table. js-tiktoken's own Tiktoken merges each
// piece with an O(n^2) rescan per merge (a 16k-letter run takes ~17 s, blocking the event loop),
// so the merge here is the same algorithm (lowest rank first, leftmost on ties, as tiktoken's
// _byte_pair_merge) run over a heap: O(n log n), token-for-token identical output.
import o200kBase from 'js-tiktoken/ranks/o200k_base';

// o200k_harmony's split pattern (openai/harmony src/tiktoken_ext/public_encodings.rs) in JS
// syntax. Rust's `\s` is \p{White_Space} (JS's `\s` adds U+FEFF and drops U+0085) and Rust's
// `(?i:'s)` also matches U+017F (long s), so both are spelled out to split exactly as tiktoken.
const CONTRACTION = "(?:'[sS\u017F]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?";
const UPPERISH = '[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]';
const LOWERISH = '[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]';
const SPLIT_PATTERN = [
  `[^\\r\\n\\p{L}\\p{N}]?${UPPERISH}*${LOWERISH}+${CONTRACTION}`,
  `[^\\r\\n\\p{L}\\p{N}]?${UPPERISH}+${LOWERISH}*${CONTRACTION}`,
  '\\p{N}{1,3}',
  ' ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n/]*',
  '\\p{White_Space}*[\\r\\n]+',
  '\\p{White_Space}+(?!\\P{White_Space})',
  '\\p{White_Space}+',
].join('|');

// Heap entries pack (rank, start) into one double: rank < 2^18, start < 2^32, so exact below 2^53.
const START_SPAN = 2 ** 32;

export class BytePairEncoder {
  private readonly splitter = new RegExp(SPLIT_PATTERN, 'gu');
  // Token bytes as latin1 strings (one char per byte): compact keys, shared by both tables.
  private readonly rankByBytes = new Map<string, number>();
  private readonly bytesById: string[] = [];

  /** `bpeRanks` in js-tiktoken's packed format: lines of `<tag> <first rank> <base64 token>...`. */
  constructor(bpeRanks: string) {
    for (const line of bpeRanks.split('\n')) {
      if (line.length === 0) continue;
      const fields = line.split(' ');
      const first = Number.parseInt(fields[1] ?? '', 10);
      if (!Number.isInteger(first)) throw new Error(`bad rank table line starting ${line.slice(0, 40)}`);
      for (let i = 2; i < fields.length; i++) {
        const bytes = Buffer.from(fields[i]!, 'base64').toString('latin1');
        const rank = first + i - 2;
        this.rankByBytes.set(bytes, rank);
        this.bytesById[rank] = bytes;
      }
    }
    for (let id = 0; id < this.bytesById.length; id++) {
      if (this.bytesById[id] === undefined) throw new Error(`rank table has no token ${id}`);
    }
  }

  static fromO200kBase(): BytePairEncoder {
    return new BytePairEncoder(o200kBase.bpe_ranks);
  }

  /** Number of ranks (ids 0..size-1). */
  get size(): number {
    return this.bytesById.length;
  }

  /** The token's bytes as a latin1 string, or undefined past the table. */
  tokenLatin1(id: number): string | undefined {
    return this.bytesById[id];
  }

  encodeOrdinary(text: string): number[] {
    const out: number[] = [];
    for (const match of text.matchAll(this.splitter)) {
      const piece = Buffer.from(match[0], 'utf8').toString('latin1');
      const rank = this.rankByBytes.get(piece);
      if (rank !== undefined) out.push(rank);
      else this.mergeInto(piece, out);
    }
    return out;
  }

  private mergeInto(piece: string, out: number[]): void {
    const n = piece.length;
    // Parts form a linked list of byte offsets; pairRank[i] is the rank of part i joined with the
    // part after it (Infinity when no such token, or when i is no longer a part start).
    const next = new Int32Array(n + 1);
    const prev = new Int32Array(n + 1);
    for (let i = 0; i <= n; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    const pairRank = new Float64Array(n).fill(Infinity);
    const heap: number[] = [];
    const schedule = (i: number): void => {
      const j = next[i]!;
      const rank = j >= n ? undefined : this.rankByBytes.get(piece.slice(i, next[j]!));
      pairRank[i] = rank ?? Infinity;
      if (rank !== undefined) heapPush(heap, rank * START_SPAN + i);
    };
    for (let i = 0; i < n - 1; i++) schedule(i);
    while (heap.length > 0) {
      const top = heapPop(heap);
      const rank = Math.floor(top / START_SPAN);
      const i = top - rank * START_SPAN;
      if (pairRank[i] !== rank) continue; // stale entry: the pair changed since it was queued
      const j = next[i]!;
      const k = next[j]!;
      next[i] = k;
      prev[k] = i;
      pairRank[j] = Infinity;
      schedule(i);
      if (prev[i]! >= 0) schedule(prev[i]!);
    }
    for (let i = 0; i < n; i = next[i]!) out.push(this.rankByBytes.get(piece.slice(i, next[i]))!);
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]! < heap[left]! ? right : left;
      if (heap[child]! >= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
  return top;
}
