// The part of JSON's lexical rules that keeps strings valid, as a 7-state automaton over token
// bytes: outside a string, inside one, after a backslash, after `\u` with 1-4 hex digits to go.
// Inside a string it refuses raw U+0000-U+001F and any escape JSON does not define. For every
// state the tokens that may follow (their bytes run from that state without a refusal) are one
// precomputed bitmask in xgrammar's layout, so restricting a grammar's mask is one AND per 32
// tokens, and the state after a token is one table lookup. It is intersected with every JSON
// grammar's mask (grammar-processor.ts), so whatever xgrammar's converter writes, the output is
// JSON a strict parser takes, or the sequence fails with an error saying why.

const OUTSIDE = 0;
const INSIDE = 1;
const ESCAPE = 2;
/** HEX_TO_GO + k: after `\u`, k hex digits to go (k = 1..4). */
const HEX_TO_GO = 2;
const STATES = 7;
const REFUSED = 255;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SHORT_ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)));
const isHex = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

function step(state: number, b: number): number {
  switch (state) {
    case OUTSIDE:
      return b === QUOTE ? INSIDE : OUTSIDE;
    case INSIDE:
      if (b < 0x20) return REFUSED;
      return b === QUOTE ? OUTSIDE : b === BACKSLASH ? ESCAPE : INSIDE;
    case ESCAPE:
      if (SHORT_ESCAPES.has(b)) return INSIDE;
      return b === 0x75 ? HEX_TO_GO + 4 : REFUSED;
    default:
      if (!isHex(b)) return REFUSED;
      return state === HEX_TO_GO + 1 ? INSIDE : state - 1;
  }
}

export class JsonTextAutomaton {
  /** The state before any output. */
  static readonly START = OUTSIDE;

  private constructor(
    private readonly vocabSize: number,
    /** Per state, the tokens allowed next (bit id & 31 of word id >> 5, as xgrammar's masks). */
    private readonly allowed: readonly Int32Array[],
    /** state * vocabSize + token -> the state after it (REFUSED where not allowed). */
    private readonly after: Uint8Array,
  ) {}

  /**
   * `tokenBytes(id)`: the token's bytes, or null for a special token (no text: allowed only
   * outside strings, where a grammar may end).
   */
  static build(vocabSize: number, tokenBytes: (id: number) => Uint8Array | null): JsonTextAutomaton {
    const words = Math.ceil(vocabSize / 32);
    const allowed = Array.from({ length: STATES }, () => new Int32Array(words));
    const after = new Uint8Array(STATES * vocabSize).fill(REFUSED);
    for (let id = 0; id < vocabSize; id++) {
      const bytes = tokenBytes(id);
      for (let start = 0; start < STATES; start++) {
        let s = start;
        if (bytes === null) s = start === OUTSIDE ? OUTSIDE : REFUSED;
        else for (let i = 0; i < bytes.length && s !== REFUSED; i++) s = step(s, bytes[i]!);
        if (s === REFUSED) continue;
        after[start * vocabSize + id] = s;
        allowed[start]![id >>> 5]! |= 1 << (id & 31);
      }
    }
    return new JsonTextAutomaton(vocabSize, allowed, after);
  }

  /** Clears from `mask` the tokens not allowed in `state`; false when no token is left. */
  restrict(mask: Int32Array, state: number): boolean {
    const allowed = this.allowed[state]!;
    let any = 0;
    for (let w = 0; w < mask.length; w++) any |= mask[w]! &= allowed[w] ?? 0;
    return any !== 0;
  }

  /** The state after `token`; a token `restrict` cleared is an error of the caller. */
  next(state: number, token: number): number {
    const s = token < this.vocabSize ? this.after[state * this.vocabSize + token]! : REFUSED;
    if (s === REFUSED) throw new Error(`token ${token} is not JSON text in lexical state ${state}`);
    return s;
  }
}
