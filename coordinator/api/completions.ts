// POST /v1/completions: a raw prompt (text, in which special-token text such as `<|start|>` becomes
// the special token, or token ids used as they are), no chat template. The completion is the
// decoded text of the sampled tokens, special tokens included as their text, except the stop token
// that ended it (gpt-oss's end-of-sequence ids: <|return|>, <|call|>, <|endoftext|>).
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError, RequestAbortedError } from '../../common/errors.js';
import type { SampledToken } from '../../common/engine/sampler.js';
import { HarmonyTokens } from '../../common/harmony/index.js';
import type { GenerationEvent } from '../engine-core/engine-client.js';
import { merge, startChoices, totalUsage, type Choice } from './choices.js';
import { abortOnDisconnect, fitMaxTokens, newId, nowSeconds, stopTokenIdsOf, usageOf, type ServingContext } from './generation.js';
import { appendCompletionLogprobs, emptyCompletionLogprobs } from './logprobs.js';
import { checkModel, parseCompletionRequest, type Completion, type CompletionFinishReason, type CompletionLogprobs, type CompletionRequest, type Usage } from './protocol.js';
import { DONE, errorInStream, sendResult, type ServingResult, type SseMessage } from './sse.js';
import { StopStringMatcher, type Released } from './stop-strings.js';

/** gpt-oss's generation_config.json eos_token_id. */
export const COMPLETION_STOP_TOKEN_IDS: readonly number[] = Object.freeze([HarmonyTokens.RETURN, HarmonyTokens.ENDOFTEXT, HarmonyTokens.CALL]);

type TextPiece =
  | { readonly kind: 'text'; readonly index: number; readonly released: Released<SampledToken> }
  | { readonly kind: 'end'; readonly index: number; readonly finishReason: CompletionFinishReason; readonly usage: Usage };

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
    const stopTokenIds = stopTokenIdsOf(COMPLETION_STOP_TOKEN_IDS, req.sampling, engine.vocabSize);
    const processors = await this.ctx.structured.forCompletion(req.responseFormat, req.sampling, COMPLETION_STOP_TOKEN_IDS);
    const choices = await startChoices(engine, { requestId, promptIds, maxTokens, sampling: req.sampling, topLogprobs: req.logprobs ?? 0, stopTokenIds, processors }, abort);
    const pieces = choices.map((c) => this.pieces(c, req.stop, promptIds.length, stopTokenIds));
    const head = { id: newId('cmpl-'), created: nowSeconds(), model: engine.modelId };
    return req.stream ? { kind: 'stream', messages: this.chunks(head, pieces, req.logprobs, req.includeUsage) } : { kind: 'json', body: await this.collect(head, pieces, req.logprobs) };
  }

  private async *pieces(choice: Choice, stop: readonly string[], promptTokens: number, stopTokenIds: readonly number[]): AsyncGenerator<TextPiece> {
    const decoder = this.ctx.tokenizer.streamingDecoder();
    const matcher = new StopStringMatcher<SampledToken>(stop);
    let completionTokens = 0;
    let done: Extract<GenerationEvent, { type: 'done' }> | null = null;
    try {
      for await (const event of choice.events) {
        if (event.type === 'done') done = event;
        else if (!matcher.stopped) {
          completionTokens++;
          const { id } = event.token;
          // The stop token ends the text without being part of it.
          const text = stopTokenIds.includes(id) ? '' : decoder.push(id);
          yield { kind: 'text', index: choice.index, released: matcher.push(text, [event.token]) };
          if (matcher.stopped) choice.abort.abort();
        }
      }
    } catch (err) {
      if (!matcher.stopped) throw err;
    }
    if (!matcher.stopped) yield { kind: 'text', index: choice.index, released: matcher.push(decoder.flush()) };
    if (!matcher.stopped) yield { kind: 'text', index: choice.index, released: matcher.flush() };
    if (!matcher.stopped && (done === null || done.finishReason === 'abort')) throw new RequestAbortedError('the generation was aborted');
    const usage = usageOf({ promptTokens, completionTokens, cachedPromptTokens: done?.cachedPromptTokens ?? 0 });
    // The prompt is counted once per request, with the first choice.
    this.ctx.metrics.tokens(choice.index === 0 ? usage : { ...usage, prompt_tokens: 0, total_tokens: completionTokens });
    yield { kind: 'end', index: choice.index, finishReason: matcher.stopped || done?.finishReason === 'stop' ? 'stop' : 'length', usage };
  }

  private async collect(head: Head, choices: readonly AsyncIterable<TextPiece>[], logprobs: number | null): Promise<Completion> {
    const results = await Promise.all(choices.map((pieces) => this.collectChoice(pieces, logprobs)));
    return { ...head, object: 'text_completion', choices: results.map((r) => r.choice), usage: totalUsage(results.map((r) => r.usage)) };
  }

  private async collectChoice(pieces: AsyncIterable<TextPiece>, logprobs: number | null): Promise<{ choice: Completion['choices'][number]; usage: Usage }> {
    let text = '';
    const lp = emptyCompletionLogprobs();
    for await (const piece of pieces) {
      if (piece.kind === 'end') {
        return { choice: { index: piece.index, text, logprobs: logprobs === null ? null : lp, finish_reason: piece.finishReason }, usage: piece.usage };
      }
      text += piece.released.text;
      if (logprobs !== null) appendCompletionLogprobs(lp, this.ctx.tokenizer, piece.released.items, logprobs);
    }
    throw new Error('the generation ended without a done event');
  }

  private async *chunks(head: Head, choices: readonly AsyncIterable<TextPiece>[], logprobs: number | null, includeUsage: boolean): AsyncGenerator<SseMessage> {
    const usageField = includeUsage ? { usage: null } : {};
    const chunk = (index: number, text: string, lp: CompletionLogprobs | null, finish: CompletionFinishReason | null): SseMessage => ({
      data: { ...head, object: 'text_completion', choices: [{ index, text, logprobs: lp, finish_reason: finish }], ...usageField } satisfies Completion,
    });
    const usages: Usage[] = [];
    for await (const piece of merge(choices)) {
      if (piece.kind === 'text') {
        const { released } = piece;
        if (released.text.length === 0 && released.items.length === 0) continue;
        let lp: CompletionLogprobs | null = null;
        if (logprobs !== null) appendCompletionLogprobs((lp = emptyCompletionLogprobs()), this.ctx.tokenizer, released.items, logprobs);
        yield chunk(piece.index, released.text, lp, null);
        continue;
      }
      usages[piece.index] = piece.usage;
      yield chunk(piece.index, '', logprobs === null ? null : emptyCompletionLogprobs(), piece.finishReason);
    }
    if (includeUsage) yield { data: { ...head, object: 'text_completion', choices: [], usage: totalUsage(usages) } satisfies Completion };
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
