// Per-expert token counts and a short throughput / latency history for the dashboard. It counts by
// wrapping the expert backend's runLayer (the routing says which experts each token went to), so
// nothing else in the coordinator changes.
import type { ExpertBackend, LayerRouting } from '../../common/experts/expert-backend.js';

export interface HistoryPoint {
  /** End of the sample interval (epoch ms). */
  readonly t: number;
  /** Tokens through the MoE layers per second (counted once per forward, at layer 0). */
  readonly tokensPerSec: number;
  /** Mean runLayer latency in the interval (ms), null when there were none. */
  readonly latencyMs: number | null;
  /** runLayer calls in the interval. */
  readonly layerCalls: number;
}

export interface DashboardStatsOptions {
  readonly numLayers: number;
  readonly numExperts: number;
  /** Ring buffer length (samples). Default 120. */
  readonly historyLength?: number;
  /** Sample interval in ms. Default 1000. */
  readonly sampleMs?: number;
}

export class DashboardStats {
  readonly numLayers: number;
  readonly numExperts: number;
  /** [numLayers * numExperts] token-expert assignments since start. */
  readonly tokens: Float64Array;
  private readonly ring: (HistoryPoint | undefined)[];
  private head = 0;
  private size = 0;
  private intervalTokens = 0;
  private intervalCalls = 0;
  private intervalMs = 0;
  private totalTokens = 0;
  private totalCalls = 0;
  private lastSample = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(o: DashboardStatsOptions) {
    this.numLayers = o.numLayers;
    this.numExperts = o.numExperts;
    this.tokens = new Float64Array(o.numLayers * o.numExperts);
    this.ring = new Array<HistoryPoint | undefined>(Math.max(1, o.historyLength ?? 120));
    const every = o.sampleMs ?? 1000;
    this.timer = setInterval(() => this.sample(), every);
    this.timer.unref();
  }

  /** Wrap `backend.runLayer` in place so every dispatch is counted. Idempotent per backend. */
  attach(backend: ExpertBackend): void {
    const marked = backend as ExpertBackend & { __dashboardStats?: DashboardStats };
    if (marked.__dashboardStats) return;
    marked.__dashboardStats = this;
    const inner = backend.runLayer.bind(backend);
    backend.runLayer = async (layer: number, hidden: Float32Array, routing: LayerRouting): Promise<Float32Array> => {
      const t0 = performance.now();
      try {
        return await inner(layer, hidden, routing);
      } finally {
        this.record(layer, routing, performance.now() - t0);
      }
    };
  }

  record(layer: number, routing: LayerRouting, ms: number): void {
    if (layer >= 0 && layer < this.numLayers) {
      const base = layer * this.numExperts;
      for (const e of routing.experts) if (e >= 0 && e < this.numExperts) this.tokens[base + e]! += 1;
    }
    if (layer === 0) {
      this.intervalTokens += routing.tokenCount;
      this.totalTokens += routing.tokenCount;
    }
    this.intervalCalls += 1;
    this.totalCalls += 1;
    this.intervalMs += ms;
  }

  /** Close the current interval into the ring buffer. */
  sample(now = Date.now()): void {
    const dt = Math.max(1, now - this.lastSample);
    this.lastSample = now;
    this.ring[this.head] = {
      t: now,
      tokensPerSec: (this.intervalTokens * 1000) / dt,
      latencyMs: this.intervalCalls > 0 ? this.intervalMs / this.intervalCalls : null,
      layerCalls: this.intervalCalls,
    };
    this.head = (this.head + 1) % this.ring.length;
    this.size = Math.min(this.size + 1, this.ring.length);
    this.intervalTokens = 0;
    this.intervalCalls = 0;
    this.intervalMs = 0;
  }

  /** Oldest first. */
  history(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    const n = this.ring.length;
    for (let i = 0; i < this.size; i++) out.push(this.ring[(this.head - this.size + i + n) % n]!);
    return out;
  }

  totals(): { tokens: number; layerCalls: number } {
    return { tokens: this.totalTokens, layerCalls: this.totalCalls };
  }

  /** tokens as layers × experts rows. */
  tokenGrid(): number[][] {
    return Array.from({ length: this.numLayers }, (_, l) => Array.from(this.tokens.subarray(l * this.numExperts, (l + 1) * this.numExperts)));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
