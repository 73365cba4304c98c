// A grammar as a logits processor: xgrammar's matcher gives the next token's allowed set as a
// bitmask over the vocabulary (computed in WebAssembly), intersected with the tokens that keep the
// output JSON text (json-text-automaton.ts), and applied to the logits word by word.
import type { CompiledGrammar, GrammarMatcher } from '@mlc-ai/web-xgrammar';
import { UnsatisfiableGrammarError } from '../errors.js';
import { applyTokenBitmask, type LogitsProcessor } from '../engine/logits-processors.js';
import { JsonTextAutomaton } from './json-text-automaton.js';
import type { JsonGrammars } from './json-grammars.js';

export class GrammarProcessor implements LogitsProcessor {
  private matcher: GrammarMatcher | null = null;
  private mask: Int32Array | null = null;
  private closed = false;
  /** Where the output stands in JSON's string syntax. */
  private textState = JsonTextAutomaton.START;

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
    if (this.mask) return;
    const mask = await this.matcher.getNextTokenBitmask();
    // Nothing left: the grammar wants a character only escaped JSON can hold, which xgrammar would
    // write raw (the stop tokens are left wherever the grammar may end, outside any string).
    if (!this.grammars.jsonText.restrict(mask, this.textState)) throw new UnsatisfiableGrammarError();
    this.mask = mask;
  }

  apply(logits: Float32Array): void {
    if (!this.mask) throw new Error('GrammarProcessor.apply before prepare');
    applyTokenBitmask(logits, this.mask);
  }

  accept(token: number): void {
    this.mask = null;
    this.textState = this.grammars.jsonText.next(this.textState, token);
    // The token came from the masked logits, so only an all-masked step (refused in prepare) could
    // make the matcher refuse it.
    if (!this.matcher!.acceptToken(token)) throw new Error(`the grammar refused token ${token}`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.matcher?.dispose();
  }
}
