// POST /v1/chat/completions: messages rendered as harmony, the output parsed back into content,
// reasoning (as `reasoning_content` and `reasoning`, like vLLM) and tool calls. The streamed
// deltas concatenate to exactly the non-streamed message, since both are built from the same
// pieces.
import type { FastifyInstance } from 'fastify';
import { RequestAbortedError } from '../../common/errors.js';
import { renderConversation, STOP_TOKEN_IDS } from '../../common/harmony/index.js';
import { abortOnDisconnect, fitMaxTokens, newId, nowSeconds, samplingParams, startGeneration, usageOf, type ServingContext } from './generation.js';
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

type ChatPiece =
  | { readonly kind: 'delta'; readonly delta: ChatDelta; readonly logprobs: ChatTokenLogprob[] | null }
  | { readonly kind: 'end'; readonly finishReason: ChatFinishReason; readonly usage: Usage };

export class ChatCompletionsServing {
  constructor(private readonly ctx: ServingContext) {}

  async create(req: ChatCompletionRequest, requestId: string, abort: AbortController): Promise<ServingResult<ChatCompletion>> {
    const { engine, tokenizer } = this.ctx;
    checkModel(req.model, engine.modelId);
    const promptIds = renderConversation(req.messages, {
      tools: req.tools,
      tokenizer,
      ...(req.reasoningEffort !== undefined ? { reasoningEffort: req.reasoningEffort } : {}),
    });
    const maxTokens = fitMaxTokens(promptIds.length, req.maxTokens, engine.contextLength, 'messages', req.maxTokensParam);
    const events = await startGeneration(engine, {
      requestId,
      promptIds,
      maxTokens,
      sampling: samplingParams(req.sampling, req.logprobs ? req.topLogprobs : 0),
      stopTokenIds: STOP_TOKEN_IDS,
      signal: abort.signal,
    });
    const outputs = harmonyOutput(events, { promptTokens: promptIds.length, stop: req.stop, abort, newCallId: () => newId('call_'), tokenizer });
    const pieces = this.pieces(outputs, req.logprobs ? req.topLogprobs : null);
    const head = { id: newId('chatcmpl-'), created: nowSeconds(), model: engine.modelId };
    return req.stream ? { kind: 'stream', messages: this.chunks(head, pieces, req.includeUsage) } : { kind: 'json', body: await this.collect(head, pieces, req.logprobs) };
  }

  /** Output events as chat deltas; item texts of one kind are joined by '\n'. */
  private async *pieces(outputs: AsyncIterable<OutputEvent>, topLogprobs: number | null): AsyncGenerator<ChatPiece> {
    const said = { content: false, reasoning: false };
    let itemSaid = false;
    let toolIndex = -1;
    for await (const ev of outputs) {
      if (ev.type === 'item-start') {
        itemSaid = false;
        if (ev.call) {
          toolIndex++;
          const delta = { tool_calls: [{ index: toolIndex, id: ev.call.callId, type: 'function' as const, function: { name: ev.call.name, arguments: '' } }] };
          yield { kind: 'delta', delta, logprobs: null };
        }
      } else if (ev.type === 'delta') {
        if (ev.part === 'tool_call') {
          yield { kind: 'delta', delta: { tool_calls: [{ index: toolIndex, function: { arguments: ev.text } }] }, logprobs: null };
          continue;
        }
        const text = !itemSaid && said[ev.part] && ev.text.length > 0 ? `\n${ev.text}` : ev.text;
        if (ev.text.length > 0) itemSaid = said[ev.part] = true;
        if (ev.part === 'reasoning') yield { kind: 'delta', delta: { reasoning_content: text, reasoning: text }, logprobs: null };
        else {
          const logprobs = topLogprobs === null ? null : ev.tokens.map((t) => chatTokenLogprob(this.ctx.tokenizer, t, topLogprobs));
          yield { kind: 'delta', delta: { content: text }, logprobs };
        }
      } else if (ev.type === 'done') {
        if (ev.finishReason === 'abort') throw new RequestAbortedError('the generation was aborted');
        const usage = usageOf(ev.counts);
        this.ctx.metrics.tokens(usage);
        yield { kind: 'end', finishReason: ev.finishReason, usage };
      }
    }
  }

  private async collect(head: { id: string; created: number; model: string }, pieces: AsyncIterable<ChatPiece>, wantLogprobs: boolean): Promise<ChatCompletion> {
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
        const choice = { index: 0 as const, message, logprobs: wantLogprobs ? { content: logprobs } : null, finish_reason: piece.finishReason };
        return { ...head, object: 'chat.completion', choices: [choice], usage: piece.usage };
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

  private async *chunks(head: { id: string; created: number; model: string }, pieces: AsyncIterable<ChatPiece>, includeUsage: boolean): AsyncGenerator<SseMessage> {
    const usageField = includeUsage ? { usage: null } : {};
    const chunk = (delta: ChatDelta, logprobs: ChatTokenLogprob[] | null, finish: ChatFinishReason | null): SseMessage => {
      const data: ChatCompletionChunk = {
        ...head,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, logprobs: logprobs === null ? null : { content: logprobs }, finish_reason: finish }],
        ...usageField,
      };
      return { data };
    };
    yield chunk({ role: 'assistant', content: '' }, null, null);
    for await (const piece of pieces) {
      if (piece.kind === 'delta') {
        yield chunk(piece.delta, piece.logprobs, null);
        continue;
      }
      yield chunk({}, null, piece.finishReason);
      if (includeUsage) yield { data: { ...head, object: 'chat.completion.chunk', choices: [], usage: piece.usage } satisfies ChatCompletionChunk };
    }
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
