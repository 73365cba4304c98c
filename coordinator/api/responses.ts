// POST /v1/responses and GET /v1/responses/:id. A request's conversation is the stored one of
// previous_response_id (its input, then its output) followed by the request's input; instructions
// come first as developer instructions. Stored responses (store: true, the default) keep that
// conversation so the next turn can continue it.
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from '../../common/errors.js';
import { renderConversation, STOP_TOKEN_IDS, type ChatMessage } from '../../common/harmony/index.js';
import { NotFoundError } from './errors.js';
import { abortOnDisconnect, fitMaxTokens, newId, nowSeconds, samplingParams, startGeneration, stopTokenIdsOf, type ServingContext } from './generation.js';
import { harmonyOutput, type OutputEvent } from './harmony-output.js';
import { checkModel } from './protocol.js';
import { ResponseBuilder } from './response-builder.js';
import type { ResponseStore } from './response-store.js';
import { parseResponsesRequest, type ResponseInputItem, type ResponseObject, type ResponseOutputItem, type ResponsesRequest } from './responses-protocol.js';
import { formatForModel } from './structured-output.js';
import { sendResult, type ServingResult, type SseMessage } from './sse.js';

/** A response's output items as input items of the next turn. */
export function outputAsInput(output: readonly ResponseOutputItem[]): ResponseInputItem[] {
  return output.map((item): ResponseInputItem => {
    switch (item.type) {
      case 'reasoning':
        return { type: 'reasoning', text: item.content.map((c) => c.text).join('\n') };
      case 'message':
        return { type: 'message', role: 'assistant', content: item.content.map((c) => c.text).join('') };
      case 'function_call':
        return { type: 'function_call', call_id: item.call_id, name: item.name, arguments: item.arguments };
    }
  });
}

/**
 * The conversation as chat messages for the harmony renderer. `paramOf(i)` names item i in errors
 * (a function_call_output whose call_id matches no earlier function_call).
 */
export function conversationMessages(instructions: string | null, items: readonly ResponseInputItem[], paramOf: (i: number) => string): ChatMessage[] {
  const messages: ChatMessage[] = instructions !== null ? [{ role: 'developer', content: instructions }] : [];
  const callNames = new Map<string, string>();
  items.forEach((item, i) => {
    switch (item.type) {
      case 'message':
        messages.push(item.role === 'assistant' ? { role: 'assistant', content: item.content } : { role: item.role, content: item.content });
        break;
      case 'reasoning':
        messages.push({ role: 'assistant', content: null, reasoning: item.text });
        break;
      case 'function_call':
        callNames.set(item.call_id, item.name);
        messages.push({ role: 'assistant', content: null, toolCalls: [{ id: item.call_id, name: item.name, arguments: item.arguments }] });
        break;
      case 'function_call_output': {
        const name = callNames.get(item.call_id);
        if (name === undefined) {
          throw new InvalidRequestError(`No function call found for call_id '${item.call_id}' in the conversation.`, `${paramOf(i)}.call_id`);
        }
        messages.push({ role: 'tool', name, toolCallId: item.call_id, content: item.output });
        break;
      }
    }
  });
  return messages;
}

export interface ResponsesServingOptions {
  readonly store: ResponseStore;
  readonly ttlSeconds: number;
}

export class ResponsesServing {
  constructor(
    private readonly ctx: ServingContext,
    private readonly opts: ResponsesServingOptions,
  ) {}

  async create(req: ResponsesRequest, requestId: string, abort: AbortController): Promise<ServingResult<ResponseObject>> {
    const { engine, tokenizer } = this.ctx;
    checkModel(req.model, engine.modelId);
    const earlier = await this.history(req.previousResponseId);
    const conversation = [...earlier, ...req.input];
    const messages = conversationMessages(req.instructions, conversation, (i) => (i < earlier.length ? 'previous_response_id' : `input[${i - earlier.length}]`));
    const promptIds = renderConversation(messages, {
      tools: req.tools,
      tokenizer,
      responseFormat: formatForModel(req.responseFormat),
      ...(req.reasoningEffort !== undefined ? { reasoningEffort: req.reasoningEffort } : {}),
    });
    const maxTokens = fitMaxTokens(promptIds.length, req.maxOutputTokens, engine.contextLength, 'input', 'max_output_tokens');
    if (req.sampling.n !== 1) throw new InvalidRequestError('the Responses API makes one response per request; n must be 1.', 'n', 'unsupported_parameter');
    const processors = await this.ctx.structured.forHarmony({ ...req, format: req.responseFormat, formatKey: 'text.format', maxTokens });
    const events = await startGeneration(engine, {
      requestId,
      promptIds,
      maxTokens,
      sampling: samplingParams(req.sampling, 0),
      stopTokenIds: stopTokenIdsOf(STOP_TOKEN_IDS, req.sampling, engine.vocabSize),
      logitsProcessors: processors(),
      signal: abort.signal,
    });
    const outputs = harmonyOutput(events, { promptTokens: promptIds.length, stop: [], abort, newCallId: () => newId('call_'), tokenizer });
    const builder = new ResponseBuilder({
      id: newId('resp_'),
      object: 'response',
      created_at: nowSeconds(),
      model: engine.modelId,
      instructions: req.instructions,
      max_output_tokens: req.maxOutputTokens ?? null,
      previous_response_id: req.previousResponseId,
      reasoning: { effort: req.reasoningEffort ?? null, summary: null },
      temperature: req.sampling.temperature,
      top_p: req.sampling.topP,
      tools: req.tools,
      tool_choice: req.toolChoice,
      parallel_tool_calls: true,
      store: req.store,
      text: { format: req.responseFormat ?? { type: 'text' } },
      truncation: 'disabled',
      metadata: req.metadata,
    });
    const finish = async (): Promise<ResponseObject> => {
      const response = builder.snapshot();
      if (response.usage) this.ctx.metrics.tokens({ prompt_tokens: response.usage.input_tokens, completion_tokens: response.usage.output_tokens, total_tokens: response.usage.total_tokens, prompt_tokens_details: response.usage.input_tokens_details });
      if (req.store) await this.opts.store.put({ id: response.id, input: conversation, response }, this.opts.ttlSeconds);
      return response;
    };
    if (req.stream) return { kind: 'stream', messages: this.events(builder, outputs, finish) };
    for await (const ev of outputs) builder.apply(ev);
    return { kind: 'json', body: await finish() };
  }

  async retrieve(id: string): Promise<ResponseObject> {
    const stored = await this.opts.store.get(id);
    if (stored === null) throw new NotFoundError(`No response found with id '${id}'.`, 'response_id');
    return stored.response;
  }

  private async history(previousResponseId: string | null): Promise<ResponseInputItem[]> {
    if (previousResponseId === null) return [];
    const previous = await this.opts.store.get(previousResponseId);
    if (previous === null) {
      throw new InvalidRequestError(`Previous response with id '${previousResponseId}' not found.`, 'previous_response_id', 'previous_response_not_found');
    }
    return [...previous.input, ...outputAsInput(previous.response.output)];
  }

  private async *events(builder: ResponseBuilder, outputs: AsyncIterable<OutputEvent>, finish: () => Promise<ResponseObject>): AsyncGenerator<SseMessage> {
    for (const e of builder.start()) yield { event: e.type, data: e };
    try {
      for await (const ev of outputs) {
        const events = builder.apply(ev);
        // Stored before response.completed goes out, so a client may continue from it at once.
        if (builder.finished) await finish();
        for (const e of events) yield { event: e.type, data: e };
      }
    } catch (err) {
      // Told in the stream as response.failed; rethrown so that the writer logs it and ends.
      const failed = builder.fail(err);
      yield { event: failed.type, data: failed };
      throw err;
    }
  }
}

export function registerResponses(app: FastifyInstance, serving: ResponsesServing): void {
  app.post('/v1/responses', async (request, reply) => {
    const req = parseResponsesRequest(request.body);
    const result = await serving.create(req, request.id, abortOnDisconnect(reply));
    return sendResult(request, reply, result, { onError: () => [] });
  });
  app.get<{ Params: { id: string } }>('/v1/responses/:id', async (request) => serving.retrieve(request.params.id));
}
