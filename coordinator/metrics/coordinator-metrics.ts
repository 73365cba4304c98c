// The coordinator's Prometheus metrics (GET /metrics), on a prom-client Registry of its own (never
// the global one, so several coordinators in one process — tests — do not collide).
//
// vLLM v1 names (label `model_name`) where the meaning is the same, so vLLM dashboards work:
//   vllm:num_requests_running / vllm:num_requests_waiting   gauges, Scheduler.load at scrape
//   vllm:time_to_first_token_seconds                         histogram, generate() → first token
//   vllm:inter_token_latency_seconds                         histogram, between a request's tokens
//   vllm:time_per_output_token_seconds                       same observations (older vLLM name)
//   vllm:e2e_request_latency_seconds                         histogram, generate() → finish
//   vllm:request_queue_time_seconds                          histogram, generate() → admitted
//   vllm:prompt_tokens_total / vllm:generation_tokens_total  counters, per finished request
//   vllm:request_success_total{finished_reason}              counter (stop, length, abort)
//   vllm:kv_cache_usage_perc                                 gauge: fraction (0..1) of the
//       scheduler's batch slots (maxBatchSize) in use. Each running sequence owns its own KV cache
//       and there is no shared block pool, so batch-slot occupancy is this cluster's KV capacity.
//
// The cluster's own (prefix gptoss_):
//   gptoss_expert_tokens_total{layer,expert}       token-expert assignments the forward pass routed
//   gptoss_scheduler_step_tokens_total             tokens the forward steps processed
//   gptoss_expert_dispatch_seconds{worker}         histogram, one gRPC dispatch to a worker
//   gptoss_worker_heartbeat_age_seconds{worker}    gauge at scrape: now − last message from it
//   gptoss_placement_changes_total                 placement records published
//   gptoss_live_workers                            gauge
//   gptoss_expert_slots_unheld                     gauge: layer×expert slots with no live holder
//   gptoss_expert_slots_underreplicated            gauge: slots with fewer serving holders than the
//                                                  replication factor
//   gptoss_placement_leader                        gauge: 1 while this coordinator holds the
//                                                  placement lease (the one placement writer), else 0
//   gptoss_placement_revision                      gauge: KV revision of the placement record as
//                                                  this coordinator last read or wrote it
//   gptoss_worker_load_seconds{worker}             gauge: seconds from the worker process's start
//       until it first held every slot assigned to it (from its heartbeat; absent until then)
//   gptoss_worker_slots_loading{worker}            gauge: assigned slots the worker is still loading
//   gptoss_rereplication_experts_per_second        gauge: slots a dead worker alone held, over the
//       seconds until live workers held them all again (the last such episode)
//   gptoss_rereplication_seconds                   gauge: that episode's duration
//   gptoss_experts_awaiting_rereplication          gauge: lost slots not yet held again
//   gptoss_experts_rereplicated_total              counter: slots held again over all episodes
//   gptoss_session_lookups_total / _hits_total / _misses_total, gptoss_session_blocks_written_total,
//   gptoss_session_blocks_evicted_total, gptoss_session_unavailable_total   (Redis session store)
//   gptoss_http_requests_total{method,route,status}, gptoss_http_requests_in_flight,
//   gptoss_prompt_tokens_total, gptoss_cached_prompt_tokens_total, gptoss_completion_tokens_total
//       the series the HTTP server's default /metrics exported (coordinator/api/metrics.ts), kept
//       under the same names; the request counters come from Fastify hooks (instrumentHttp), the
//       token counters from the scheduler's finished requests.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LayerRouting } from '../../common/experts/expert-backend.js';
import type { RequestEvent } from '../engine-core/scheduler.js';
import type { KvSessionStats } from '../session/session-store.js';
import type { RereplicationFigures } from '../control-plane/rereplication.js';

/** Latency buckets (seconds) of vLLM's histograms. */
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
const DISPATCH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the scrape-time gauges read; each part is optional (attached once it exists). */
export interface MetricsSources {
  readonly load?: () => { running: number; waiting: number };
  readonly maxBatchSize?: number;
  readonly workers?: () => readonly { workerId: string; lastSeenMs: number; loadedInMs?: number; loadingSlots?: number }[];
  readonly rereplication?: () => RereplicationFigures;
  readonly unheldSlots?: () => number;
  readonly underreplicatedSlots?: () => number;
  readonly placementLeader?: () => boolean;
  readonly placementRevision?: () => number;
  readonly sessionStats?: () => KvSessionStats;
}

export class CoordinatorMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources = {};
  private readonly model: { model_name: string };

  private readonly ttft: Histogram<'model_name'>;
  private readonly itl: Histogram<'model_name'>;
  private readonly tpot: Histogram<'model_name'>;
  private readonly e2e: Histogram<'model_name'>;
  private readonly queueTime: Histogram<'model_name'>;
  private readonly promptTokens: Counter<'model_name'>;
  private readonly generationTokens: Counter<'model_name'>;
  private readonly success: Counter<'model_name' | 'finished_reason'>;
  private readonly expertTokens: Counter<'layer' | 'expert'>;
  private readonly stepTokens: Counter;
  private readonly dispatch: Histogram<'worker'>;
  private readonly placementChanges: Counter;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly legacyPrompt: Counter;
  private readonly legacyCached: Counter;
  private readonly legacyCompletion: Counter;
  private httpInFlight = 0;

  constructor(modelName: string) {
    this.model = { model_name: modelName };
    const registers = [this.registry];
    const labelNames = ['model_name'] as const;
    const self = this;

    new Gauge({
      name: 'vllm:num_requests_running',
      help: 'Number of requests in the model execution batch.',
      labelNames,
      registers,
      collect() {
        this.set(self.model, self.sources.load?.().running ?? 0);
      },
    });
    new Gauge({
      name: 'vllm:num_requests_waiting',
      help: 'Number of requests waiting to be processed.',
      labelNames,
      registers,
      collect() {
        this.set(self.model, self.sources.load?.().waiting ?? 0);
      },
    });
    new Gauge({
      name: 'vllm:kv_cache_usage_perc',
      help: 'KV-cache usage: fraction (0..1) of the scheduler batch slots (max batch size) held by running sequences, each of which owns its KV cache.',
      labelNames,
      registers,
      collect() {
        const max = self.sources.maxBatchSize ?? 0;
        this.set(self.model, max > 0 ? (self.sources.load?.().running ?? 0) / max : 0);
      },
    });
    this.ttft = new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'Histogram of time to first token in seconds.', labelNames, buckets: TTFT_BUCKETS, registers });
    this.itl = new Histogram({ name: 'vllm:inter_token_latency_seconds', help: 'Histogram of inter-token latency in seconds.', labelNames, buckets: ITL_BUCKETS, registers });
    this.tpot = new Histogram({ name: 'vllm:time_per_output_token_seconds', help: 'Histogram of time per output token in seconds (same observations as inter_token_latency).', labelNames, buckets: ITL_BUCKETS, registers });
    this.e2e = new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'Histogram of end-to-end request latency in seconds.', labelNames, buckets: E2E_BUCKETS, registers });
    this.queueTime = new Histogram({ name: 'vllm:request_queue_time_seconds', help: 'Histogram of time spent waiting for a batch slot, in seconds.', labelNames, buckets: E2E_BUCKETS, registers });
    this.promptTokens = new Counter({ name: 'vllm:prompt_tokens_total', help: 'Number of prefill tokens processed.', labelNames, registers });
    this.generationTokens = new Counter({ name: 'vllm:generation_tokens_total', help: 'Number of generation tokens processed.', labelNames, registers });
    this.success = new Counter({ name: 'vllm:request_success_total', help: 'Count of successfully processed requests.', labelNames: ['model_name', 'finished_reason'], registers });

    this.expertTokens = new Counter({ name: 'gptoss_expert_tokens_total', help: 'Token-expert assignments routed to each MoE expert, per layer.', labelNames: ['layer', 'expert'], registers });
    this.stepTokens = new Counter({ name: 'gptoss_scheduler_step_tokens_total', help: 'Tokens processed by forward steps (prompt chunks and decode tokens).', registers });
    this.dispatch = new Histogram({ name: 'gptoss_expert_dispatch_seconds', help: 'Latency of one expert dispatch to a worker, in seconds.', labelNames: ['worker'], buckets: DISPATCH_BUCKETS, registers });
    new Gauge({
      name: 'gptoss_worker_heartbeat_age_seconds',
      help: 'Seconds since the last message from each live worker.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const w of self.sources.workers?.() ?? []) this.set({ worker: w.workerId }, Math.max(0, now - w.lastSeenMs) / 1000);
      },
    });
    new Gauge({
      name: 'gptoss_worker_load_seconds',
      help: 'Seconds from each worker process start until it first held every expert assigned to it.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of self.sources.workers?.() ?? []) if (w.loadedInMs !== undefined) this.set({ worker: w.workerId }, w.loadedInMs / 1000);
      },
    });
    new Gauge({
      name: 'gptoss_worker_slots_loading',
      help: 'Expert slots assigned to each worker that it is still loading.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of self.sources.workers?.() ?? []) if (w.loadingSlots !== undefined) this.set({ worker: w.workerId }, w.loadingSlots);
      },
    });
    const rereplication = (name: string, help: string, read: (f: RereplicationFigures) => number | undefined): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.reset();
          const f = self.sources.rereplication?.();
          const v = f ? read(f) : undefined;
          if (v !== undefined) this.set(v);
        },
      });
    };
    rereplication('gptoss_rereplication_experts_per_second', 'Expert slots lost with a dead worker per second until held again (last episode).', (f) => f.last?.perSecond);
    rereplication('gptoss_rereplication_seconds', 'Seconds until every slot lost with a dead worker was held again (last episode).', (f) => f.last?.seconds);
    rereplication('gptoss_experts_awaiting_rereplication', 'Expert slots lost with a dead worker and not yet held again.', (f) => f.awaiting);
    new Counter({
      name: 'gptoss_experts_rereplicated_total',
      help: 'Expert slots held again after the worker that alone held them died.',
      registers,
      collect() {
        this.reset();
        this.inc(self.sources.rereplication?.().rereplicatedTotal ?? 0);
      },
    });
    this.placementChanges = new Counter({ name: 'gptoss_placement_changes_total', help: 'Expert placements published by this coordinator.', registers });
    new Gauge({
      name: 'gptoss_live_workers',
      help: 'Expert workers currently live.',
      registers,
      collect() {
        this.set(self.sources.workers?.().length ?? 0);
      },
    });
    new Gauge({
      name: 'gptoss_expert_slots_unheld',
      help: 'Layer-expert slots with no live worker holding them.',
      registers,
      collect() {
        this.set(self.sources.unheldSlots?.() ?? 0);
      },
    });
    new Gauge({
      name: 'gptoss_expert_slots_underreplicated',
      help: 'Layer-expert slots with fewer live serving holders than the replication factor.',
      registers,
      collect() {
        this.set(self.sources.underreplicatedSlots?.() ?? 0);
      },
    });
    new Gauge({
      name: 'gptoss_placement_leader',
      help: '1 while this coordinator holds the placement lease (writes the placement), else 0.',
      registers,
      collect() {
        this.set(self.sources.placementLeader?.() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'gptoss_placement_revision',
      help: 'KV revision of the placement record as this coordinator last read or wrote it.',
      registers,
      collect() {
        this.set(self.sources.placementRevision?.() ?? 0);
      },
    });
    const session = (name: string, help: string, read: (s: KvSessionStats) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          const s = self.sources.sessionStats?.();
          this.reset();
          if (s) this.inc(read(s));
        },
      });
    };
    session('gptoss_session_lookups_total', 'Session KV prefix lookups in Redis.', (s) => s.lookups);
    session('gptoss_session_hits_total', 'Session KV lookups that matched at least one block.', (s) => s.lookupHits);
    session('gptoss_session_misses_total', 'Session KV lookups that matched no block.', (s) => s.lookups - s.lookupHits);
    session('gptoss_session_matched_tokens_total', 'Prompt tokens matched by session KV lookups.', (s) => s.matchedTokens);
    session('gptoss_session_blocks_written_total', 'Session KV blocks written to Redis.', (s) => s.blocksWritten);
    session('gptoss_session_blocks_evicted_total', 'Session KV blocks evicted to keep the memory budget.', (s) => s.blocksEvicted);
    session('gptoss_session_blocks_rejected_total', 'Session KV blocks found but rejected by the codec.', (s) => s.blocksRejected);
    session('gptoss_session_unavailable_total', 'Session store operations answered as a miss because Redis was unreachable.', (s) => s.unavailable);

    this.httpRequests = new Counter({ name: 'gptoss_http_requests_total', help: 'HTTP requests answered, by method, route and status.', labelNames: ['method', 'route', 'status'], registers });
    new Gauge({
      name: 'gptoss_http_requests_in_flight',
      help: 'HTTP requests being answered.',
      registers,
      collect() {
        this.set(self.httpInFlight);
      },
    });
    this.legacyPrompt = new Counter({ name: 'gptoss_prompt_tokens_total', help: 'Prompt tokens of finished generations.', registers });
    this.legacyCached = new Counter({ name: 'gptoss_cached_prompt_tokens_total', help: 'Prompt tokens whose KV came from the session store.', registers });
    this.legacyCompletion = new Counter({ name: 'gptoss_completion_tokens_total', help: 'Tokens generated.', registers });
  }

  /** Adds (or replaces) what the scrape-time gauges read. */
  attach(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** The Scheduler's onRequestEvent. */
  readonly onRequestEvent = (e: RequestEvent): void => {
    switch (e.type) {
      case 'first_token':
        this.ttft.observe(this.model, e.sinceArrivalMs / 1000);
        this.queueTime.observe(this.model, e.queuedMs / 1000);
        break;
      case 'token':
        this.itl.observe(this.model, e.sinceLastTokenMs / 1000);
        this.tpot.observe(this.model, e.sinceLastTokenMs / 1000);
        break;
      case 'finished':
        this.e2e.observe(this.model, e.sinceArrivalMs / 1000);
        this.promptTokens.inc(this.model, e.promptTokens);
        this.generationTokens.inc(this.model, e.completionTokens);
        this.success.inc({ ...this.model, finished_reason: e.reason });
        this.legacyPrompt.inc(e.promptTokens);
        this.legacyCached.inc(e.cachedPromptTokens);
        this.legacyCompletion.inc(e.completionTokens);
        break;
      case 'failed':
        this.e2e.observe(this.model, e.sinceArrivalMs / 1000);
        break;
    }
  };

  /** The Scheduler's onStep. */
  readonly onStep = (stats: { tokens: number }): void => {
    this.stepTokens.inc(stats.tokens);
  };

  /** ClusterExperts' onDispatch. */
  readonly onDispatch = (workerId: string, ms: number): void => {
    this.dispatch.observe({ worker: workerId }, ms / 1000);
  };

  /** Count of a PlacementManager 'placement' event. */
  readonly onPlacement = (): void => {
    this.placementChanges.inc();
  };

  /** Tokens per expert per layer, from each layer's routing (ClusterExperts.observeRouting). */
  readonly onRouting = (layer: number, routing: LayerRouting): void => {
    const counts = new Map<number, number>();
    for (const e of routing.experts) counts.set(e, (counts.get(e) ?? 0) + 1);
    const l = String(layer);
    for (const [expert, n] of counts) this.expertTokens.inc({ layer: l, expert: String(expert) }, n);
  };

  /** Counts HTTP requests like the server's own default metrics did; call before listen(). */
  instrumentHttp(app: FastifyInstance): void {
    app.addHook('onRequest', async (request, reply) => {
      this.httpInFlight++;
      reply.raw.once('close', () => {
        this.httpInFlight--;
        this.httpRequests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.raw.statusCode) });
      });
    });
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
