// The model's sampled tokens as OpenAI-shaped output, for chat completions and responses alike: the
// harmony streaming parser splits them into items (analysis -> reasoning, final and commentary
// preambles -> content, `to=functions.NAME` -> a tool call), stop strings cut the content, and each
// content delta carries the sampled tokens (with their logprobs) that produced it. Streaming and
// non-streaming endpoints both consume these events, so their results agree by construction.
import { HarmonyTokens, StreamingHarmonyParser, type HarmonyParserEvent, type HarmonyTokenizer, type ParsedMessageInfo } from '../../common/harmony/index.js';
import type { SampledToken } from '../../common/engine/sampler.js';
import type { FinishReason, GenerationEvent } from '../engine-core/engine-client.js';
import type { TokenCounts } from './generation.js';
import { StopStringMatcher } from './stop-strings.js';

export type OutputPart = 'reasoning' | 'content' | 'tool_call';

export type OutputFinishReason = 'stop' | 'length' | 'tool_calls' | 'abort';

export interface ToolCallItem {
  readonly name: string;
  /** "call_…", made by the caller's `newCallId`. */
  readonly callId: string;
}

export type OutputEvent =
  | { readonly type: 'item-start'; readonly part: OutputPart; readonly call?: ToolCallItem }
  | { readonly type: 'delta'; readonly part: OutputPart; readonly text: string; readonly tokens: readonly SampledToken[] }
  | { readonly type: 'item-end'; readonly part: OutputPart; readonly text: string; readonly call?: ToolCallItem }
  | { readonly type: 'done'; readonly finishReason: OutputFinishReason; readonly counts: OutputCounts };

export interface OutputCounts extends TokenCounts {
  /** Tokens sampled inside reasoning items. */
  readonly reasoningTokens: number;
}

export interface HarmonyOutputOptions {
  readonly promptTokens: number;
  /** Stop strings, matched on the text of each content item. */
  readonly stop: readonly string[];
  /** Aborted when a stop string matches, to end the generation early. */
  readonly abort: AbortController;
  readonly newCallId: () => string;
  readonly tokenizer?: HarmonyTokenizer;
}

// Tokens that delimit messages; every other token's bytes can end up in some message's text.
const STRUCTURAL: ReadonlySet<number> = new Set([
  HarmonyTokens.START,
  HarmonyTokens.END,
  HarmonyTokens.MESSAGE,
  HarmonyTokens.RETURN,
  HarmonyTokens.CALL,
  HarmonyTokens.ENDOFTEXT,
]);
const FUNCTIONS = 'functions.';

interface OpenItem {
  /** 'ignored': messages the model wrote in another role's name. */
  readonly part: OutputPart | 'ignored';
  readonly call?: ToolCallItem;
  readonly matcher: StopStringMatcher<SampledToken> | null;
  text: string;
}

function partOf(info: ParsedMessageInfo): OutputPart | 'ignored' {
  if (info.role !== 'assistant') return 'ignored';
  if (info.recipient?.startsWith(FUNCTIONS)) return 'tool_call';
  // Built-in tools (python, browser.*) are chain of thought, as vLLM treats them.
  if (info.channel === 'analysis' || (info.recipient !== null && info.recipient !== 'all')) return 'reasoning';
  return 'content';
}

class HarmonyOutput {
  private readonly parser: StreamingHarmonyParser;
  private current: OpenItem | null = null;
  /** Tokens of a header not yet closed by <|message|>: the content if the header never closes. */
  private headerTokens: SampledToken[] = [];
  private stopMatched = false;
  private completionTokens = 0;
  private reasoningTokens = 0;
  private toolCalls = 0;
  private engineDone: Extract<GenerationEvent, { type: 'done' }> | null = null;

  constructor(private readonly opts: HarmonyOutputOptions) {
    this.parser = new StreamingHarmonyParser(opts.tokenizer ? { tokenizer: opts.tokenizer } : {});
  }

  get stopped(): boolean {
    return this.stopMatched;
  }

  done(event: Extract<GenerationEvent, { type: 'done' }>): void {
    this.engineDone = event;
  }

  token(token: SampledToken): OutputEvent[] {
    this.completionTokens++;
    const plain = !STRUCTURAL.has(token.id);
    const before = this.current;
    if (before === null && plain) this.headerTokens.push(token);
    if (before?.part === 'reasoning') this.reasoningTokens++;
    const out: OutputEvent[] = [];
    const attributed = this.handle(this.parser.push(token.id), plain && before !== null ? token : null, out);
    // A token that ends in the middle of a character produces no text yet, but is still content.
    if (!attributed && plain && before !== null && this.current === before) this.feed('', [token], out);
    return out;
  }

  finish(): OutputEvent[] {
    const out: OutputEvent[] = [];
    if (!this.stopMatched) this.handle(this.parser.finish(), null, out);
    out.push({ type: 'done', finishReason: this.finishReason(), counts: this.counts() });
    return out;
  }

  /** Returns whether `token` was given to a delta. */
  private handle(events: HarmonyParserEvent[], token: SampledToken | null, out: OutputEvent[]): boolean {
    let attributed = false;
    let lump: SampledToken[] | null = null;
    for (const e of events) {
      if (this.stopMatched) break;
      if (e.type === 'message-start') {
        lump = this.headerTokens;
        this.headerTokens = [];
        this.open(e, out);
      } else if (e.type === 'content-delta') {
        // Text right after an opening is a header that never closed: its tokens are the content.
        if (lump !== null) {
          this.feed(e.delta, lump, out);
          lump = [];
        } else if (token !== null && !attributed) {
          this.feed(e.delta, [token], out);
          attributed = true;
        } else this.feed(e.delta, [], out);
      } else if (e.type === 'message-end') {
        this.close(out);
      }
    }
    return attributed;
  }

  private open(info: ParsedMessageInfo, out: OutputEvent[]): void {
    const part = partOf(info);
    const call = part === 'tool_call' ? { name: info.recipient!.slice(FUNCTIONS.length), callId: this.opts.newCallId() } : undefined;
    const matcher = part === 'content' ? new StopStringMatcher<SampledToken>(this.opts.stop) : null;
    this.current = { part, matcher, text: '', ...(call ? { call } : {}) };
    if (part !== 'ignored') out.push({ type: 'item-start', part, ...(call ? { call } : {}) });
  }

  private feed(text: string, tokens: readonly SampledToken[], out: OutputEvent[]): void {
    const item = this.current;
    if (item === null || item.part === 'ignored') return;
    if (item.matcher === null) {
      this.emit(item, text, [], out);
      return;
    }
    const released = item.matcher.push(text, tokens);
    this.emit(item, released.text, released.items.map((e) => e.item), out);
    if (item.matcher.stopped) {
      this.stopMatched = true;
      this.close(out);
      this.opts.abort.abort();
    }
  }

  private emit(item: OpenItem, text: string, tokens: readonly SampledToken[], out: OutputEvent[]): void {
    if (item.part === 'ignored' || (text.length === 0 && tokens.length === 0)) return;
    item.text += text;
    out.push({ type: 'delta', part: item.part, text, tokens });
  }

  private close(out: OutputEvent[]): void {
    const item = this.current;
    if (item === null) return;
    this.current = null;
    if (item.part === 'ignored') return;
    if (item.matcher !== null && !item.matcher.stopped) {
      const rest = item.matcher.flush();
      this.emit(item, rest.text, rest.items.map((e) => e.item), out);
    }
    if (item.part === 'tool_call') this.toolCalls++;
    out.push({ type: 'item-end', part: item.part, text: item.text, ...(item.call ? { call: item.call } : {}) });
  }

  private finishReason(): OutputFinishReason {
    if (this.stopMatched) return 'stop';
    const reason: FinishReason = this.engineDone?.finishReason ?? 'abort';
    if (reason === 'stop' && this.toolCalls > 0) return 'tool_calls';
    return reason;
  }

  private counts(): OutputCounts {
    return {
      promptTokens: this.engineDone?.promptTokens ?? this.opts.promptTokens,
      completionTokens: this.completionTokens,
      cachedPromptTokens: this.engineDone?.cachedPromptTokens ?? 0,
      reasoningTokens: this.reasoningTokens,
    };
  }
}

/** The output events of one generation; ends with exactly one 'done'. */
export async function* harmonyOutput(events: AsyncIterable<GenerationEvent>, opts: HarmonyOutputOptions): AsyncGenerator<OutputEvent> {
  const output = new HarmonyOutput(opts);
  try {
    for await (const event of events) {
      if (event.type === 'done') output.done(event);
      else if (!output.stopped) yield* output.token(event.token);
    }
  } catch (err) {
    // After a stop string the generation was aborted on purpose; how it ended does not matter.
    if (!output.stopped) throw err;
  }
  yield* output.finish();
}
