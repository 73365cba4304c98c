// Conversations to prompt tokens for gpt-oss.
import { buildHarmonyConversation, type ChatMessage, type RenderOptions } from './chat.js';
import { renderMessage, type HarmonyMessage, type HarmonyRole } from './message.js';
import { getHarmonyTokenizer, HarmonyTokens, type HarmonyTokenizer } from './tokenizer.js';

export { HarmonyRenderError } from './errors.js';
export { renderMessage, HARMONY_ROLES, type HarmonyMessage, type HarmonyRole } from './message.js';
export {
  buildHarmonyConversation,
  type AssistantChatMessage,
  type ChatMessage,
  type ChatRole,
  type InstructionChatMessage,
  type RenderOptions,
  type ToolCall,
  type ToolChatMessage,
  type UserChatMessage,
} from './chat.js';
export type { FunctionDefinition, ToolDefinition } from './tool-definitions.js';
export type { ReasoningEffort } from './content.js';

export interface HarmonyConversationOptions {
  /** Drop chain of thought of turns that ended in a final answer (default true). */
  autoDropAnalysis?: boolean;
  /** Role of the turn to be sampled, appended as `<|start|>{role}`; null appends nothing.
   *  Default 'assistant'. */
  nextRole?: HarmonyRole | null;
  tokenizer?: HarmonyTokenizer;
}

/**
 * Which messages are chain of thought to leave out: assistant analysis messages followed by a
 * final answer and then by a user message, i.e. reasoning of a finished earlier turn. The
 * reasoning of the turn in progress (tool calls, no final yet) stays, since the model continues
 * from it. This reproduces all of openai/harmony's auto-drop test renderings.
 */
function droppedAnalysis(messages: readonly HarmonyMessage[]): boolean[] {
  const dropped = new Array<boolean>(messages.length).fill(false);
  let userLater = false;
  let finishedTurnLater = false;
  for (let i = messages.length - 1; i >= 0; i--) {
    const { role, channel } = messages[i]!;
    if (role === 'user') userLater = true;
    else if (role === 'assistant' && channel === 'final' && userLater) finishedTurnLater = true;
    else if (role === 'assistant' && channel === 'analysis') dropped[i] = finishedTurnLater;
  }
  return dropped;
}

/** Harmony messages to tokens, dropping finished turns' analysis, then `<|start|>{nextRole}`. */
export function renderHarmonyConversation(messages: readonly HarmonyMessage[], options: HarmonyConversationOptions = {}): number[] {
  const tokenizer = options.tokenizer ?? getHarmonyTokenizer();
  const dropped = (options.autoDropAnalysis ?? true) ? droppedAnalysis(messages) : null;
  const out: number[] = [];
  messages.forEach((message, i) => {
    if (dropped?.[i]) return;
    for (const id of renderMessage(message, tokenizer)) out.push(id);
  });
  const nextRole = options.nextRole === undefined ? 'assistant' : options.nextRole;
  if (nextRole !== null) {
    out.push(HarmonyTokens.START);
    for (const id of tokenizer.encode(nextRole)) out.push(id);
  }
  return out;
}

/**
 * The prompt for the next assistant turn: harmony system message (from options), developer
 * message (instructions + function tools), the history, and a trailing `<|start|>assistant`.
 * Earlier assistant answers end in <|end|>, never <|return|>. Throws HarmonyRenderError on bad input.
 */
export function renderConversation(messages: readonly ChatMessage[], options: RenderOptions = {}): number[] {
  return renderHarmonyConversation(buildHarmonyConversation(messages, options), {
    autoDropAnalysis: options.autoDropAnalysis ?? true,
    nextRole: 'assistant',
    ...(options.tokenizer ? { tokenizer: options.tokenizer } : {}),
  });
}
