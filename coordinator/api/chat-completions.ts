// POST /v1/chat/completions: messages rendered as harmony, the output parsed back into content,
// reasoning (as `reasoning_content` and `reasoning`, like vLLM) and tool calls. The streamed
// deltas concatenate to exactly the non-streamed message, since both are built from the same
// pieces.
import type { FastifyInstance } from 'fastify';
import { RequestAbortedError } from '../../common/errors.js';
import { renderConversation, STOP_TOKEN_IDS } from '../../common/harmony/index.js';
import { merge, startChoices, totalUsage } from './choices.js';
import { abortOnDisconnect, fitMaxTokens, newId, nowSeconds, stopTokenIdsOf, usageOf, type ServingContext } from './generation.js';
import { harmonyOutput, type OutputEvent } from './harmony-output.js';
import { chatTokenLogprob } from './logprobs.js';
import {
  checkModel,
  parseChatCompletionRequest,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatDelta,
  type ChatFinishReason,
  type ChatTokenLogprob,
  type Usage,
  type WireToolCall,
} from './protocol.js';
import { DONE, errorInStream, sendResult, type ServingResult, type SseMessage } from './sse.js';
import { formatForModel } from './structured-output.js';

type ChatPiece =
  | { readonly kind: 'delta'; readonly index: number; readonly delta: ChatDelta; readonly logprobs: ChatTokenLogprob[] | null }
  | { readonly kind: 'end'; readonly index: number; readonly finishReason: ChatFinishReason; readonly usage: Usage };

type Head = { readonly id: string; readonly created: number; readonly model: string };

export class ChatCompletionsServing {
  constructor(private readonly ctx: ServingContext) {}

  async create(req: ChatCompletionRequest, requestId: string, abort: AbortController): Promise<ServingResult<ChatCompletion>> {
    const { engine, tokenizer } = this.ctx;
    checkModel(req.model, engine.modelId);
    const promptIds = renderConversation(req.messages, {
      tools: req.tools,
      tokenizer,
      responseFormat: formatForModel(req.responseFormat),
      ...(req.reasoningEffort !== undefined ? { reasoningEffort: req.reasoningEffort } : {}),
    });
    const maxTokens = fitMaxTokens(promptIds.length, req.maxTokens, engine.contextLength, 'messages', req.maxTokensParam);
    const stopTokenIds = stopTokenIdsOf(STOP_TOKEN_IDS, req.sampling, engine.vocabSize);
    const processors = await this.ctx.structured.forHarmony({ ...req, format: req.responseFormat, formatKey: 'response_format', maxTokens });
    const topLogprobs = req.logprobs ? req.topLogprobs : 0;
    const choices = await startChoices(engine, { requestId, promptIds, maxTokens, sampling: req.sampling, topLogprobs, stopTokenIds, processors }, abort);
    const pieces = choices.map((c) =>
      this.pieces(c.index, harmonyOutput(c.events, { promptTokens: promptIds.length, stop: req.stop, abort: c.abort, newCallId: () => newId('call_'), tokenizer }), req.logprobs ? req.topLogprobs : null),
    );
    const head = { id: newId('chatcmpl-'), created: nowSeconds(), model: engine.modelId };
    return req.stream ? { kind: 'stream', messages: this.chunks(head, pieces, req.includeUsage) } : { kind: 'json', body: await this.collect(head, pieces, req.logprobs) };
  }

  /** Output events as chat deltas; item texts of one kind are joined by '\n'. */
  private async *pieces(index: number, outputs: AsyncIterable<OutputEvent>, topLogprobs: number | null): AsyncGenerator<ChatPiece> {
    const said = { content: false, reasoning: false };
    let itemSaid = false;
    let toolIndex = -1;
    for await (const ev of outputs) {
      if (ev.type === 'item-start') {
        itemSaid = false;
        if (ev.call) {
          toolIndex++;
          const delta = { tool_calls: [{ index: toolIndex, id: ev.call.callId, type: 'function' as const, function: { name: ev.call.name, arguments: '' } }] };
          yield { kind: 'delta', index, delta, logprobs: null };
        }
      } else if (ev.type === 'delta') {
        if (ev.part === 'tool_call') {
          yield { kind: 'delta', index, delta: { tool_calls: [{ index: toolIndex, function: { arguments: ev.text } }] }, logprobs: null };
          continue;
        }
        const text = !itemSaid && said[ev.part] && ev.text.length > 0 ? `\n${ev.text}` : ev.text;
        if (ev.text.length > 0) itemSaid = said[ev.part] = true;
        if (ev.part === 'reasoning') yield { kind: 'delta', index, delta: { reasoning_content: text, reasoning: text }, logprobs: null };
        else {
          const logprobs = topLogprobs === null ? null : ev.tokens.map((t) => chatTokenLogprob(this.ctx.tokenizer, t, topLogprobs));
          yield { kind: 'delta', index, delta: { content: text }, logprobs };
        }
      } else if (ev.type === 'done') {
        if (ev.finishReason === 'abort') throw new RequestAbortedError('the generation was aborted');
        const usage = usageOf(ev.counts);
        // The prompt is counted once per request, with the first choice.
        this.ctx.metrics.tokens(index === 0 ? usage : { ...usage, prompt_tokens: 0, total_tokens: usage.completion_tokens });
        yield { kind: 'end', index, finishReason: ev.finishReason, usage };
      }
    }
  }

  private async collect(head: Head, choices: readonly AsyncIterable<ChatPiece>[], wantLogprobs: boolean): Promise<ChatCompletion> {
    const results = await Promise.all(choices.map((pieces) => this.collectChoice(pieces, wantLogprobs)));
    return { ...head, object: 'chat.completion', choices: results.map((r) => r.choice), usage: totalUsage(results.map((r) => r.usage)) };
  }

  private async collectChoice(pieces: AsyncIterable<ChatPiece>, wantLogprobs: boolean): Promise<{ choice: ChatCompletion['choices'][number]; usage: Usage }> {
    let content = '';
    let reasoning = '';
    const toolCalls: WireToolCall[] = [];
    const logprobs: ChatTokenLogprob[] = [];
    for await (const piece of pieces) {
      if (piece.kind === 'end') {
        const message = {
          role: 'assistant' as const,
          content: content.length > 0 ? content : null,
          reasoning_content: reasoning.length > 0 ? reasoning : null,
          reasoning: reasoning.length > 0 ? reasoning : null,
          tool_calls: toolCalls,
        };
        return { choice: { index: piece.index, message, logprobs: wantLogprobs ? { content: logprobs } : null, finish_reason: piece.finishReason }, usage: piece.usage };
      }
      const { delta } = piece;
      content += delta.content ?? '';
      reasoning += delta.reasoning_content ?? '';
      if (piece.logprobs) logprobs.push(...piece.logprobs);
      for (const call of delta.tool_calls ?? []) {
        const known = toolCalls[call.index];
        if (known) toolCalls[call.index] = { ...known, function: { ...known.function, arguments: known.function.arguments + call.function.arguments } };
        else toolCalls[call.index] = { id: call.id!, type: 'function', function: { name: call.function.name!, arguments: call.function.arguments } };
      }
    }
    throw new Error('the generation ended without a done event');
  }

  private async *chunks(head: Head, choices: readonly AsyncIterable<ChatPiece>[], includeUsage: boolean): AsyncGenerator<SseMessage> {
    const usageField = includeUsage ? { usage: null } : {};
    const chunk = (index: number, delta: ChatDelta, logprobs: ChatTokenLogprob[] | null, finish: ChatFinishReason | null): SseMessage => {
      const data: ChatCompletionChunk = {
        ...head,
        object: 'chat.completion.chunk',
        choices: [{ index, delta, logprobs: logprobs === null ? null : { content: logprobs }, finish_reason: finish }],
        ...usageField,
      };
      return { data };
    };
    for (let index = 0; index < choices.length; index++) yield chunk(index, { role: 'assistant', content: '' }, null, null);
    const usages: Usage[] = [];
    for await (const piece of merge(choices)) {
      if (piece.kind === 'delta') {
        yield chunk(piece.index, piece.delta, piece.logprobs, null);
        continue;
      }
      usages[piece.index] = piece.usage;
      yield chunk(piece.index, {}, null, piece.finishReason);
    }
    if (includeUsage) yield { data: { ...head, object: 'chat.completion.chunk', choices: [], usage: totalUsage(usages) } satisfies ChatCompletionChunk };
    yield DONE;
  }
}

export function registerChatCompletions(app: FastifyInstance, serving: ChatCompletionsServing): void {
  app.post('/v1/chat/completions', async (request, reply) => {
    const req = parseChatCompletionRequest(request.body);
    const result = await serving.create(req, request.id, abortOnDisconnect(reply));
    return sendResult(request, reply, result, { onError: errorInStream });
  });
}
