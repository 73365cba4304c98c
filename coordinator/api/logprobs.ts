// Sampled tokens' log-probabilities in OpenAI's shapes: chat's per-token objects (text, logprob,
// UTF-8 bytes, alternatives) and the legacy completions lists.
import type { SampledToken, TokenLogprob } from '../../common/engine/sampler.js';
import type { HarmonyTokenizer } from '../../common/harmony/index.js';
import type { ChatTokenLogprob, CompletionLogprobs, TopLogprob } from './protocol.js';

// JSON has no -Infinity; OpenAI reports impossible tokens as -9999.
const FLOOR = -9999;

function finite(logprob: number): number {
  return Number.isFinite(logprob) ? logprob : FLOOR;
}

/** One token's text; a token that is part of a multi-byte character decodes to U+FFFD. */
export function tokenText(tokenizer: HarmonyTokenizer, id: number): string {
  return tokenizer.decode([id]);
}

function top(tokenizer: HarmonyTokenizer, t: TokenLogprob): TopLogprob {
  return { token: tokenText(tokenizer, t.id), logprob: finite(t.logprob), bytes: Array.from(tokenizer.tokenBytes(t.id)) };
}

export function chatTokenLogprob(tokenizer: HarmonyTokenizer, token: SampledToken, topLogprobs: number): ChatTokenLogprob {
  return { ...top(tokenizer, token), top_logprobs: token.top.slice(0, topLogprobs).map((t) => top(tokenizer, t)) };
}

/** Appends tokens (with the offsets of their text in the completion) to legacy logprobs. */
export function appendCompletionLogprobs(
  target: CompletionLogprobs,
  tokenizer: HarmonyTokenizer,
  items: ReadonlyArray<{ readonly item: SampledToken; readonly offset: number }>,
  alternatives: number,
): void {
  for (const { item, offset } of items) {
    target.tokens.push(tokenText(tokenizer, item.id));
    target.token_logprobs.push(finite(item.logprob));
    const alts: Record<string, number> = {};
    for (const t of item.top.slice(0, alternatives)) alts[tokenText(tokenizer, t.id)] ??= finite(t.logprob);
    target.top_logprobs.push(alts);
    target.text_offset.push(offset);
  }
}

export function emptyCompletionLogprobs(): CompletionLogprobs {
  return { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
}
