// How many tokens the analysis channel may take before the harmony envelope ends it and the model
// must answer. gpt-oss thinks first; a request whose answer is constrained (a response format, a
// strict tool, a forced call) is useless if the thinking takes the whole max_tokens, so it is
// bounded by default: by the reasoning effort's budget, and never more than half of max_tokens, so
// that at least half is left for the answer. vLLM's `thinking_token_budget` sets it explicitly,
// on any chat or response (0: no analysis at all). Unconstrained requests without it are not
// bounded (the model's own reasoning effort decides).
import type { ReasoningEffort } from '../../common/harmony/index.js';

/** The analysis budget per reasoning effort (harmony's default effort is medium). */
export const ANALYSIS_TOKENS_BY_EFFORT: Readonly<Record<ReasoningEffort, number>> = { low: 512, medium: 2048, high: 8192 };

export interface AnalysisBudgetInputs {
  readonly thinkingTokenBudget?: number;
  readonly reasoningEffort?: ReasoningEffort;
  /** The generation's max tokens (after fitting the context). */
  readonly maxTokens: number;
  /** Whether the answer is constrained (format, strict tool, forced call). */
  readonly constrained: boolean;
}

/** Most tokens the analysis may take; null = unbounded. */
export function analysisBudget(inputs: AnalysisBudgetInputs): number | null {
  if (inputs.thinkingTokenBudget !== undefined) return inputs.thinkingTokenBudget;
  if (!inputs.constrained) return null;
  return Math.min(ANALYSIS_TOKENS_BY_EFFORT[inputs.reasoningEffort ?? 'medium'], Math.floor(inputs.maxTokens / 2));
}
