// POST /v1/completions: a raw prompt (text, in which special-token text such as `<|start|>` becomes
// the special token, or token ids used as they are), no chat template. The completion is the
// decoded text of the sampled tokens, special tokens included as their text, except the stop token
// that ended it (gpt-oss's end-of-sequence ids: <|return|>, <|call|>, <|endoftext|>).
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError, RequestAbortedError } from '../../common/errors.js';
import type { SampledToken } from '../../common/engine/sampler.js';
import { HarmonyTokens } from '../../common/harmony/index.js';
import type { GenerationEvent } from '../serving/engine-client.js';
import { abortOnDisconnect, fitMaxTokens, newId, nowSeconds, samplingParams, startGeneration, usageOf, type ServingContext } from './generation.js';
import { appendCompletionLogprobs, emptyCompletionLogprobs } from './logprobs.js';
import { checkModel, parseCompletionRequest, type Completion, type CompletionFinishReason, type CompletionLogprobs, type CompletionRequest, type Usage } from './protocol.js';
import { DONE, errorInStream, sendResult, type ServingResult, type SseMessage } from './sse.js';
import { StopStringMatcher, type Released } from './stop-strings.js';

/** gpt-oss's generation_config.json eos_token_id. */
export const COMPLETION_STOP_TOKEN_IDS: readonly number[] = Object.freeze([HarmonyTokens.RETURN, HarmonyTokens.ENDOFTEXT, HarmonyTokens.CALL]);

type TextPiece =
  | { readonly kind: 'text'; readonly released: Released<SampledToken> }
  | { readonly kind: 'end'; readonly finishReason: CompletionFinishReason; readonly usage: Usage };

interface Head {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

export class CompletionsServing {
  constructor(private readonly ctx: ServingContext) {}

  async create(req: CompletionRequest, requestId: string, abort: AbortController): Promise<ServingResult<Completion>> {
    const { engine, tokenizer } = this.ctx;
    checkModel(req.model, engine.modelId);
    const promptIds = typeof req.prompt === 'string' ? tokenizer.encodeWithSpecials(req.prompt) : [...req.prompt];
    const outside = promptIds.findIndex((id) => id >= engine.vocabSize);
    if (outside >= 0) throw new InvalidRequestError(`Token id ${promptIds[outside]} is outside the vocabulary of ${engine.vocabSize} tokens.`, 'prompt');
    const maxTokens = fitMaxTokens(promptIds.length, req.maxTokens, engine.contextLength, 'prompt', 'max_tokens');
    const events = await startGeneration(engine, {
      requestId,
      promptIds,
      maxTokens,
      sampling: samplingParams(req.sampling, req.logprobs ?? 0),
      stopTokenIds: COMPLETION_STOP_TOKEN_IDS,
      signal: abort.signal,
    });
    const pieces = this.pieces(events, req.stop, abort, promptIds.length);
    const head = { id: newId('cmpl-'), created: nowSeconds(), model: engine.modelId };
    return req.stream ? { kind: 'stream', messages: this.chunks(head, pieces, req.logprobs, req.includeUsage) } : { kind: 'json', body: await this.collect(head, pieces, req.logprobs) };
  }

  private async *pieces(events: AsyncIterable<GenerationEvent>, stop: readonly string[], abort: AbortController, promptTokens: number): AsyncGenerator<TextPiece> {
    const decoder = this.ctx.tokenizer.streamingDecoder();
    const matcher = new StopStringMatcher<SampledToken>(stop);
    let completionTokens = 0;
    let done: Extract<GenerationEvent, { type: 'done' }> | null = null;
    try {
      for await (const event of events) {
        if (event.type === 'done') done = event;
        else if (!matcher.stopped) {
          completionTokens++;
          const { id } = event.token;
          // The stop token ends the text without being part of it.
          const text = COMPLETION_STOP_TOKEN_IDS.includes(id) ? '' : decoder.push(id);
          yield { kind: 'text', released: matcher.push(text, [event.token]) };
          if (matcher.stopped) abort.abort();
        }
      }
    } catch (err) {
      if (!matcher.stopped) throw err;
    }
    if (!matcher.stopped) yield { kind: 'text', released: matcher.push(decoder.flush()) };
    if (!matcher.stopped) yield { kind: 'text', released: matcher.flush() };
    if (!matcher.stopped && (done === null || done.finishReason === 'abort')) throw new RequestAbortedError('the generation was aborted');
    const usage = usageOf({ promptTokens, completionTokens, cachedPromptTokens: done?.cachedPromptTokens ?? 0 });
    this.ctx.metrics.tokens(usage);
    yield { kind: 'end', finishReason: matcher.stopped || done?.finishReason === 'stop' ? 'stop' : 'length', usage };
  }

  private async collect(head: Head, pieces: AsyncIterable<TextPiece>, logprobs: number | null): Promise<Completion> {
    let text = '';
    const lp = emptyCompletionLogprobs();
    for await (const piece of pieces) {
      if (piece.kind === 'end') {
        const choice = { index: 0 as const, text, logprobs: logprobs === null ? null : lp, finish_reason: piece.finishReason };
        return { ...head, object: 'text_completion', choices: [choice], usage: piece.usage };
      }
      text += piece.released.text;
      if (logprobs !== null) appendCompletionLogprobs(lp, this.ctx.tokenizer, piece.released.items, logprobs);
    }
    throw new Error('the generation ended without a done event');
  }

  private async *chunks(head: Head, pieces: AsyncIterable<TextPiece>, logprobs: number | null, includeUsage: boolean): AsyncGenerator<SseMessage> {
    const usageField = includeUsage ? { usage: null } : {};
    const chunk = (text: string, lp: CompletionLogprobs | null, finish: CompletionFinishReason | null): SseMessage => ({
      data: { ...head, object: 'text_completion', choices: [{ index: 0, text, logprobs: lp, finish_reason: finish }], ...usageField } satisfies Completion,
    });
    for await (const piece of pieces) {
      if (piece.kind === 'text') {
        const { released } = piece;
        if (released.text.length === 0 && released.items.length === 0) continue;
        let lp: CompletionLogprobs | null = null;
        if (logprobs !== null) appendCompletionLogprobs((lp = emptyCompletionLogprobs()), this.ctx.tokenizer, released.items, logprobs);
        yield chunk(released.text, lp, null);
        continue;
      }
      yield chunk('', logprobs === null ? null : emptyCompletionLogprobs(), piece.finishReason);
      if (includeUsage) yield { data: { ...head, object: 'text_completion', choices: [], usage: piece.usage } satisfies Completion };
    }
    yield DONE;
  }
}

export function registerCompletions(app: FastifyInstance, serving: CompletionsServing): void {
  app.post('/v1/completions', async (request, reply) => {
    const req = parseCompletionRequest(request.body);
    const result = await serving.create(req, request.id, abortOnDisconnect(reply));
    return sendResult(request, reply, result, { onError: errorInStream });
  });
}
