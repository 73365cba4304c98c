// A grammar as a logits processor: xgrammar's matcher gives the next token's allowed set as a
// bitmask over the vocabulary (computed in WebAssembly), applied to the logits word by word.
import type { CompiledGrammar, GrammarMatcher } from '@mlc-ai/web-xgrammar';
import { applyTokenBitmask, type LogitsProcessor } from '../engine/logits-processors.js';
import type { JsonGrammars } from './json-grammars.js';

export class GrammarProcessor implements LogitsProcessor {
  private matcher: GrammarMatcher | null = null;
  private mask: Int32Array | null = null;
  private closed = false;

  /** `stopTokenIds`: allowed (and ending the grammar) exactly where the grammar may end. */
  constructor(
    private readonly grammars: JsonGrammars,
    private readonly grammar: CompiledGrammar,
    private readonly stopTokenIds: readonly number[],
  ) {}

  async prepare(): Promise<void> {
    // The matcher is made here, not in the constructor, because making one is asynchronous.
    if (!this.matcher) {
      const matcher = await this.grammars.matcher(this.grammar, this.stopTokenIds);
      // Closed while it was being made (the request ended): nobody else will free it.
      if (this.closed) return matcher.dispose();
      this.matcher = matcher;
    }
    this.mask ??= await this.matcher.getNextTokenBitmask();
  }

  apply(logits: Float32Array): void {
    if (!this.mask) throw new Error('GrammarProcessor.apply before prepare');
    applyTokenBitmask(logits, this.mask);
  }

  accept(token: number): void {
    this.mask = null;
    // The token came from the masked logits, so only an all-masked step (never: the stop tokens
    // stay allowed where the grammar may end) could make the matcher refuse it.
    if (!this.matcher!.acceptToken(token)) throw new Error(`the grammar refused token ${token}`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.matcher?.dispose();
  }
}
