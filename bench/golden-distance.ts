// How far an expert precision lands from OpenAI's reference on the golden sets: the largest
// |top-5 logprob - reference| over every set, prompt and step (steps whose top-5 ids differ are
// not compared), and the greedy tokens, so precisions can be compared token for token.
import { Engine } from '../common/engine/engine.js';
import type { ExpertRuntimeOptions } from '../common/experts/expert-precision.js';
import { goldenSets } from '../test/helpers/paths.js';
import { loadGolden, maxAbsDiff } from '../test/helpers/golden.js';

export interface GoldenDistance {
  /** Max |top-5 logprob - reference|. */
  readonly worst: number;
  /** Every greedy token equals the reference's. */
  readonly tokensEqual: boolean;
  /** The greedy tokens of every set's prompts, in order (set by set). */
  readonly tokens: number[][];
}

export async function goldenDistance(experts: Omit<ExpertRuntimeOptions, 'intraOpThreads'>): Promise<GoldenDistance> {
  let worst = 0;
  let tokensEqual = true;
  const tokens: number[][] = [];
  for (const dir of goldenSets()) {
    const g = loadGolden(dir);
    const engine = await Engine.loadLocal(g.model, { experts });
    try {
      for (const p of g.prompts) {
        const r = await engine.generate({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: { temperature: 0, topP: 1, topLogprobs: 5 } });
        tokens.push(r.tokens.map((t) => t.id));
        tokensEqual &&= r.tokens.every((t, i) => t.id === p.greedy_tokens[i]);
        r.tokens.forEach((t, i) => {
          if (t.top.map((x) => x.id).join() === p.steps[i]!.top5_ids.join()) worst = Math.max(worst, maxAbsDiff(t.top.map((x) => x.logprob), p.steps[i]!.top5_logprobs));
        });
      }
    } finally {
      await engine.close();
    }
  }
  return { worst, tokensEqual, tokens };
}

export function formatGoldenDistance(d: GoldenDistance): string {
  return `${d.worst.toExponential(1)}${d.tokensEqual ? '' : ' (tokens differ)'}`;
}
