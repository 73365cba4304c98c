// What every generating endpoint does around EngineClient.generate: fit the request into the
// context, start the generation and wait for its first event (so that a refusal, a full queue or a
// failing prefill still becomes an HTTP status, not a broken stream), and abort it when the client
// goes away.
import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { InvalidRequestError } from '../../common/errors.js';
import type { SamplingParams } from '../../common/engine/sampler.js';
import type { HarmonyTokenizer } from '../../common/harmony/index.js';
import type { EngineClient, GenerationEvent } from '../engine-core/engine-client.js';
import type { HttpMetrics } from './metrics.js';
import type { StructuredOutputs } from './structured-output.js';
import type { SamplingRequest, Usage } from './protocol.js';

/** max tokens for the request: the one asked for (which must fit), else the rest of the context. */
export function fitMaxTokens(promptTokens: number, requested: number | undefined, contextLength: number, promptParam: string, maxParam: string): number {
  const room = contextLength - promptTokens;
  if (room < 1) {
    throw new InvalidRequestError(
      `This model's maximum context length is ${contextLength} tokens. However, your ${promptParam} resulted in ${promptTokens} tokens. Please reduce the length of the ${promptParam}.`,
      promptParam,
      'context_length_exceeded',
    );
  }
  if (requested === undefined) return room;
  if (requested > room) {
    throw new InvalidRequestError(
      `This model's maximum context length is ${contextLength} tokens. However, you requested ${promptTokens + requested} tokens (${promptTokens} in the ${promptParam}, ${requested} for the completion). Please reduce the length of the ${promptParam} or ${maxParam}.`,
      maxParam,
      'context_length_exceeded',
    );
  }
  return requested;
}

/** The sampler's settings for choice `index` (its seed is the request's plus the index, as vLLM's
 *  parallel sampling, so each choice repeats on its own). */
export function samplingParams(sampling: SamplingRequest, topLogprobs: number, index = 0): SamplingParams {
  const base = { temperature: sampling.temperature, topP: sampling.topP, topLogprobs };
  return sampling.seed === undefined ? base : { ...base, seed: (sampling.seed + index) >>> 0 };
}

/** The request's stop token ids added to the endpoint's own. */
export function stopTokenIdsOf(base: readonly number[], sampling: SamplingRequest, vocabSize: number): number[] {
  sampling.stopTokenIds.forEach((id, i) => {
    if (id >= vocabSize) throw new InvalidRequestError(`token id ${id} is outside the vocabulary of ${vocabSize} tokens.`, `stop_token_ids[${i}]`);
  });
  return [...new Set([...base, ...sampling.stopTokenIds])];
}

/**
 * Starts the generation and waits for its first event; errors up to then are thrown here. The
 * returned iterable replays that event, then the rest.
 */
export async function startGeneration(
  engine: EngineClient,
  params: Parameters<EngineClient['generate']>[0],
): Promise<AsyncIterable<GenerationEvent>> {
  const iterator = engine.generate(params)[Symbol.asyncIterator]();
  const first = await iterator.next();
  let replayed = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        if (!replayed) {
          replayed = true;
          return first;
        }
        return iterator.next();
      },
      return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
    }),
  };
}

/** An AbortController that fires when the client disconnects before the reply was sent. */
export function abortOnDisconnect(reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller;
}

export interface TokenCounts {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedPromptTokens: number;
}

export function usageOf(c: TokenCounts): Usage {
  return {
    prompt_tokens: c.promptTokens,
    completion_tokens: c.completionTokens,
    total_tokens: c.promptTokens + c.completionTokens,
    prompt_tokens_details: { cached_tokens: c.cachedPromptTokens },
  };
}

/** Seconds since the epoch (OpenAI's `created`). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** What the serving classes share. */
export interface ServingContext {
  readonly engine: EngineClient;
  readonly tokenizer: HarmonyTokenizer;
  readonly metrics: HttpMetrics;
  readonly structured: StructuredOutputs;
}

/** Random id with OpenAI's prefixes ("chatcmpl-", "call_", "resp_"). */
export function newId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}
