// An EngineClient over the single-process Engine for HTTP tests: one sequence at a time, each step
// a ForwardPass.step of that sequence alone, sampled with the real Sampler. It validates like the
// continuous-batching scheduler (empty prompt, ids outside the vocabulary, context overflow), which
// replaces it in production.
import { InvalidRequestError } from '../../common/errors.js';
import type { Engine } from '../../common/engine/engine.js';
import { Sampler } from '../../common/engine/sampler.js';
import type { EngineClient, FinishReason, GenerationEvent, GenerationParams, HealthReport } from '../../coordinator/serving/engine-client.js';

export interface SequentialEngineClientOptions {
  readonly modelId: string;
  /** Default: the checkpoint's max_position_embeddings. */
  readonly contextLength?: number;
}

export class SequentialEngineClient implements EngineClient {
  readonly modelId: string;
  readonly contextLength: number;
  /** Tests flip it to see /health answer 503. */
  ready = true;
  /** Generations started (to check that a request was refused before reaching the engine). */
  started = 0;
  /** How each generation ended, in order (to check that a disconnect aborted one). */
  readonly finished: Array<{ readonly finishReason: FinishReason; readonly completionTokens: number }> = [];
  private turn: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: Engine,
    options: SequentialEngineClientOptions,
  ) {
    this.modelId = options.modelId;
    this.contextLength = options.contextLength ?? engine.config.maxPositionEmbeddings;
  }

  get vocabSize(): number {
    return this.engine.config.vocabSize;
  }

  generate(params: GenerationParams): AsyncIterable<GenerationEvent> {
    const n = params.promptIds.length;
    if (n === 0) throw new InvalidRequestError('the prompt is empty', 'prompt');
    for (const id of params.promptIds) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new InvalidRequestError(`token id ${id} is outside the vocabulary`, 'prompt');
    }
    if (n + params.maxTokens > this.contextLength) {
      throw new InvalidRequestError(`the prompt (${n}) plus max tokens (${params.maxTokens}) exceed the context of ${this.contextLength}`, 'max_tokens', 'context_length_exceeded');
    }
    this.started++;
    return this.run(params);
  }

  health(): HealthReport {
    return { ready: this.ready, checks: { engine: { ok: this.ready, detail: 'single-process test engine' } } };
  }

  /** Waits for the sequences before this one; the returned function lets the next one go. */
  private async acquire(): Promise<() => void> {
    const previous = this.turn;
    let release!: () => void;
    this.turn = new Promise((resolve) => (release = resolve));
    await previous;
    return release;
  }

  private async *run(params: GenerationParams): AsyncGenerator<GenerationEvent> {
    const release = await this.acquire();
    let generated = 0;
    // Stays 'abort' when the consumer stops iterating (it went away) before the end.
    let finish: FinishReason = 'abort';
    try {
      const sampler = new Sampler(params.sampling);
      const cache = this.engine.newCache();
      let tokens = [...params.promptIds];
      while (!params.signal?.aborted) {
        const [logits] = await this.engine.forward.step([{ cache, tokens, wantLogits: true }]);
        const token = sampler.sample(logits!);
        generated++;
        tokens = [token.id];
        const last = params.stopTokenIds.includes(token.id) ? 'stop' : generated >= params.maxTokens ? 'length' : null;
        yield { type: 'token', token };
        if (last !== null) {
          finish = last;
          break;
        }
      }
      yield { type: 'done', finishReason: finish, promptTokens: params.promptIds.length, completionTokens: generated, cachedPromptTokens: 0 };
    } finally {
      this.finished.push({ finishReason: finish, completionTokens: generated });
      release();
    }
  }
}
