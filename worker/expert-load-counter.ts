// Tokens this worker served per expert slot over a sliding window, published with each heartbeat
// (ExpertLoadReport). Because every coordinator's dispatches land here, the placement leader that
// sums the workers' reports sees the whole cluster's load, not only its own traffic.
import { ConfigError } from '../common/errors.js';

export interface ExpertLoadCounterOptions {
  /** Milliseconds of counts a report covers. Default 10000. */
  readonly windowMs: number;
  /** Time buckets the window is kept in (counts age out one bucket at a time). Default 10. */
  readonly buckets: number;
}

export const EXPERT_LOAD_COUNTER_DEFAULTS = { windowMs: 10_000, buckets: 10 } as const;

export function parseExpertLoadCounterOptions(raw: Partial<ExpertLoadCounterOptions>): ExpertLoadCounterOptions {
  const o = { ...EXPERT_LOAD_COUNTER_DEFAULTS, ...raw };
  for (const field of ['windowMs', 'buckets'] as const) {
    if (!Number.isSafeInteger(o[field]) || o[field] <= 0) throw new ConfigError(`${field} must be a positive integer, got ${o[field]}`, field);
  }
  return o;
}

export class ExpertLoadCounter {
  readonly options: ExpertLoadCounterOptions;
  private readonly ring: { startMs: number; counts: Map<number, number> }[] = [];
  private readonly width: number;

  constructor(
    private readonly numExperts: number,
    options: Partial<ExpertLoadCounterOptions> = {},
    private readonly startedAtMs = Date.now(),
  ) {
    this.options = parseExpertLoadCounterOptions(options);
    this.width = Math.max(1, Math.ceil(this.options.windowMs / this.options.buckets));
  }

  /** Counts one request's (token, expert) pairs of `layer`. */
  add(layer: number, experts: ArrayLike<number>, nowMs = Date.now()): void {
    if (experts.length === 0) return;
    const startMs = Math.floor(nowMs / this.width) * this.width;
    let bucket = this.ring[this.ring.length - 1];
    if (!bucket || bucket.startMs < startMs) {
      bucket = { startMs, counts: new Map() };
      this.ring.push(bucket);
      this.expire(nowMs);
    }
    for (let i = 0; i < experts.length; i++) {
      const slot = layer * this.numExperts + experts[i]!;
      bucket.counts.set(slot, (bucket.counts.get(slot) ?? 0) + 1);
    }
  }

  /** Tokens per slot over the window (ascending slots), or null when nothing was served in it. */
  report(nowMs = Date.now()): { windowMs: number; slots: number[]; tokens: number[] } | null {
    this.expire(nowMs);
    const sum = new Map<number, number>();
    for (const b of this.ring) for (const [s, n] of b.counts) sum.set(s, (sum.get(s) ?? 0) + n);
    if (sum.size === 0) return null;
    const slots = [...sum.keys()].sort((a, b) => a - b);
    // A worker younger than the window reports the time it has been counting.
    const windowMs = Math.max(1, Math.min(this.options.windowMs, nowMs - this.startedAtMs));
    return { windowMs, slots, tokens: slots.map((s) => sum.get(s)!) };
  }

  private expire(nowMs: number): void {
    while (this.ring.length > 0 && this.ring[0]!.startMs + this.width <= nowMs - this.options.windowMs) this.ring.shift();
  }
}
