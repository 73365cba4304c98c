// The Responses API (POST /v1/responses): wire types of the response object, its output items and
// stream events (as in the openai package's resources/responses), and the request parser. Input
// items are normalized to a small JSON shape, which is also what the response store keeps.
import type { JsonObject, ReasoningEffort, ToolDefinition } from '../../common/harmony/index.js';
import {
  get,
  invalid,
  missing,
  optArray,
  optBoolean,
  optEnum,
  optNumber,
  optObject,
  optString,
  reqString,
  requireObject,
  typeName,
  type Fields,
} from './fields.js';
import { jsonSchemaFormat, parseReasoningEffort, parseSampling, parseTextContent, parseThinkingTokenBudget, type ResponseFormat, type SamplingRequest } from './protocol.js';
import { parseToolUse, type ToolChoice } from './tool-choice.js';

/** One turn of a conversation, normalized (JSON-serializable; kept by the response store). */
export type ResponseInputItem =
  | { readonly type: 'message'; readonly role: 'user' | 'assistant' | 'system' | 'developer'; readonly content: string }
  | { readonly type: 'function_call'; readonly call_id: string; readonly name: string; readonly arguments: string }
  | { readonly type: 'function_call_output'; readonly call_id: string; readonly output: string }
  | { readonly type: 'reasoning'; readonly text: string };

export interface ResponsesRequest {
  readonly model: string | null;
  readonly input: readonly ResponseInputItem[];
  readonly instructions: string | null;
  /** As given (flat Responses shape), validated; empty when tool_choice is "none". */
  readonly tools: readonly ToolDefinition[];
  readonly toolChoice: ToolChoice;
  readonly reasoningEffort?: ReasoningEffort;
  /** This server's extension (vLLM's name): most tokens the analysis channel may take. */
  readonly thinkingTokenBudget?: number;
  readonly maxOutputTokens?: number;
  readonly sampling: SamplingRequest;
  /** Default true. */
  readonly store: boolean;
  readonly previousResponseId: string | null;
  readonly stream: boolean;
  readonly metadata: Record<string, string> | null;
  /** text.format; null = free text. */
  readonly responseFormat: ResponseFormat | null;
}

export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export interface OutputTextPart {
  readonly type: 'output_text';
  readonly text: string;
  readonly annotations: [];
  readonly logprobs: [];
}

export interface ReasoningTextPart {
  readonly type: 'reasoning_text';
  readonly text: string;
}

export interface ReasoningItem {
  readonly type: 'reasoning';
  readonly id: string;
  readonly summary: [];
  readonly content: ReasoningTextPart[];
  readonly status: ItemStatus;
}

export interface MessageItem {
  readonly type: 'message';
  readonly id: string;
  readonly role: 'assistant';
  readonly status: ItemStatus;
  readonly content: OutputTextPart[];
}

export interface FunctionCallItem {
  readonly type: 'function_call';
  readonly id: string;
  readonly call_id: string;
  readonly name: string;
  readonly arguments: string;
  readonly status: ItemStatus;
}

export type ResponseOutputItem = ReasoningItem | MessageItem | FunctionCallItem;

export interface ResponseUsage {
  readonly input_tokens: number;
  readonly input_tokens_details: { readonly cached_tokens: number };
  readonly output_tokens: number;
  readonly output_tokens_details: { readonly reasoning_tokens: number };
  readonly total_tokens: number;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

export interface ResponseObject {
  readonly id: string;
  readonly object: 'response';
  readonly created_at: number;
  readonly status: ResponseStatus;
  readonly model: string;
  readonly output: ResponseOutputItem[];
  readonly instructions: string | null;
  readonly max_output_tokens: number | null;
  readonly previous_response_id: string | null;
  readonly reasoning: { readonly effort: ReasoningEffort | null; readonly summary: null };
  readonly temperature: number;
  readonly top_p: number;
  readonly tools: readonly ToolDefinition[];
  readonly tool_choice: ToolChoice;
  readonly parallel_tool_calls: boolean;
  readonly store: boolean;
  readonly text: { readonly format: ResponseTextFormat };
  readonly truncation: 'disabled';
  readonly usage: ResponseUsage | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly incomplete_details: { readonly reason: 'max_output_tokens' } | null;
  readonly metadata: Record<string, string> | null;
}

/** text.format as echoed in a response. */
export type ResponseTextFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly name: string; readonly schema: JsonObject; readonly strict: boolean };

/** A stream event: `type` plus the fields of that event type, and `sequence_number`. */
export interface ResponseStreamEvent {
  readonly type: string;
  readonly sequence_number: number;
  readonly [field: string]: unknown;
}

// ---- parser ----

const MESSAGE_ROLES = ['user', 'assistant', 'system', 'developer'] as const;
const TEXT_PARTS = ['input_text', 'output_text'];

function parseInputItem(raw: unknown, param: string): ResponseInputItem {
  const item = requireObject(raw, param);
  const type = get(item, 'type') ?? (get(item, 'role') !== undefined ? 'message' : undefined);
  switch (type) {
    case 'message': {
      const role = optEnum(item, 'role', MESSAGE_ROLES, param);
      if (role === undefined) throw missing(`${param}.role`);
      const content = get(item, 'content');
      if (content === undefined) throw missing(`${param}.content`);
      return { type: 'message', role, content: parseTextContent(content, `${param}.content`, TEXT_PARTS) };
    }
    case 'function_call':
      return {
        type: 'function_call',
        call_id: reqString(item, 'call_id', param),
        name: reqString(item, 'name', param),
        arguments: reqString(item, 'arguments', param),
      };
    case 'function_call_output': {
      const output = get(item, 'output');
      if (output === undefined) throw missing(`${param}.output`);
      return { type: 'function_call_output', call_id: reqString(item, 'call_id', param), output: parseTextContent(output, `${param}.output`, ['input_text']) };
    }
    case 'reasoning': {
      // Our own reasoning items carry the text in `content`; OpenAI's may carry only a summary.
      const content = optArray(item, 'content', param);
      const parts = content ?? optArray(item, 'summary', param) ?? [];
      const key = content ? 'content' : 'summary';
      const text = parts.map((p, i) => reqString(requireObject(p, `${param}.${key}[${i}]`), 'text', `${param}.${key}[${i}]`)).join('\n');
      return { type: 'reasoning', text };
    }
    default:
      throw invalid(`${param}.type`, `unsupported input item type ${JSON.stringify(type)}; supported are 'message', 'function_call', 'function_call_output' and 'reasoning'.`);
  }
}

function parseInput(body: Fields): ResponseInputItem[] {
  const input = get(body, 'input');
  if (input === undefined) throw missing('input');
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  if (!Array.isArray(input)) throw invalid('input', `expected a string or an array of input items, got ${typeName(input)}.`);
  return input.map((item, i) => parseInputItem(item, `input[${i}]`));
}

function parseMetadata(body: Fields): Record<string, string> | null {
  const metadata = optObject(body, 'metadata');
  if (metadata === undefined) return null;
  const entries = Object.entries(metadata);
  if (entries.length > 16) throw invalid('metadata', 'at most 16 keys are allowed.');
  for (const [key, value] of entries) if (typeof value !== 'string') throw invalid(`metadata.${key}`, `expected a string, got ${typeName(value)}.`);
  return metadata as Record<string, string>;
}

export function parseResponsesRequest(raw: unknown): ResponsesRequest {
  const body = requireObject(raw, '');
  const input = parseInput(body);
  if (optBoolean(body, 'background') === true) throw invalid('background', 'background responses are not supported.', 'unsupported_parameter');
  const text = optObject(body, 'text');
  const format = text === undefined ? undefined : optObject(text, 'format', 'text');
  const responseFormat = format === undefined ? null : parseTextFormat(format);
  const reasoning = optObject(body, 'reasoning');
  const reasoningEffort = reasoning === undefined ? undefined : parseReasoningEffort(reasoning, 'effort', 'reasoning');
  const maxOutputTokens = optNumber(body, 'max_output_tokens', { integer: true, min: 1 });
  const thinkingTokenBudget = parseThinkingTokenBudget(body);
  return {
    model: optString(body, 'model') ?? null,
    input,
    instructions: optString(body, 'instructions') ?? null,
    ...parseToolUse(body, 'responses'),
    ...(reasoningEffort !== undefined ? { reasoningEffort } : {}),
    ...(thinkingTokenBudget !== undefined ? { thinkingTokenBudget } : {}),
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
    sampling: parseSampling(body),
    store: optBoolean(body, 'store') ?? true,
    previousResponseId: optString(body, 'previous_response_id') ?? null,
    stream: optBoolean(body, 'stream') ?? false,
    metadata: parseMetadata(body),
    responseFormat,
  };
}

/** The Responses API's flat text.format: `{type: 'json_schema', name, schema, strict}`. */
function parseTextFormat(format: Fields): ResponseFormat | null {
  const type = get(format, 'type');
  if (type === 'text') return null;
  if (type === 'json_object') return { type };
  if (type === 'json_schema') return jsonSchemaFormat(format, 'text.format');
  throw invalid('text.format.type', `expected one of 'text', 'json_object', 'json_schema', got ${JSON.stringify(type)}.`);
}
