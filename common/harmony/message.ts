// One harmony message to tokens:
//   <|start|>{role or tool name}[ to={recipient}][<|channel|>{channel}][ {content type}]<|message|>{content}<|end|>
// following openai/harmony's Render<Message> (src/encoding.rs): each header piece is tokenized on
// its own (so BPE never merges across pieces), a content type starting with `<|constrain|>` keeps
// that marker as the special token, and an assistant message with a recipient ends in <|call|>.
import { HarmonyRenderError } from './errors.js';
import { getHarmonyTokenizer, HarmonyTokens, type HarmonyTokenizer } from './tokenizer.js';

export type HarmonyRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';
export const HARMONY_ROLES: readonly HarmonyRole[] = ['system', 'developer', 'user', 'assistant', 'tool'];

export interface HarmonyMessage {
  role: HarmonyRole;
  /** Author name. Required for tool messages, where it replaces the role (`functions.get_weather`);
   *  for other roles it renders as `role:name`. */
  name?: string;
  channel?: string;
  recipient?: string;
  /** e.g. `<|constrain|>json`. */
  contentType?: string;
  /**
   * Where ` to={recipient}` goes. 'afterRole' (default) is what openai-harmony renders;
   * 'afterChannel' is what gpt-oss itself emits for tool calls
   * (`<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>`).
   */
  recipientPosition?: 'afterRole' | 'afterChannel';
  content: string;
}

const CONSTRAIN_TEXT = '<|constrain|>';

export function renderMessage(message: HarmonyMessage, tokenizer: HarmonyTokenizer = getHarmonyTokenizer()): number[] {
  const out: number[] = [HarmonyTokens.START];
  const text = (s: string): void => {
    for (const id of tokenizer.encode(s)) out.push(id);
  };
  if (!HARMONY_ROLES.includes(message.role)) {
    throw new HarmonyRenderError('role', `unknown harmony role ${JSON.stringify(message.role)}`);
  }
  if (typeof message.content !== 'string') throw new HarmonyRenderError('content', 'must be a string');
  if (message.role === 'tool') {
    if (typeof message.name !== 'string' || message.name.length === 0) {
      throw new HarmonyRenderError('name', 'a tool message needs the name of the tool it comes from');
    }
    text(message.name);
  } else {
    text(message.role);
    if (message.name !== undefined) text(`:${message.name}`);
  }

  const recipient = message.recipient !== undefined && message.recipient !== 'all' ? ` to=${message.recipient}` : null;
  const afterChannel = message.recipientPosition === 'afterChannel';
  if (recipient !== null && !afterChannel) text(recipient);
  if (message.channel !== undefined) {
    out.push(HarmonyTokens.CHANNEL);
    text(message.channel);
  }
  if (recipient !== null && afterChannel) text(recipient);
  if (message.contentType !== undefined) {
    if (message.contentType.startsWith(CONSTRAIN_TEXT)) {
      text(' ');
      out.push(HarmonyTokens.CONSTRAIN);
      const rest = message.contentType.slice(CONSTRAIN_TEXT.length);
      if (rest.length > 0) text(rest);
    } else {
      text(` ${message.contentType}`);
    }
  }

  out.push(HarmonyTokens.MESSAGE);
  text(message.content);
  out.push(message.role === 'assistant' && message.recipient !== undefined ? HarmonyTokens.CALL : HarmonyTokens.END);
  return out;
}
