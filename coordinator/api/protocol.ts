// The wire types of the OpenAI-compatible API, declared once, and the validating parsers of the
// request bodies. A parser returns the typed request or throws InvalidRequestError naming the
// parameter (OpenAI's `param`). Unknown fields are ignored, as OpenAI does; known parameters this
// server cannot honour (best_of > 1, batched prompts, echo) are 400s rather than being silently
// dropped. The Responses API's types and parser live in responses-protocol.ts.
import type { ChatMessage, JsonObject, ReasoningEffort, ToolCall, ToolDefinition } from '../../common/harmony/index.js';
import { checkSchemaNesting } from '../../common/harmony/index.js';
import {
  at,
  get,
  invalid,
  missing,
  optArray,
  optBoolean,
  optEnum,
  optNumber,
  optObject,
  optStopStrings,
  optString,
  rejectUnsupported,
  reqString,
  requireObject,
  typeName,
  type Fields,
} from './fields.js';
import { ModelNotFoundError } from './errors.js';
import { parseToolUse, type ToolChoice } from './tool-choice.js';

// ---- shared ----

export interface ErrorBody {
  readonly message: string;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
}

/** Every error response: `{"error": {...}}`. */
export interface ErrorEnvelope {
  readonly error: ErrorBody;
}

export interface SamplingRequest {
  /** Default 1 (0 = greedy). */
  readonly temperature: number;
  /** Default 1. */
  readonly topP: number;
  readonly seed?: number;
  /** OpenAI's, in [-2, 2]; default 0. */
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  /** vLLM's, > 0; default 1 (off). */
  readonly repetitionPenalty: number;
  /** vLLM's; 0 = off (the request's -1 or 0). */
  readonly topK: number;
  /** vLLM's, in [0, 1]; 0 = off. */
  readonly minP: number;
  /** Token id -> bias in [-100, 100]; ids are checked against the vocabulary when served. */
  readonly logitBias: ReadonlyMap<number, number>;
  /** vLLM's: extra token ids that end the generation. */
  readonly stopTokenIds: readonly number[];
  /** Choices per request (each its own sample; seeds seed, seed + 1, ...). */
  readonly n: number;
}

/** What the output must be (response_format, text.format): absent = free text. */
export type ResponseFormat =
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly name: string; readonly schema: JsonObject; readonly strict: boolean };

export const REASONING_EFFORTS: readonly ReasoningEffort[] = ['low', 'medium', 'high'];
/** The sampler reports at most this many alternatives per token. */
export const MAX_TOP_LOGPROBS = 20;
/** The legacy completions endpoint's `logprobs` (an integer); OpenAI allows 5, vLLM more. */
export const MAX_COMPLETION_LOGPROBS = 20;

// ---- /v1/chat/completions ----

export interface ChatCompletionRequest {
  /** null when the body names none (vLLM's behaviour: the served model). */
  readonly model: string | null;
  readonly messages: readonly ChatMessage[];
  /** Validated function tools; empty when tool_choice is "none". */
  readonly tools: readonly ToolDefinition[];
  readonly toolChoice: ToolChoice;
  readonly reasoningEffort?: ReasoningEffort;
  /** vLLM's thinking_token_budget: most tokens the analysis channel may take. */
  readonly thinkingTokenBudget?: number;
  /** max_completion_tokens, else max_tokens; undefined = the rest of the context. */
  readonly maxTokens?: number;
  /** Which of the two the request used (named in a context-length error). */
  readonly maxTokensParam: 'max_completion_tokens' | 'max_tokens';
  readonly sampling: SamplingRequest;
  readonly logprobs: boolean;
  readonly topLogprobs: number;
  readonly stop: readonly string[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly responseFormat: ResponseFormat | null;
}

export interface TopLogprob {
  readonly token: string;
  readonly logprob: number;
  readonly bytes: number[];
}

export interface ChatTokenLogprob extends TopLogprob {
  readonly top_logprobs: TopLogprob[];
}

export interface ChatLogprobs {
  readonly content: ChatTokenLogprob[];
}

export interface WireToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

export interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  readonly prompt_tokens_details: { readonly cached_tokens: number };
}

export type ChatFinishReason = 'stop' | 'length' | 'tool_calls';

export interface ChatCompletionMessage {
  readonly role: 'assistant';
  readonly content: string | null;
  /** The analysis channel, under both names vLLM uses. */
  readonly reasoning_content: string | null;
  readonly reasoning: string | null;
  readonly tool_calls: WireToolCall[];
}

export interface ChatCompletion {
  readonly id: string;
  readonly object: 'chat.completion';
  readonly created: number;
  readonly model: string;
  readonly choices: Array<{
    readonly index: number;
    readonly message: ChatCompletionMessage;
    readonly logprobs: ChatLogprobs | null;
    readonly finish_reason: ChatFinishReason;
  }>;
  readonly usage: Usage;
}

export interface ChatDelta {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  reasoning?: string;
  tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } }>;
}

export interface ChatCompletionChunk {
  readonly id: string;
  readonly object: 'chat.completion.chunk';
  readonly created: number;
  readonly model: string;
  readonly choices: Array<{
    readonly index: number;
    readonly delta: ChatDelta;
    readonly logprobs: ChatLogprobs | null;
    readonly finish_reason: ChatFinishReason | null;
  }>;
  /** Present (null until the last chunk) when stream_options.include_usage. */
  readonly usage?: Usage | null;
}

// ---- /v1/completions ----

export interface CompletionRequest {
  readonly model: string | null;
  /** Text to encode (no chat template), or token ids used as they are. */
  readonly prompt: string | readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingRequest;
  /** Alternatives per token in the legacy logprobs object; null = no logprobs. */
  readonly logprobs: number | null;
  readonly stop: readonly string[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly responseFormat: ResponseFormat | null;
}

/** OpenAI's legacy per-token logprobs (one entry per generated token). */
export interface CompletionLogprobs {
  readonly tokens: string[];
  readonly token_logprobs: number[];
  readonly top_logprobs: Array<Record<string, number>>;
  readonly text_offset: number[];
}

export type CompletionFinishReason = 'stop' | 'length';

export interface Completion {
  readonly id: string;
  readonly object: 'text_completion';
  readonly created: number;
  readonly model: string;
  readonly choices: Array<{
    readonly index: number;
    readonly text: string;
    readonly logprobs: CompletionLogprobs | null;
    readonly finish_reason: CompletionFinishReason | null;
  }>;
  readonly usage?: Usage | null;
}

// ---- /v1/models ----

export interface ModelCard {
  readonly id: string;
  readonly object: 'model';
  readonly created: number;
  readonly owned_by: string;
  /** vLLM's extension: the context length. */
  readonly max_model_len: number;
}

export interface ModelList {
  readonly object: 'list';
  readonly data: ModelCard[];
}

// ---- /tokenize, /detokenize (vLLM's) ----

export type TokenizeRequest =
  | { readonly model: string | null; readonly prompt: string }
  /** Chat messages, rendered as for /v1/chat/completions (the prompt the model would see). */
  | { readonly model: string | null; readonly messages: readonly ChatMessage[]; readonly tools: readonly ToolDefinition[] };

export interface TokenizeResponse {
  readonly count: number;
  readonly max_model_len: number;
  readonly tokens: number[];
}

export interface DetokenizeRequest {
  readonly model: string | null;
  readonly tokens: readonly number[];
}

export interface DetokenizeResponse {
  readonly prompt: string;
}

// ---- parsers ----

function optModel(body: Fields): string | null {
  return optString(body, 'model') ?? null;
}

/** Most choices one request may ask for. */
export const MAX_N = 16;

/** temperature in [0, 2], top_p in (0, 1], seed an integer (OpenAI's defaults of 1 and 1), the
 *  penalties, logit_bias, n, and vLLM's extras (top_k, min_p, repetition_penalty, stop_token_ids). */
export function parseSampling(body: Fields): SamplingRequest {
  const temperature = optNumber(body, 'temperature', { min: 0, max: 2 }) ?? 1;
  const topP = optNumber(body, 'top_p', { min: 0, max: 1, exclusiveMin: true }) ?? 1;
  const seed = optNumber(body, 'seed', { integer: true });
  const topK = optNumber(body, 'top_k', { integer: true, min: -1 }) ?? 0;
  const n = optNumber(body, 'n', { integer: true, min: 1, max: MAX_N }) ?? 1;
  const bestOf = optNumber(body, 'best_of', { integer: true, min: 1 });
  if (bestOf !== undefined && bestOf !== n) throw invalid('best_of', 'best_of is not supported by this server (only best_of equal to n).', 'unsupported_parameter');
  return {
    temperature,
    topP,
    ...(seed !== undefined ? { seed } : {}),
    presencePenalty: optNumber(body, 'presence_penalty', { min: -2, max: 2 }) ?? 0,
    frequencyPenalty: optNumber(body, 'frequency_penalty', { min: -2, max: 2 }) ?? 0,
    repetitionPenalty: optNumber(body, 'repetition_penalty', { min: 0, exclusiveMin: true }) ?? 1,
    topK: topK < 0 ? 0 : topK,
    minP: optNumber(body, 'min_p', { min: 0, max: 1 }) ?? 0,
    logitBias: parseLogitBias(body),
    stopTokenIds: parseTokenIds(body, 'stop_token_ids'),
    n,
  };
}

function parseLogitBias(body: Fields): Map<number, number> {
  const raw = get(body, 'logit_bias');
  const out = new Map<number, number>();
  if (raw === undefined || raw === null) return out;
  const bias = requireObject(raw, 'logit_bias');
  for (const [key, value] of Object.entries(bias)) {
    const param = `logit_bias.${key}`;
    if (!/^(0|[1-9][0-9]*)$/.test(key) || !Number.isSafeInteger(Number(key))) throw invalid(param, `keys must be token ids (non-negative integers), got ${JSON.stringify(key)}.`);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(param, `expected a number, got ${typeName(value)}.`);
    if (value < -100 || value > 100) throw invalid(param, `${value} is outside the range [-100, 100].`);
    out.set(Number(key), value);
  }
  return out;
}

function parseTokenIds(body: Fields, key: string): number[] {
  const list = optArray(body, key) ?? [];
  return list.map((id, i) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw invalid(`${key}[${i}]`, `expected a non-negative integer token id, got ${JSON.stringify(id)}.`);
    return id;
  });
}

const SCHEMA_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** response_format (chat, completions): text, json_object, or json_schema with its schema. */
export function parseResponseFormat(body: Fields, key = 'response_format'): ResponseFormat | null {
  const raw = get(body, key);
  if (raw === undefined || raw === null) return null;
  const format = requireObject(raw, key);
  const type = get(format, 'type');
  if (type === 'text') return null;
  if (type === 'json_object') return { type };
  if (type !== 'json_schema') throw invalid(`${key}.type`, `expected one of 'text', 'json_object', 'json_schema', got ${JSON.stringify(type)}.`);
  const spec = get(format, 'json_schema');
  if (spec === undefined) throw missing(`${key}.json_schema`);
  return jsonSchemaFormat(requireObject(spec, `${key}.json_schema`), `${key}.json_schema`);
}

/** `{name, schema, strict?, description?}` (chat's json_schema object; the Responses API's format). */
export function jsonSchemaFormat(spec: Fields, param: string): ResponseFormat {
  const name = reqString(spec, 'name', param);
  if (!SCHEMA_NAME.test(name)) throw invalid(at(param, 'name'), 'must be 1-64 characters of a-z, A-Z, 0-9, _ and -.');
  const schema = get(spec, 'schema');
  if (schema === undefined) throw missing(at(param, 'schema'));
  // First: the prompt renderer and the grammar compiler both recurse through the schema.
  checkSchemaNesting(schema, at(param, 'schema'));
  const strict = optBoolean(spec, 'strict', param) ?? false;
  return { type: 'json_schema', name, schema: requireObject(schema, at(param, 'schema')) as JsonObject, strict };
}

function parseStreamOptions(body: Fields, stream: boolean): boolean {
  const options = optObject(body, 'stream_options');
  if (options === undefined) return false;
  if (!stream) throw invalid('stream_options', 'stream_options is only allowed when stream is true.');
  return optBoolean(options, 'include_usage', 'stream_options') ?? false;
}

export function parseReasoningEffort(o: Fields, key: string, parent = ''): ReasoningEffort | undefined {
  return optEnum(o, key, REASONING_EFFORTS, parent);
}

/** vLLM's `thinking_token_budget` (chat and, as this server's extension, responses). */
export function parseThinkingTokenBudget(body: Fields): number | undefined {
  return optNumber(body, 'thinking_token_budget', { integer: true, min: 0 });
}

/** Message content: a string or an array of text parts (joined). */
export function parseTextContent(value: unknown, param: string, partTypes: readonly string[] = ['text']): string {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) throw invalid(param, `expected a string or an array of content parts, got ${typeName(value)}.`);
  return value
    .map((part, i) => {
      const p = requireObject(part, `${param}[${i}]`);
      const type = get(p, 'type');
      if (typeof type !== 'string' || !partTypes.includes(type)) {
        throw invalid(`${param}[${i}].type`, `only ${partTypes.map((t) => `'${t}'`).join(', ')} content parts are supported, got ${JSON.stringify(type)}.`);
      }
      return reqString(p, 'text', `${param}[${i}]`);
    })
    .join('');
}

const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;

function parseToolCalls(message: Fields, param: string): ToolCall[] {
  const calls = optArray(message, 'tool_calls', param) ?? [];
  return calls.map((raw, j) => {
    const callAt = `${param}.tool_calls[${j}]`;
    const call = requireObject(raw, callAt);
    const type = get(call, 'type');
    if (type !== undefined && type !== 'function') throw invalid(`${callAt}.type`, `only 'function' tool calls are supported.`);
    const fn = requireObject(get(call, 'function'), `${callAt}.function`);
    const id = optString(call, 'id', callAt);
    return { ...(id !== undefined ? { id } : {}), name: reqString(fn, 'name', `${callAt}.function`), arguments: optString(fn, 'arguments', `${callAt}.function`) ?? '' };
  });
}

export function parseChatMessage(raw: unknown, param: string): ChatMessage {
  const message = requireObject(raw, param);
  const role = optEnum(message, 'role', CHAT_ROLES, param);
  if (role === undefined) throw missing(at(param, 'role'));
  const content = get(message, 'content');
  const text = (): string => {
    if (content === undefined) throw missing(at(param, 'content'));
    return parseTextContent(content, at(param, 'content'));
  };
  switch (role) {
    case 'system':
    case 'developer':
    case 'user':
      return { role, content: text() };
    case 'assistant': {
      const reasoning = optString(message, 'reasoning_content', param) ?? optString(message, 'reasoning', param) ?? null;
      const toolCalls = parseToolCalls(message, param);
      const answer = content === undefined ? null : parseTextContent(content, at(param, 'content'));
      if (answer === null && toolCalls.length === 0 && reasoning === null) throw missing(at(param, 'content'));
      return { role, content: answer, reasoning, toolCalls };
    }
    case 'tool': {
      const toolCallId = optString(message, 'tool_call_id', param);
      const name = optString(message, 'name', param);
      if (toolCallId === undefined && name === undefined) throw missing(at(param, 'tool_call_id'));
      return { role, content: text(), ...(toolCallId !== undefined ? { toolCallId } : {}), ...(name !== undefined ? { name } : {}) };
    }
  }
}

export function parseChatCompletionRequest(raw: unknown): ChatCompletionRequest {
  const body = requireObject(raw, '');
  const messagesRaw = get(body, 'messages');
  if (messagesRaw === undefined) throw missing('messages');
  if (!Array.isArray(messagesRaw)) throw invalid('messages', `expected an array, got ${typeName(messagesRaw)}.`);
  if (messagesRaw.length === 0) throw invalid('messages', 'at least one message is required.', 'empty_array');
  const messages = messagesRaw.map((m, i) => parseChatMessage(m, `messages[${i}]`));
  const maxCompletionTokens = optNumber(body, 'max_completion_tokens', { integer: true, min: 1 });
  const maxTokens = maxCompletionTokens ?? optNumber(body, 'max_tokens', { integer: true, min: 1 });
  const logprobs = optBoolean(body, 'logprobs') ?? false;
  const topLogprobs = optNumber(body, 'top_logprobs', { integer: true, min: 0, max: MAX_TOP_LOGPROBS }) ?? 0;
  if (topLogprobs > 0 && !logprobs) throw invalid('top_logprobs', 'logprobs must be true when top_logprobs is set.');
  const stream = optBoolean(body, 'stream') ?? false;
  const reasoningEffort = parseReasoningEffort(body, 'reasoning_effort');
  const thinkingTokenBudget = parseThinkingTokenBudget(body);
  return {
    model: optModel(body),
    messages,
    ...parseToolUse(body, 'chat'),
    ...(reasoningEffort !== undefined ? { reasoningEffort } : {}),
    ...(thinkingTokenBudget !== undefined ? { thinkingTokenBudget } : {}),
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    maxTokensParam: maxCompletionTokens !== undefined ? 'max_completion_tokens' : 'max_tokens',
    sampling: parseSampling(body),
    logprobs,
    topLogprobs,
    stop: optStopStrings(body, 'stop'),
    stream,
    includeUsage: parseStreamOptions(body, stream),
    responseFormat: parseResponseFormat(body),
  };
}

/** A string, token ids, or a one-element array of either. */
function parsePrompt(body: Fields): string | number[] {
  let prompt = get(body, 'prompt');
  if (prompt === undefined) throw missing('prompt');
  let param = 'prompt';
  if (Array.isArray(prompt) && prompt.length > 0 && (typeof prompt[0] === 'string' || Array.isArray(prompt[0]))) {
    if (prompt.length !== 1) throw invalid('prompt', 'batched prompts are not supported; send one prompt per request.', 'unsupported_parameter');
    prompt = prompt[0];
    param = 'prompt[0]';
  }
  if (typeof prompt === 'string') {
    if (prompt.length === 0) throw invalid(param, 'the prompt must not be empty.');
    return prompt;
  }
  if (!Array.isArray(prompt)) throw invalid(param, `expected a string or an array of token ids, got ${typeName(prompt)}.`);
  if (prompt.length === 0) throw invalid(param, 'the prompt must not be empty.');
  prompt.forEach((id, i) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw invalid(`${param}[${i}]`, 'expected a non-negative integer token id.');
  });
  return prompt as number[];
}

export function parseCompletionRequest(raw: unknown): CompletionRequest {
  const body = requireObject(raw, '');
  const prompt = parsePrompt(body);
  if (optBoolean(body, 'echo') === true) throw invalid('echo', 'echo is not supported.', 'unsupported_parameter');
  rejectUnsupported(body, 'suffix', (v) => v === '', 'suffix');
  const stream = optBoolean(body, 'stream') ?? false;
  return {
    model: optModel(body),
    prompt,
    // OpenAI's default for the legacy endpoint.
    maxTokens: optNumber(body, 'max_tokens', { integer: true, min: 1 }) ?? 16,
    sampling: parseSampling(body),
    logprobs: optNumber(body, 'logprobs', { integer: true, min: 0, max: MAX_COMPLETION_LOGPROBS }) ?? null,
    stop: optStopStrings(body, 'stop'),
    stream,
    includeUsage: parseStreamOptions(body, stream),
    responseFormat: parseResponseFormat(body),
  };
}

/** vLLM's /tokenize: `prompt` (special-token text becomes the special token, as on
 *  /v1/completions) or `messages` (+ `tools`). */
export function parseTokenizeRequest(raw: unknown): TokenizeRequest {
  const body = requireObject(raw, '');
  const model = optModel(body);
  if (get(body, 'messages') !== undefined) {
    const messages = optArray(body, 'messages')!;
    return { model, messages: messages.map((m, i) => parseChatMessage(m, `messages[${i}]`)), tools: parseToolUse(body, 'chat').tools };
  }
  const prompt = get(body, 'prompt');
  if (prompt === undefined) throw missing('prompt');
  if (typeof prompt !== 'string') throw invalid('prompt', `expected a string, got ${typeName(prompt)}.`);
  return { model, prompt };
}

export function parseDetokenizeRequest(raw: unknown): DetokenizeRequest {
  const body = requireObject(raw, '');
  const tokens = get(body, 'tokens');
  if (tokens === undefined) throw missing('tokens');
  if (!Array.isArray(tokens)) throw invalid('tokens', `expected an array of token ids, got ${typeName(tokens)}.`);
  tokens.forEach((id, i) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw invalid(`tokens[${i}]`, 'expected a non-negative integer token id.');
  });
  return { model: optModel(body), tokens: tokens as number[] };
}

/** The model a request names must be the one served (null: the served one). */
export function checkModel(requested: string | null, served: string): void {
  if (requested !== null && requested !== served) throw new ModelNotFoundError(requested);
}
