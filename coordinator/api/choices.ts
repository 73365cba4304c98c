// The n choices of one request: each its own generation (own seed, own grammar state, own abort
// for its stop strings), all in one prefill group so the prompt is computed once.
import type { LogitsProcessor } from '../../common/engine/logits-processors.js';
import type { EngineClient, GenerationEvent, GenerationParams } from '../engine-core/engine-client.js';
import { samplingParams, startGeneration } from './generation.js';
import type { SamplingRequest, Usage } from './protocol.js';

export interface Choice {
  readonly index: number;
  readonly events: AsyncIterable<GenerationEvent>;
  /** Aborted by the request's own abort, or by this choice's stop string. */
  readonly abort: AbortController;
}

export interface ChoicesRequest {
  readonly requestId: string;
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingRequest;
  readonly topLogprobs: number;
  readonly stopTokenIds: readonly number[];
  readonly processors: () => LogitsProcessor[];
}

/** Starts every choice; if one cannot start, the others are aborted and the error is thrown. */
export async function startChoices(engine: EngineClient, req: ChoicesRequest, abort: AbortController): Promise<Choice[]> {
  const prefillGroup = {};
  const aborts = Array.from({ length: req.sampling.n }, () => new AbortController());
  const abortAll = (): void => aborts.forEach((a) => a.abort());
  if (abort.signal.aborted) abortAll();
  else abort.signal.addEventListener('abort', abortAll, { once: true });
  const started = await Promise.allSettled(
    aborts.map((choiceAbort, index) => {
      const params: GenerationParams = {
        requestId: req.sampling.n === 1 ? req.requestId : `${req.requestId}-${index}`,
        promptIds: req.promptIds,
        maxTokens: req.maxTokens,
        sampling: samplingParams(req.sampling, req.topLogprobs, index),
        stopTokenIds: req.stopTokenIds,
        logitsProcessors: req.processors(),
        prefillGroup,
        signal: choiceAbort.signal,
      };
      return startGeneration(engine, params);
    }),
  );
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    abortAll();
    throw failed.reason;
  }
  return started.map((r, index) => ({ index, events: (r as PromiseFulfilledResult<AsyncIterable<GenerationEvent>>).value, abort: aborts[index]! }));
}

/** One usage for the request: the prompt counted once, the choices' completions added up. */
export function totalUsage(usages: readonly Usage[]): Usage {
  const first = usages[0]!;
  const completion = usages.reduce((s, u) => s + u.completion_tokens, 0);
  return { prompt_tokens: first.prompt_tokens, completion_tokens: completion, total_tokens: first.prompt_tokens + completion, prompt_tokens_details: first.prompt_tokens_details };
}

/** Interleaves the streams as their items arrive. */
export async function* merge<T>(streams: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = streams.map((s) => s[Symbol.asyncIterator]());
  const next = (i: number): Promise<{ i: number; r: IteratorResult<T> }> => iterators[i]!.next().then((r) => ({ i, r }));
  const pending = new Map(iterators.map((_, i) => [i, next(i)]));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) pending.delete(i);
      else {
        pending.set(i, next(i));
        yield r.value;
      }
    }
  } finally {
    // A consumer that stopped early (the client left) ends the unfinished streams; not awaited,
    // since a stream's return waits for its pending next.
    for (const i of pending.keys()) void iterators[i]!.return?.()?.catch(() => undefined);
  }
}
