// Structured output inside harmony: the model still writes its own message headers and its
// analysis channel freely, and only the body that answers is constrained. A header is forced onto
// one of the allowed ones (analysis; final; a call to one of the tools), token by token along a
// trie of their rendered tokens, so that even a model that never writes a header lands in one.
// The final channel's body follows the response format's grammar, ending in <|return|>; a call's
// arguments follow its tool's parameter schema (strict tools), ending in <|call|>.
// Two limits make the answer come within the token budget: a forced call (no final channel is
// offered, only calls) and an analysis budget: past it the analysis message is ended (<|end|> is
// the only token allowed) and no new analysis message may start, so the next header is the final
// channel's or a call's.
import type { CompiledGrammar } from '@mlc-ai/web-xgrammar';
import type { LogitsProcessor } from '../engine/logits-processors.js';
import { HarmonyTokens, renderMessage, type HarmonyMessage, type HarmonyTokenizer } from '../harmony/index.js';
import { GrammarProcessor } from './grammar-processor.js';
import type { JsonGrammars } from './json-grammars.js';

export interface EnvelopeTool {
  readonly name: string;
  /** null: free arguments (a tool without strict). */
  readonly grammar: CompiledGrammar | null;
}

export interface EnvelopeOptions {
  /** The final answer's grammar; null = free text. */
  readonly final: CompiledGrammar | null;
  readonly tools: readonly EnvelopeTool[];
  /** A tool call is forced (tool_choice "required" or a named function): no final channel. */
  readonly requireToolCall?: boolean;
  /** Most tokens all analysis messages of the turn may hold together; absent = unbounded. */
  readonly analysisBudget?: number;
}

interface Branch {
  /** Header tokens after `<|start|>assistant`, through `<|message|>`. */
  readonly header: readonly number[];
  readonly grammar: CompiledGrammar | null;
  /** The token that ends this body (free bodies end on any of the stop tokens too). */
  readonly end: number;
  readonly analysis: boolean;
}

type State =
  | { readonly kind: 'header'; readonly prefix: readonly number[]; candidates: Branch[]; pos: number }
  | { readonly kind: 'body'; readonly branch: Branch; grammar: GrammarProcessor | null };

export class HarmonyEnvelopeProcessor implements LogitsProcessor {
  private readonly branches: Branch[];
  /** `<|start|>assistant`, forced after an analysis message's <|end|>. */
  private readonly restart: number[];
  private state: State;
  private allowed: number[] = [];
  /** Analysis tokens still allowed. */
  private analysisLeft: number;

  constructor(
    private readonly grammars: JsonGrammars,
    tokenizer: HarmonyTokenizer,
    options: EnvelopeOptions,
  ) {
    const header = (m: Omit<HarmonyMessage, 'role' | 'content'>): number[] => {
      const ids = renderMessage({ role: 'assistant', content: '', ...m }, tokenizer);
      return ids.slice(ids.indexOf(HarmonyTokens.CHANNEL), ids.indexOf(HarmonyTokens.MESSAGE) + 1);
    };
    if (options.requireToolCall && options.tools.length === 0) throw new Error('a forced tool call needs a tool');
    this.branches = [
      { header: header({ channel: 'analysis' }), grammar: null, end: HarmonyTokens.END, analysis: true },
      ...(options.requireToolCall ? [] : [{ header: header({ channel: 'final' }), grammar: options.final, end: HarmonyTokens.RETURN, analysis: false }]),
      ...options.tools.map((t) => ({
        header: header({ channel: 'commentary', recipient: `functions.${t.name}`, recipientPosition: 'afterChannel', contentType: '<|constrain|>json' }),
        grammar: t.grammar,
        end: HarmonyTokens.CALL,
        analysis: false,
      })),
    ];
    this.analysisLeft = options.analysisBudget ?? Infinity;
    this.restart = [HarmonyTokens.START, ...tokenizer.encode('assistant')];
    this.state = this.headerState([]);
  }

  async prepare(): Promise<void> {
    const s = this.state;
    if (s.kind !== 'body') return;
    if (s.branch.grammar && !s.grammar) s.grammar = new GrammarProcessor(this.grammars, s.branch.grammar, [s.branch.end]);
    await s.grammar?.prepare();
  }

  apply(logits: Float32Array): void {
    const s = this.state;
    if (s.kind === 'body' && s.branch.analysis && this.analysisLeft <= 0) {
      this.allowed = [HarmonyTokens.END];
    } else if (s.kind === 'body') {
      s.grammar?.apply(logits);
      return;
    } else this.allowed = this.nextHeaderTokens(s);
    const keep = this.allowed.map((id) => logits[id]!);
    logits.fill(-Infinity);
    this.allowed.forEach((id, i) => (logits[id] = keep[i]!));
  }

  accept(token: number): void {
    const s = this.state;
    if (s.kind === 'body') {
      if (s.branch.analysis && token !== HarmonyTokens.END) this.analysisLeft--;
      s.grammar?.accept(token);
      // Only analysis ends in a token after which the turn goes on (<|end|>): a new header follows.
      if (token === HarmonyTokens.END && !s.grammar) this.state = this.headerState(this.restart);
      return;
    }
    if (s.pos < s.prefix.length) {
      s.pos++;
      return;
    }
    const at = s.pos - s.prefix.length;
    s.candidates = s.candidates.filter((b) => b.header[at] === token);
    s.pos++;
    const done = s.candidates.find((b) => b.header.length === at + 1);
    if (done) this.state = { kind: 'body', branch: done, grammar: null };
  }

  close(): void {
    if (this.state.kind === 'body') this.state.grammar?.close();
  }

  private headerState(prefix: readonly number[]): State {
    return { kind: 'header', prefix, candidates: this.branches.filter((b) => !b.analysis || this.analysisLeft > 0), pos: 0 };
  }

  private nextHeaderTokens(s: Extract<State, { kind: 'header' }>): number[] {
    if (s.pos < s.prefix.length) return [s.prefix[s.pos]!];
    const at = s.pos - s.prefix.length;
    return [...new Set(s.candidates.map((b) => b.header[at]!))];
  }
}
