// The interface the HTTP layer talks to (vLLM's EngineClient): generate a stream of tokens, abort by
// signal, check health. The continuous-batching scheduler implements it over the ForwardPass.
import type { LogitsProcessor } from '../../common/engine/logits-processors.js';
import type { SampledToken, SamplingParams } from '../../common/engine/sampler.js';

export interface GenerationParams {
  readonly requestId: string;
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  /** Generation ends after emitting one of these (the token itself is emitted). */
  readonly stopTokenIds: readonly number[];
  /** This sequence's own logits processors (penalties, bias, top_k, min_p, grammar masks), applied
   *  in order before each sample. */
  readonly logitsProcessors?: readonly LogitsProcessor[];
  /** Generations started with the same object and the same prompt share one prefill (the n
   *  choices of one request). */
  readonly prefillGroup?: object;
  /** Aborting drops the request from the batch at the next step boundary. */
  readonly signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export type GenerationEvent =
  | { readonly type: 'token'; readonly token: SampledToken }
  | {
      readonly type: 'done';
      readonly finishReason: FinishReason;
      readonly promptTokens: number;
      readonly completionTokens: number;
      /** Prompt tokens whose KV came from the session store instead of being recomputed. */
      readonly cachedPromptTokens: number;
    };

export interface HealthReport {
  /** Ready to serve: every expert is held by a live worker. */
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, { ok: boolean; detail?: string }>>;
}

export interface EngineClient {
  readonly modelId: string;
  /** Prompt plus completion tokens must fit in this. */
  readonly contextLength: number;
  readonly vocabSize: number;
  /**
   * Starts a generation. Validation errors (InvalidRequestError) and a full queue (QueueFullError)
   * are thrown before the first event; an expert with no live holder ends the stream with
   * ExpertUnavailableError.
   */
  generate(params: GenerationParams): AsyncIterable<GenerationEvent>;
  health(): HealthReport;
}
