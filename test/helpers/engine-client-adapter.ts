// Wraps the real continuous-batching Scheduler (single-process engine) for HTTP tests, recording
// what reached it: generations started, how each ended, and a readiness switch for /health.
import type { Engine } from '../../common/engine/engine.js';
import type { EngineClient, FinishReason, GenerationEvent, GenerationParams, HealthReport } from '../../coordinator/engine-core/engine-client.js';
import { Scheduler } from '../../coordinator/engine-core/scheduler.js';

export interface ObservedEngineClientOptions {
  readonly modelId: string;
  /** Default: the checkpoint's max_position_embeddings. */
  readonly contextLength?: number;
}

export class ObservedEngineClient implements EngineClient {
  /** Tests flip it to see /health answer 503. */
  ready = true;
  /** Generations the scheduler accepted. */
  started = 0;
  /** How each generation ended, in order. */
  readonly finished: Array<{ readonly finishReason: FinishReason; readonly completionTokens: number }> = [];
  private readonly scheduler: Scheduler;

  constructor(engine: Engine, options: ObservedEngineClientOptions) {
    this.scheduler = new Scheduler(engine.forward, () => engine.newCache(), {
      modelId: options.modelId,
      contextLength: options.contextLength ?? engine.config.maxPositionEmbeddings,
      healthChecks: () => ({ engine: { ok: this.ready, detail: 'single-process test engine' } }),
    });
  }

  get modelId(): string {
    return this.scheduler.modelId;
  }

  get contextLength(): number {
    return this.scheduler.contextLength;
  }

  get vocabSize(): number {
    return this.scheduler.vocabSize;
  }

  generate(params: GenerationParams): AsyncIterable<GenerationEvent> {
    const events = this.scheduler.generate(params);
    this.started++;
    return this.observe(events);
  }

  private async *observe(events: AsyncIterable<GenerationEvent>): AsyncGenerator<GenerationEvent> {
    for await (const e of events) {
      if (e.type === 'done') this.finished.push({ finishReason: e.finishReason, completionTokens: e.completionTokens });
      yield e;
    }
  }

  health(): HealthReport {
    return this.scheduler.health();
  }
}
