// o200k_harmony: o200k_base's ranks plus harmony's special tokens. Building the rank tables takes a
// few hundred ms, so callers share one instance through getHarmonyTokenizer().
import { BytePairEncoder } from './bpe.js';
import {
  FIRST_SPECIAL_ID,
  HARMONY_VOCAB_SIZE,
  HarmonyTokens,
  isSpecialId,
  LAST_SPECIAL_ID,
  specialTokenId,
  specialTokenText,
} from './special-tokens.js';
import { StreamingDecoder, type TokenByteSource } from './streaming-decoder.js';

export { HarmonyTokens, HARMONY_VOCAB_SIZE, FIRST_SPECIAL_ID, LAST_SPECIAL_ID, specialTokenId, specialTokenText };
export { StreamingDecoder, type TokenByteSource };

// Every special token's text has this shape, so one scan finds all candidates.
const SPECIAL_CANDIDATE = /<\|[A-Za-z0-9_]+\|>/g;

export class HarmonyTokenizer implements TokenByteSource {
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(private readonly bpe: BytePairEncoder = BytePairEncoder.fromO200kBase()) {
    if (bpe.size !== FIRST_SPECIAL_ID) {
      throw new Error(`o200k_base rank table has ${bpe.size} tokens, expected ${FIRST_SPECIAL_ID}`);
    }
  }

  /** Embedding rows of the model (201088). */
  get vocabSize(): number {
    return HARMONY_VOCAB_SIZE;
  }

  /** Plain text to ids. Special-token text such as `<|start|>` is encoded as ordinary characters,
   *  so user content can never inject message structure. */
  encode(text: string): number[] {
    return this.bpe.encodeOrdinary(text);
  }

  /** Like encode, but `<|start|>`, `<|reserved_200014|>` etc. become their special ids. */
  encodeWithSpecials(text: string): number[] {
    const out: number[] = [];
    let start = 0;
    for (const match of text.matchAll(SPECIAL_CANDIDATE)) {
      const id = specialTokenId(match[0]);
      if (id === undefined) continue;
      if (match.index > start) appendAll(out, this.bpe.encodeOrdinary(text.slice(start, match.index)));
      out.push(id);
      start = match.index + match[0].length;
    }
    if (start < text.length) appendAll(out, this.bpe.encodeOrdinary(text.slice(start)));
    return out;
  }

  isSpecial(id: number): boolean {
    return isSpecialId(id);
  }

  /** Raw bytes of one token (special tokens give their text). Throws RangeError for unknown ids. */
  tokenBytes(id: number): Uint8Array {
    return Buffer.from(this.tokenLatin1(id), 'latin1');
  }

  decodeBytes(ids: readonly number[]): Uint8Array {
    let latin1 = '';
    for (const id of ids) latin1 += this.tokenLatin1(id);
    return Buffer.from(latin1, 'latin1');
  }

  /** Ids to text; byte sequences that are not valid UTF-8 become U+FFFD (as tiktoken's decode). */
  decode(ids: readonly number[]): string {
    return this.utf8.decode(this.decodeBytes(ids));
  }

  streamingDecoder(): StreamingDecoder {
    return new StreamingDecoder(this);
  }

  private tokenLatin1(id: number): string {
    const ordinary = Number.isInteger(id) && id >= 0 ? this.bpe.tokenLatin1(id) : undefined;
    const text = ordinary ?? specialTokenText(id);
    if (text === undefined) throw new RangeError(`Invalid token for decoding: ${id}`);
    return text; // special texts are ASCII, so their latin1 form is the text itself
  }
}

function appendAll(out: number[], ids: readonly number[]): void {
  for (const id of ids) out.push(id);
}

let shared: HarmonyTokenizer | null = null;

/** The process-wide tokenizer, built on first use. */
export function getHarmonyTokenizer(): HarmonyTokenizer {
  shared ??= new HarmonyTokenizer();
  return shared;
}

/** Same as getHarmonyTokenizer (the name cli/commands/generate.ts imports). */
export const harmonyTokenizer: () => HarmonyTokenizer = getHarmonyTokenizer;
