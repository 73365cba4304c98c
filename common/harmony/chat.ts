// OpenAI-style chat messages to harmony messages, with the semantics of vLLM's gpt-oss serving:
// the harmony system message is always generated from the options; the request's leading
// system/developer messages become the developer message's `# Instructions`; function tools are
// declared in that developer message.
import {
  DEFAULT_KNOWLEDGE_CUTOFF,
  DEFAULT_MODEL_IDENTITY,
  DEFAULT_VALID_CHANNELS,
  developerContentText,
  systemContentText,
  type ReasoningEffort,
  type ResponseFormatSpec,
} from './content.js';
import { HarmonyRenderError } from './errors.js';
import { isJsonObject } from './json.js';
import type { HarmonyMessage } from './message.js';
import { FUNCTION_NAME_PATTERN, normalizeToolDefinitions, type ToolDefinition } from './tool-definitions.js';
import type { HarmonyTokenizer } from './tokenizer.js';

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id?: string;
  name: string;
  /** The arguments as the JSON text the model produced (rendered verbatim). */
  arguments: string;
}

export interface InstructionChatMessage {
  role: 'system' | 'developer';
  content: string;
}

export interface UserChatMessage {
  role: 'user';
  content: string;
}

export interface AssistantChatMessage {
  role: 'assistant';
  /** Answer text (final channel), or the preamble before tool calls (commentary channel). */
  content: string | null;
  /** Chain of thought (analysis channel). */
  reasoning?: string | null;
  toolCalls?: readonly ToolCall[];
}

export interface ToolChatMessage {
  role: 'tool';
  content: string;
  /** Name of the function this result answers; looked up from toolCallId when absent. */
  name?: string;
  toolCallId?: string;
}

export type ChatMessage = InstructionChatMessage | UserChatMessage | AssistantChatMessage | ToolChatMessage;

export interface RenderOptions {
  /** Default 'medium'. */
  reasoningEffort?: ReasoningEffort;
  /** YYYY-MM-DD; default today (UTC); null leaves the line out. */
  currentDate?: string | null;
  /** Default '2024-06'; null leaves the line out. */
  knowledgeCutoff?: string | null;
  /** Default "You are ChatGPT, a large language model trained by OpenAI."; null leaves it out. */
  modelIdentity?: string | null;
  tools?: readonly ToolDefinition[];
  /** The answer's JSON schema, told to the model in the developer message. */
  responseFormat?: ResponseFormatSpec | null;
  /** Drop chain of thought of turns that ended in a final answer (default true). */
  autoDropAnalysis?: boolean;
  tokenizer?: HarmonyTokenizer;
}

const EFFORTS: readonly ReasoningEffort[] = ['low', 'medium', 'high'];
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function optionalText(value: unknown, fallback: string, param: string): string | null {
  if (value === undefined) return fallback;
  if (value === null || typeof value === 'string') return value;
  throw new HarmonyRenderError(param, 'must be a string or null');
}

function stringField(message: Record<string, unknown>, key: string, at: string): string {
  const value = message[key];
  if (typeof value !== 'string') throw new HarmonyRenderError(`${at}.${key}`, 'must be a string');
  return value;
}

/** The system message text for these options (`hasFunctionTools` from the tools). */
function systemMessage(options: RenderOptions, hasFunctionTools: boolean): HarmonyMessage {
  const effort = options.reasoningEffort ?? 'medium';
  if (!EFFORTS.includes(effort)) throw new HarmonyRenderError('reasoningEffort', 'must be "low", "medium" or "high"');
  const currentDate = optionalText(options.currentDate, new Date().toISOString().slice(0, 10), 'currentDate');
  if (currentDate !== null && !DATE_PATTERN.test(currentDate)) throw new HarmonyRenderError('currentDate', 'must be YYYY-MM-DD');
  const content = systemContentText({
    modelIdentity: optionalText(options.modelIdentity, DEFAULT_MODEL_IDENTITY, 'modelIdentity'),
    knowledgeCutoff: optionalText(options.knowledgeCutoff, DEFAULT_KNOWLEDGE_CUTOFF, 'knowledgeCutoff'),
    currentDate,
    reasoningEffort: effort,
    validChannels: DEFAULT_VALID_CHANNELS,
    channelRequired: true,
    hasFunctionTools,
  });
  return { role: 'system', content };
}

/** The whole harmony conversation for `messages`: system, developer (when there are
 *  instructions or tools), then the history. */
export function buildHarmonyConversation(messages: readonly ChatMessage[], options: RenderOptions = {}): HarmonyMessage[] {
  if (!Array.isArray(messages)) throw new HarmonyRenderError('messages', 'must be an array');
  const tools = normalizeToolDefinitions(options.tools);
  const out: HarmonyMessage[] = [systemMessage(options, tools.length > 0)];

  const instructions: string[] = [];
  let i = 0;
  for (; i < messages.length; i++) {
    const message: unknown = messages[i];
    if (!isJsonObject(message) || (message['role'] !== 'system' && message['role'] !== 'developer')) break;
    const content = stringField(message, 'content', `messages[${i}]`);
    if (content.length > 0) instructions.push(content);
  }
  const responseFormat = options.responseFormat ?? null;
  if (instructions.length > 0 || tools.length > 0 || responseFormat) {
    const content = developerContentText({ instructions: instructions.length > 0 ? instructions.join('\n\n') : null, tools, responseFormat });
    out.push({ role: 'developer', content });
  }

  const callNames = new Map<string, string>();
  for (; i < messages.length; i++) {
    for (const harmony of convertMessage(messages[i], `messages[${i}]`, callNames)) out.push(harmony);
  }
  return out;
}

function convertMessage(message: unknown, at: string, callNames: Map<string, string>): HarmonyMessage[] {
  if (!isJsonObject(message)) throw new HarmonyRenderError(at, 'must be an object');
  const role = message['role'];
  switch (role) {
    case 'system':
    case 'developer':
      // Instructions that arrive mid-conversation stay where they were given.
      return [{ role: 'developer', content: developerContentText({ instructions: stringField(message, 'content', at), tools: [] }) }];
    case 'user':
      return [{ role: 'user', content: stringField(message, 'content', at) }];
    case 'assistant':
      return convertAssistant(message, at, callNames);
    case 'tool': {
      const content = stringField(message, 'content', at);
      const callId = message['toolCallId'];
      const name = message['name'] ?? (typeof callId === 'string' ? callNames.get(callId) : undefined);
      if (typeof name !== 'string' || !FUNCTION_NAME_PATTERN.test(name)) {
        throw new HarmonyRenderError(`${at}.name`, 'a tool message needs the name of the function it answers (name, or a toolCallId of an earlier tool call)');
      }
      return [{ role: 'tool', name: `functions.${name}`, recipient: 'assistant', channel: 'commentary', content }];
    }
    default:
      throw new HarmonyRenderError(`${at}.role`, `unknown role ${JSON.stringify(role)}`);
  }
}

function convertAssistant(message: Record<string, unknown>, at: string, callNames: Map<string, string>): HarmonyMessage[] {
  const content = message['content'] ?? '';
  if (typeof content !== 'string') throw new HarmonyRenderError(`${at}.content`, 'must be a string or null');
  const reasoning = message['reasoning'] ?? '';
  if (typeof reasoning !== 'string') throw new HarmonyRenderError(`${at}.reasoning`, 'must be a string or null');
  const calls = message['toolCalls'] ?? [];
  if (!Array.isArray(calls)) throw new HarmonyRenderError(`${at}.toolCalls`, 'must be an array');

  const out: HarmonyMessage[] = [];
  if (reasoning.length > 0) out.push({ role: 'assistant', channel: 'analysis', content: reasoning });
  // Text next to tool calls is a preamble, which gpt-oss writes on the commentary channel.
  if (content.length > 0) out.push({ role: 'assistant', channel: calls.length > 0 ? 'commentary' : 'final', content });
  calls.forEach((call: unknown, j) => {
    const callAt = `${at}.toolCalls[${j}]`;
    if (!isJsonObject(call)) throw new HarmonyRenderError(callAt, 'must be an object');
    const name = call['name'];
    if (typeof name !== 'string' || !FUNCTION_NAME_PATTERN.test(name)) {
      throw new HarmonyRenderError(`${callAt}.name`, 'must be 1-64 characters of a-z, A-Z, 0-9, _ and -');
    }
    const args = stringField(call, 'arguments', callAt);
    const id = call['id'];
    if (typeof id === 'string') callNames.set(id, name);
    // Rendered the way the model emits a call, so a re-rendered history repeats the sampled tokens.
    out.push({
      role: 'assistant',
      channel: 'commentary',
      recipient: `functions.${name}`,
      recipientPosition: 'afterChannel',
      contentType: '<|constrain|>json',
      content: args,
    });
  });
  return out;
}
