// Incremental parsing of gpt-oss output. Token ids arrive one at a time, starting right after the
// prompt's `<|start|>assistant`, and come out as events: a message opens (role, channel,
// recipient), its text streams per channel (UTF-8 safe), it closes (and, when addressed to
// `functions.NAME`, yields a complete tool call), and generation is done at <|return|> or <|call|>.
// Malformed output never throws: text without a header is final-channel content.
import type { ToolCall } from './chat.js';
import { extractChannel, parseHeader, type MessageHeader } from './header.js';
import { getHarmonyTokenizer, HarmonyTokens, type HarmonyTokenizer, type StreamingDecoder } from './tokenizer.js';

/** Sampling stops on these: <|return|> (answer done) and <|call|> (tool call to run). */
export const STOP_TOKEN_IDS: readonly number[] = Object.freeze([HarmonyTokens.RETURN, HarmonyTokens.CALL]);

export type StopReason = 'return' | 'call' | 'endoftext';
/** What closed a message: its own end token, a stop token, a new `<|start|>`, or end of input. */
export type MessageTerminator = 'end' | StopReason | 'start' | 'eos';

export interface ParsedMessageInfo {
  role: string;
  /** Author name of tool-authored messages, else null. */
  name: string | null;
  /** 'final' when the model gave none (or 'commentary' when it named a recipient). */
  channel: string;
  recipient: string | null;
  contentType: string | null;
}

export interface ParsedMessage extends ParsedMessageInfo {
  content: string;
  terminator: MessageTerminator;
}

export type HarmonyParserEvent =
  | ({ type: 'message-start' } & ParsedMessageInfo)
  | { type: 'content-delta'; channel: string; recipient: string | null; delta: string }
  | ({ type: 'tool-call' } & ToolCall)
  | ({ type: 'message-end' } & ParsedMessage)
  | { type: 'done'; stopReason: StopReason };

export interface StreamingHarmonyParserOptions {
  tokenizer?: HarmonyTokenizer;
  /** Role the prompt already opened (default 'assistant', for a prompt ending in
   *  `<|start|>assistant`); null when the ids begin with `<|start|>`. */
  role?: string | null;
}

// Real headers are a few tokens ("<|channel|>commentary to=functions.f <|constrain|>json"); this
// many without <|message|> means the model is writing text with no header.
const MAX_HEADER_TOKENS = 64;
// Header text is ASCII words, `to=` recipients, `<|channel|>`/`<|constrain|>` and spaces; after a
// prompt's `<|start|>assistant` it starts with `<|channel|>` or ` to=`. Tokens that cannot begin
// such a header are text written without one, so it streams at once instead of being held back.
const HEADER_CHARS = /^[A-Za-z0-9_.:=/@<|> -]*$/;
const AFTER_ROLE = /^(?:<\|channel\|>|\s*t(?:o(?:=|$)|$)|\s*$)/;
const FUNCTIONS_PREFIX = 'functions.';
const LEADING_ROLE = /^(system|developer|user|assistant|tool)(?=$|[\s<])/;

type State =
  | { kind: 'expect-start' }
  | { kind: 'header'; presetRole: string | null; tokens: number[] }
  | { kind: 'content'; info: ParsedMessageInfo; decoder: StreamingDecoder; chunks: string[] };

function terminatorOf(id: number): 'end' | StopReason | null {
  switch (id) {
    case HarmonyTokens.END:
      return 'end';
    case HarmonyTokens.RETURN:
      return 'return';
    case HarmonyTokens.CALL:
      return 'call';
    case HarmonyTokens.ENDOFTEXT:
      return 'endoftext';
    default:
      return null;
  }
}

function infoOf(header: MessageHeader): ParsedMessageInfo {
  const channel = header.channel ?? (header.recipient !== null ? 'commentary' : 'final');
  return { role: header.role, name: header.name, channel, recipient: header.recipient, contentType: header.contentType };
}

export class StreamingHarmonyParser {
  private readonly tokenizer: HarmonyTokenizer;
  private state: State;
  private stop: StopReason | null = null;
  private finished = false;

  constructor(options: StreamingHarmonyParserOptions = {}) {
    this.tokenizer = options.tokenizer ?? getHarmonyTokenizer();
    const role = options.role === undefined ? 'assistant' : options.role;
    this.state = role === null ? { kind: 'expect-start' } : { kind: 'header', presetRole: role, tokens: [] };
  }

  /** True once a stop token was seen; later ids are ignored. */
  get done(): boolean {
    return this.stop !== null;
  }

  get stopReason(): StopReason | null {
    return this.stop;
  }

  push(id: number): HarmonyParserEvent[] {
    if (this.stop !== null || this.finished) return [];
    const events: HarmonyParserEvent[] = [];
    const terminator = terminatorOf(id);
    const state = this.state;
    switch (state.kind) {
      case 'expect-start':
        if (id === HarmonyTokens.START) this.state = { kind: 'header', presetRole: null, tokens: [] };
        // Anything but a stray end token means the model skipped `<|start|>assistant`.
        else if (terminator === null) this.state = { kind: 'header', presetRole: 'assistant', tokens: [id] };
        break;
      case 'header':
        if (id === HarmonyTokens.MESSAGE) {
          const header = parseHeader(this.tokenizer.decode(state.tokens), state.presetRole);
          this.open(infoOf(header), this.tokenizer.streamingDecoder(), '', events);
        } else if (id === HarmonyTokens.START || terminator !== null) {
          if (state.tokens.length > 0) {
            this.openHeaderless(state, events);
            this.close(id === HarmonyTokens.START ? 'start' : terminator!, events);
          }
          this.state = id === HarmonyTokens.START ? { kind: 'header', presetRole: null, tokens: [] } : { kind: 'expect-start' };
        } else {
          state.tokens.push(id);
          if (state.tokens.length > MAX_HEADER_TOKENS || !this.couldBeHeader(state)) this.openHeaderless(state, events);
        }
        break;
      case 'content':
        if (terminator !== null) this.close(terminator, events);
        else if (id === HarmonyTokens.START) {
          // The model began a new message without ending this one.
          this.close('start', events);
          this.state = { kind: 'header', presetRole: null, tokens: [] };
        } else this.append(state, state.decoder.push(id), events);
        break;
    }
    if (terminator !== null && terminator !== 'end') {
      this.stop = terminator;
      events.push({ type: 'done', stopReason: terminator });
    }
    return events;
  }

  private couldBeHeader(state: { presetRole: string | null; tokens: number[] }): boolean {
    const text = this.tokenizer.decode(state.tokens);
    if (!HEADER_CHARS.test(text)) return false;
    return state.presetRole === null || AFTER_ROLE.test(text);
  }

  /** End of input without a stop token (length limit, abort): closes the open message. */
  finish(): HarmonyParserEvent[] {
    if (this.stop !== null || this.finished) return [];
    this.finished = true;
    const events: HarmonyParserEvent[] = [];
    if (this.state.kind === 'header' && this.state.tokens.length > 0) this.openHeaderless(this.state, events);
    if (this.state.kind === 'content') this.close('eos', events);
    return events;
  }

  private open(info: ParsedMessageInfo, decoder: StreamingDecoder, text: string, events: HarmonyParserEvent[]): void {
    const state: State = { kind: 'content', info, decoder, chunks: [] };
    this.state = state;
    events.push({ type: 'message-start', ...info });
    this.append(state, text, events);
  }

  // Tokens that never reached <|message|>: their text is the content. A `<|channel|>x` among them
  // still names the channel (as harmony's non-strict parsing does).
  private openHeaderless(state: { presetRole: string | null; tokens: number[] }, events: HarmonyParserEvent[]): void {
    const decoder = this.tokenizer.streamingDecoder();
    let text = '';
    for (const id of state.tokens) text += decoder.push(id);
    let role = state.presetRole;
    if (role === null) {
      // After a bare <|start|> the role word is header, not content.
      const named = LEADING_ROLE.exec(text);
      role = named?.[1] ?? 'assistant';
      if (named) text = text.slice(named[0].length).trimStart();
    }
    const { channel, rest } = extractChannel(text);
    const info: ParsedMessageInfo = {
      role,
      name: null,
      channel: channel ?? 'final',
      recipient: null,
      contentType: null,
    };
    this.open(info, decoder, channel !== null ? rest.trimStart() : text, events);
  }

  private append(state: { info: ParsedMessageInfo; chunks: string[] }, delta: string, events: HarmonyParserEvent[]): void {
    if (delta.length === 0) return;
    state.chunks.push(delta);
    events.push({ type: 'content-delta', channel: state.info.channel, recipient: state.info.recipient, delta });
  }

  private close(terminator: MessageTerminator, events: HarmonyParserEvent[]): void {
    const state = this.state;
    if (state.kind !== 'content') return;
    this.append(state, state.decoder.flush(), events);
    const content = state.chunks.join('');
    const { info } = state;
    if (info.role === 'assistant' && info.recipient?.startsWith(FUNCTIONS_PREFIX)) {
      events.push({ type: 'tool-call', name: info.recipient.slice(FUNCTIONS_PREFIX.length), arguments: content });
    }
    events.push({ type: 'message-end', ...info, content, terminator });
    this.state = { kind: 'expect-start' };
  }
}

export interface ParsedCompletion {
  /** Analysis-channel text (and payloads for non-function recipients), messages joined by '\n'. */
  reasoning: string | null;
  /** Final-channel text and commentary preambles, joined by '\n'. */
  content: string | null;
  toolCalls: ToolCall[];
  /** 'incomplete' when the ids ran out before a stop token. */
  stopReason: StopReason | 'incomplete';
  messages: ParsedMessage[];
}

/** A whole completion (the ids sampled after `<|start|>assistant`) parsed at once. */
export function parseCompletion(ids: readonly number[], options: StreamingHarmonyParserOptions = {}): ParsedCompletion {
  const parser = new StreamingHarmonyParser(options);
  const events: HarmonyParserEvent[] = [];
  for (const id of ids) for (const event of parser.push(id)) events.push(event);
  for (const event of parser.finish()) events.push(event);

  const reasoning: string[] = [];
  const content: string[] = [];
  const toolCalls: ToolCall[] = [];
  const messages: ParsedMessage[] = [];
  for (const event of events) {
    if (event.type === 'tool-call') toolCalls.push({ name: event.name, arguments: event.arguments });
    if (event.type !== 'message-end') continue;
    const { type: _type, ...message } = event;
    messages.push(message);
    if (message.role !== 'assistant' || message.recipient?.startsWith(FUNCTIONS_PREFIX)) continue;
    if (message.content.length === 0) continue;
    // Built-in tool calls (python, browser.*) are part of the chain of thought, as vLLM treats them.
    const toOther = message.recipient !== null && message.recipient !== 'all';
    (message.channel === 'analysis' || toOther ? reasoning : content).push(message.content);
  }
  return {
    reasoning: reasoning.length > 0 ? reasoning.join('\n') : null,
    content: content.length > 0 ? content.join('\n') : null,
    toolCalls,
    stopReason: parser.stopReason ?? 'incomplete',
    messages,
  };
}
