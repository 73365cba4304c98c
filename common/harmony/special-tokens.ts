// The special tokens o200k_harmony adds on top of o200k_base's 199998 ranks (openai/harmony,
// src/tiktoken_ext/public_encodings.rs): nine named ones, every other id from 199998 up to and
// including 201088 is `<|reserved_N|>`. 201088 lies one past the model's 201088-row vocabulary;
// harmony still decodes it, so it is kept here too.

export const HarmonyTokens = {
  STARTOFTEXT: 199998,
  ENDOFTEXT: 199999,
  RETURN: 200002,
  CONSTRAIN: 200003,
  CHANNEL: 200005,
  START: 200006,
  END: 200007,
  MESSAGE: 200008,
  CALL: 200012,
} as const;

/** Rows of gpt-oss's embedding / unembedding (ids 0..201087). */
export const HARMONY_VOCAB_SIZE = 201088;
/** First id that is not an o200k_base rank. */
export const FIRST_SPECIAL_ID = 199998;
/** Last id harmony gives a text to. */
export const LAST_SPECIAL_ID = 201088;

const NAMED_SPECIALS: ReadonlyMap<number, string> = new Map([
  [HarmonyTokens.STARTOFTEXT, '<|startoftext|>'],
  [HarmonyTokens.ENDOFTEXT, '<|endoftext|>'],
  [HarmonyTokens.RETURN, '<|return|>'],
  [HarmonyTokens.CONSTRAIN, '<|constrain|>'],
  [HarmonyTokens.CHANNEL, '<|channel|>'],
  [HarmonyTokens.START, '<|start|>'],
  [HarmonyTokens.END, '<|end|>'],
  [HarmonyTokens.MESSAGE, '<|message|>'],
  [HarmonyTokens.CALL, '<|call|>'],
]);

export function isSpecialId(id: number): boolean {
  return Number.isInteger(id) && id >= FIRST_SPECIAL_ID && id <= LAST_SPECIAL_ID;
}

/** The text of a special id, or undefined for an ordinary rank / out-of-range id. */
export function specialTokenText(id: number): string | undefined {
  if (!isSpecialId(id)) return undefined;
  return NAMED_SPECIALS.get(id) ?? `<|reserved_${id}|>`;
}

let idsByText: Map<string, number> | null = null;

/** The id of a special token's text (`<|start|>`, `<|reserved_200014|>`), or undefined. */
export function specialTokenId(text: string): number | undefined {
  if (idsByText === null) {
    idsByText = new Map();
    for (let id = FIRST_SPECIAL_ID; id <= LAST_SPECIAL_ID; id++) idsByText.set(specialTokenText(id)!, id);
  }
  return idsByText.get(text);
}
