// Logits processors: per-sequence adjustments made in place on the fp32 logits before the Sampler
// sees them (vLLM's order: allowed-token masks, logit_bias, penalties, then the candidate-set
// restrictions top_k and min_p, which exclude tokens by setting their logits to -Infinity). Kept out
// of the Sampler so that a request without any of them samples exactly as before.

/** What a sequence has produced so far, for the penalties. */
export class TokenHistory {
  /** Generated token -> times generated (a Map: few distinct ids, never a pass over the vocab). */
  readonly outputCounts = new Map<number, number>();
  private readonly promptSet: ReadonlySet<number>;

  constructor(readonly promptIds: readonly number[]) {
    this.promptSet = new Set(promptIds);
  }

  accept(token: number): void {
    this.outputCounts.set(token, (this.outputCounts.get(token) ?? 0) + 1);
  }

  /** Ids in the prompt or the output (repetition_penalty's set). */
  *seen(): Iterable<number> {
    yield* this.promptSet;
    for (const id of this.outputCounts.keys()) if (!this.promptSet.has(id)) yield id;
  }
}

export interface LogitsProcessor {
  /** Work that must finish before apply (a grammar's next-token mask); awaited between steps. */
  prepare?(): Promise<void>;
  /** Adjusts the logits of the next token in place. */
  apply(logits: Float32Array, history: TokenHistory): void;
  /** Sees each sampled token (after every processor applied). */
  accept?(token: number): void;
  /** Frees what the processor holds outside the JS heap (a grammar matcher); called once at the end. */
  close?(): void;
}

/** A sequence's processors with its history; the scheduler's one object per sequence. */
export class LogitsPipeline {
  readonly history: TokenHistory;

  constructor(
    promptIds: readonly number[],
    private readonly processors: readonly LogitsProcessor[],
  ) {
    this.history = new TokenHistory(promptIds);
  }

  get empty(): boolean {
    return this.processors.length === 0;
  }

  async prepare(): Promise<void> {
    for (const p of this.processors) await p.prepare?.();
  }

  apply(logits: Float32Array): void {
    for (const p of this.processors) p.apply(logits, this.history);
  }

  accept(token: number): void {
    this.history.accept(token);
    for (const p of this.processors) p.accept?.(token);
  }

  close(): void {
    for (const p of this.processors) p.close?.();
  }
}

/** OpenAI's logit_bias: added to the logits of the given ids. */
export class LogitBiasProcessor implements LogitsProcessor {
  constructor(private readonly bias: ReadonlyMap<number, number>) {}

  apply(logits: Float32Array): void {
    for (const [id, b] of this.bias) if (id < logits.length) logits[id]! += b;
  }
}

export interface PenaltySettings {
  /** OpenAI's: subtracted once from every token already generated. */
  readonly presence: number;
  /** OpenAI's: subtracted per time a token was generated. */
  readonly frequency: number;
  /** vLLM's (1 = off): tokens in the prompt or the output have positive logits divided by it and
   *  negative ones multiplied by it. */
  readonly repetition: number;
}

export class PenaltyProcessor implements LogitsProcessor {
  constructor(private readonly s: PenaltySettings) {}

  apply(logits: Float32Array, history: TokenHistory): void {
    const r = this.s.repetition;
    if (r !== 1) {
      for (const id of history.seen()) {
        const v = logits[id]!;
        logits[id] = v > 0 ? v / r : v * r;
      }
    }
    if (this.s.presence !== 0 || this.s.frequency !== 0) {
      for (const [id, count] of history.outputCounts) logits[id]! -= this.s.frequency * count + this.s.presence;
    }
  }
}

/** Keeps the k largest logits (ties at the k-th value kept too). */
export class TopKProcessor implements LogitsProcessor {
  constructor(private readonly k: number) {}

  apply(logits: Float32Array): void {
    if (this.k >= logits.length) return;
    const threshold = kthLargest(logits, this.k);
    for (let i = 0; i < logits.length; i++) if (logits[i]! < threshold) logits[i] = -Infinity;
  }
}

/** vLLM's min_p: drops tokens whose probability (after temperature) is below minP times the most
 *  likely one's, i.e. logits below max + T ln(minP). Greedy sampling is unaffected. */
export class MinPProcessor implements LogitsProcessor {
  constructor(
    private readonly minP: number,
    private readonly temperature: number,
  ) {}

  apply(logits: Float32Array): void {
    if (this.temperature <= 0 || this.minP <= 0) return;
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
    const threshold = max + this.temperature * Math.log(this.minP);
    for (let i = 0; i < logits.length; i++) if (logits[i]! < threshold) logits[i] = -Infinity;
  }
}

/** Applies a bitmask over the vocabulary (bit i of word i>>5 set = token i allowed; xgrammar's
 *  layout): one pass over 32-bit words, whole words skipped when all 32 tokens are allowed. */
export function applyTokenBitmask(logits: Float32Array, mask: Int32Array): void {
  const n = logits.length;
  for (let w = 0; w < mask.length; w++) {
    const word = mask[w]!;
    if (word === -1) continue;
    const base = w << 5;
    const end = Math.min(base + 32, n);
    if (word === 0) {
      logits.fill(-Infinity, base, end);
      continue;
    }
    for (let i = base; i < end; i++) if (((word >>> (i - base)) & 1) === 0) logits[i] = -Infinity;
  }
  // Rows past the mask (a vocabulary padded beyond the tokenizer's) are never allowed.
  if (mask.length * 32 < n) logits.fill(-Infinity, mask.length * 32);
}

/** The k-th largest value: a size-k min-heap in one pass (most values lose to its root at once);
 *  a large k selects in place on a copy instead. Never a sort of the vocabulary. */
function kthLargest(logits: Float32Array, k: number): number {
  if (k > 4096) return select(Float32Array.from(logits), logits.length - k);
  const heap = new Float32Array(k);
  let size = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (size < k) {
      // Sift up.
      let j = size++;
      while (j > 0) {
        const parent = (j - 1) >> 1;
        if (heap[parent]! <= v) break;
        heap[j] = heap[parent]!;
        j = parent;
      }
      heap[j] = v;
    } else if (v > heap[0]!) {
      // Replace the root and sift down.
      let j = 0;
      for (;;) {
        const l = 2 * j + 1;
        if (l >= k) break;
        const c = l + 1 < k && heap[l + 1]! < heap[l]! ? l + 1 : l;
        if (heap[c]! >= v) break;
        heap[j] = heap[c]!;
        j = c;
      }
      heap[j] = v;
    }
  }
  return heap[0]!;
}

/** The value that would sit at index `target` if `a` were sorted ascending (Hoare's selection). */
function select(a: Float32Array, target: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

export interface LogitsSettings {
  readonly temperature: number;
  readonly presencePenalty?: number;
  readonly frequencyPenalty?: number;
  readonly repetitionPenalty?: number;
  readonly logitBias?: ReadonlyMap<number, number>;
  /** 0 or undefined = off. */
  readonly topK?: number;
  readonly minP?: number;
}

/** The processors a request's sampling settings need, in vLLM's order after any masks; none when
 *  every setting is neutral. */
export function samplingProcessors(s: LogitsSettings): LogitsProcessor[] {
  const out: LogitsProcessor[] = [];
  if (s.logitBias && s.logitBias.size > 0) out.push(new LogitBiasProcessor(s.logitBias));
  const penalties = { presence: s.presencePenalty ?? 0, frequency: s.frequencyPenalty ?? 0, repetition: s.repetitionPenalty ?? 1 };
  if (penalties.presence !== 0 || penalties.frequency !== 0 || penalties.repetition !== 1) out.push(new PenaltyProcessor(penalties));
  // Greedy picks the argmax, which top_k and min_p never remove.
  if (s.temperature > 0 && s.topK !== undefined && s.topK > 0) out.push(new TopKProcessor(s.topK));
  if (s.temperature > 0 && s.minP !== undefined && s.minP > 0) out.push(new MinPProcessor(s.minP, s.temperature));
  return out;
}
