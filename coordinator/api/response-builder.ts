// Output events to a Responses API response: one output item per harmony message (analysis ->
// reasoning item, final answer -> message item with output_text, function call -> function_call
// item), the stream events that build it up (each with its sequence_number), and the finished
// response object. Streaming and non-streaming requests run the same builder.
import { RequestAbortedError } from '../../common/errors.js';
import { toHttpError } from './errors.js';
import { newId } from './generation.js';
import type { OutputCounts, OutputEvent, OutputPart, ToolCallItem } from './harmony-output.js';
import type { ItemStatus, ResponseObject, ResponseOutputItem, ResponseStatus, ResponseStreamEvent, ResponseUsage } from './responses-protocol.js';

/** The response fields fixed by the request. */
export type ResponseBase = Omit<ResponseObject, 'status' | 'output' | 'usage' | 'error' | 'incomplete_details'>;

interface Item {
  readonly part: OutputPart;
  readonly id: string;
  readonly call?: ToolCallItem;
  text: string;
  status: ItemStatus;
}

const ID_PREFIX: Record<OutputPart, string> = { reasoning: 'rs_', content: 'msg_', tool_call: 'fc_' };

function wireItem(item: Item): ResponseOutputItem {
  const { id, status, text } = item;
  switch (item.part) {
    case 'reasoning':
      return { type: 'reasoning', id, summary: [], content: status === 'in_progress' ? [] : [{ type: 'reasoning_text', text }], status };
    case 'content':
      return { type: 'message', id, role: 'assistant', status, content: status === 'in_progress' ? [] : [{ type: 'output_text', text, annotations: [], logprobs: [] }] };
    case 'tool_call':
      return { type: 'function_call', id, call_id: item.call!.callId, name: item.call!.name, arguments: status === 'in_progress' ? '' : text, status };
  }
}

function responseUsage(c: OutputCounts): ResponseUsage {
  return {
    input_tokens: c.promptTokens,
    input_tokens_details: { cached_tokens: c.cachedPromptTokens },
    output_tokens: c.completionTokens,
    output_tokens_details: { reasoning_tokens: c.reasoningTokens },
    total_tokens: c.promptTokens + c.completionTokens,
  };
}

export class ResponseBuilder {
  private sequence = 0;
  private readonly items: Item[] = [];
  private status: ResponseStatus = 'in_progress';
  private usage: ResponseUsage | null = null;
  private error: ResponseObject['error'] = null;

  constructor(private readonly base: ResponseBase) {}

  /** The response as it stands. */
  snapshot(): ResponseObject {
    return {
      ...this.base,
      status: this.status,
      output: this.items.map(wireItem),
      usage: this.usage,
      error: this.error,
      incomplete_details: this.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    };
  }

  get finished(): boolean {
    return this.status === 'completed' || this.status === 'incomplete';
  }

  /** response.created and response.in_progress. */
  start(): ResponseStreamEvent[] {
    return [this.event('response.created', { response: this.snapshot() }), this.event('response.in_progress', { response: this.snapshot() })];
  }

  apply(ev: OutputEvent): ResponseStreamEvent[] {
    switch (ev.type) {
      case 'item-start':
        return this.open(ev.part, ev.call);
      case 'delta':
        return ev.text.length > 0 ? [this.delta(ev.text)] : [];
      case 'item-end':
        return this.close();
      case 'done': {
        if (ev.finishReason === 'abort') throw new RequestAbortedError('the generation was aborted');
        this.status = ev.finishReason === 'length' ? 'incomplete' : 'completed';
        this.usage = responseUsage(ev.counts);
        return [this.event(this.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: this.snapshot() })];
      }
    }
  }

  /** response.failed, for an error after the stream began. */
  fail(err: unknown): ResponseStreamEvent {
    const { body } = toHttpError(err);
    this.status = 'failed';
    this.error = { code: body.error.code ?? body.error.type, message: body.error.message };
    return this.event('response.failed', { response: this.snapshot() });
  }

  private event(type: string, fields: Record<string, unknown>): ResponseStreamEvent {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  private get current(): { item: Item; where: { item_id: string; output_index: number } } {
    const item = this.items[this.items.length - 1]!;
    return { item, where: { item_id: item.id, output_index: this.items.length - 1 } };
  }

  private open(part: OutputPart, call: ToolCallItem | undefined): ResponseStreamEvent[] {
    const item: Item = { part, id: newId(ID_PREFIX[part]), text: '', status: 'in_progress', ...(call ? { call } : {}) };
    this.items.push(item);
    const { where } = this.current;
    const added = this.event('response.output_item.added', { output_index: where.output_index, item: wireItem(item) });
    if (part === 'tool_call') return [added];
    const emptyPart = part === 'reasoning' ? { type: 'reasoning_text', text: '' } : { type: 'output_text', text: '', annotations: [], logprobs: [] };
    return [added, this.event('response.content_part.added', { ...where, content_index: 0, part: emptyPart })];
  }

  private delta(text: string): ResponseStreamEvent {
    const { item, where } = this.current;
    item.text += text;
    if (item.part === 'tool_call') return this.event('response.function_call_arguments.delta', { ...where, delta: text });
    if (item.part === 'reasoning') return this.event('response.reasoning_text.delta', { ...where, content_index: 0, delta: text });
    return this.event('response.output_text.delta', { ...where, content_index: 0, delta: text, logprobs: [] });
  }

  private close(): ResponseStreamEvent[] {
    const { item, where } = this.current;
    item.status = 'completed';
    const out: ResponseStreamEvent[] = [];
    if (item.part === 'tool_call') {
      out.push(this.event('response.function_call_arguments.done', { ...where, name: item.call!.name, arguments: item.text }));
    } else {
      const part = item.part === 'reasoning' ? { type: 'reasoning_text', text: item.text } : { type: 'output_text', text: item.text, annotations: [], logprobs: [] };
      const textDone = item.part === 'reasoning' ? 'response.reasoning_text.done' : 'response.output_text.done';
      out.push(this.event(textDone, { ...where, content_index: 0, text: item.text, ...(item.part === 'content' ? { logprobs: [] } : {}) }));
      out.push(this.event('response.content_part.done', { ...where, content_index: 0, part }));
    }
    out.push(this.event('response.output_item.done', { output_index: where.output_index, item: wireItem(item) }));
    return out;
  }
}
