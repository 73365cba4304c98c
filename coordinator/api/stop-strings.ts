// Stop strings on decoded text. Text is released as soon as it can no longer be the start of a stop
// string; a tail that could be is held back until the next text decides. At a match the text is cut
// before the stop string. Each piece of text may carry items (the logprobs of the tokens that
// produced it); an item is released with the text it starts in, and dropped when it starts at or
// after the cut.

export interface Released<T> {
  readonly text: string;
  /** Items with the offset of their first character in the whole released text. */
  readonly items: ReadonlyArray<{ readonly item: T; readonly offset: number }>;
}

export class StopStringMatcher<T> {
  private held = '';
  /** Offset of `held` in the whole text. */
  private heldAt = 0;
  private heldItems: Array<{ item: T; offset: number }> = [];
  private matched = false;

  constructor(private readonly stops: readonly string[]) {}

  /** True once a stop string was found; later pushes release nothing. */
  get stopped(): boolean {
    return this.matched;
  }

  push(text: string, items: readonly T[] = []): Released<T> {
    if (this.matched) return { text: '', items: [] };
    const offset = this.heldAt + this.held.length;
    for (const item of items) this.heldItems.push({ item, offset });
    this.held += text;
    const cut = this.firstMatch();
    if (cut !== null) {
      this.matched = true;
      return this.release(cut, true);
    }
    return this.release(this.held.length - this.possibleStart(), false);
  }

  /** End of the text: releases what was held back. */
  flush(): Released<T> {
    if (this.matched) return { text: '', items: [] };
    return this.release(this.held.length, true);
  }

  private release(end: number, all: boolean): Released<T> {
    const text = this.held.slice(0, end);
    const endOffset = this.heldAt + end;
    // At a cut (or at the end) items starting before it go; otherwise only those whose text is out.
    const keep = (o: number): boolean => (all ? o < endOffset || (o === endOffset && !this.matched) : o < endOffset);
    const items = this.heldItems.filter((e) => keep(e.offset));
    this.heldItems = all ? [] : this.heldItems.filter((e) => !keep(e.offset));
    this.held = this.held.slice(end);
    this.heldAt = endOffset;
    return { text, items };
  }

  private firstMatch(): number | null {
    let best: number | null = null;
    for (const stop of this.stops) {
      const i = this.held.indexOf(stop);
      if (i >= 0 && (best === null || i < best)) best = i;
    }
    return best;
  }

  /** Length of the longest tail of `held` that is a proper prefix of some stop string. */
  private possibleStart(): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, this.held.length); k > longest; k--) {
        if (this.held.endsWith(stop.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }
}
