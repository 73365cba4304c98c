// The analysis budget's policy: explicit thinking_token_budget wins; constrained answers get the
// reasoning effort's budget, capped at half of max_tokens; free answers are not bounded.
import assert from 'node:assert/strict';
import { analysisBudget, ANALYSIS_TOKENS_BY_EFFORT } from '../../coordinator/api/analysis-budget.js';

describe('analysis budget', () => {
  it('budget - thinking_token_budget is used as given, constrained or not', () => {
    assert.equal(analysisBudget({ thinkingTokenBudget: 0, maxTokens: 100, constrained: false }), 0);
    assert.equal(analysisBudget({ thinkingTokenBudget: 5000, maxTokens: 100, constrained: true, reasoningEffort: 'low' }), 5000);
  });

  it('budget - a constrained answer gets the effort budget (medium by default), at most half of max_tokens', () => {
    assert.equal(analysisBudget({ maxTokens: 128, constrained: true }), 64);
    assert.equal(analysisBudget({ maxTokens: 100_000, constrained: true }), ANALYSIS_TOKENS_BY_EFFORT.medium);
    assert.equal(analysisBudget({ maxTokens: 100_000, constrained: true, reasoningEffort: 'low' }), ANALYSIS_TOKENS_BY_EFFORT.low);
    assert.equal(analysisBudget({ maxTokens: 100_000, constrained: true, reasoningEffort: 'high' }), ANALYSIS_TOKENS_BY_EFFORT.high);
    assert.ok(ANALYSIS_TOKENS_BY_EFFORT.low < ANALYSIS_TOKENS_BY_EFFORT.medium && ANALYSIS_TOKENS_BY_EFFORT.medium < ANALYSIS_TOKENS_BY_EFFORT.high);
  });

  it('budget - a free answer without thinking_token_budget is not bounded', () => {
    assert.equal(analysisBudget({ maxTokens: 128, constrained: false, reasoningEffort: 'low' }), null);
  });
});
