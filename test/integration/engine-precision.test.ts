// The compact expert mode against the golden outputs: MXFP4 re-encodes exactly to 8-bit blocks,
// so with fp32 activations it must land as close as the exact mode.
import assert from 'node:assert/strict';
import { Engine } from '../../common/engine/engine.js';
import { goldenSets } from '../helpers/paths.js';
import { loadGolden, maxAbsDiff } from '../helpers/golden.js';

describe('engine expert precision', () => {
  for (const dir of goldenSets()) {
    const g = loadGolden(dir);
    it(`engine - q8 experts (accuracy level 0) reproduce golden ${g.name} tokens, logprobs within 2e-3`, async () => {
      const engine = await Engine.loadLocal(g.model, { experts: { precision: 'q8', accuracyLevel: 0, intraOpThreads: 1 } });
      try {
        for (const p of g.prompts) {
          const r = await engine.generate({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: { temperature: 0, topP: 1, topLogprobs: 5 } });
          assert.deepEqual(r.tokens.map((t) => t.id), p.greedy_tokens);
          r.tokens.forEach((t, s) => assert.ok(maxAbsDiff(t.top.map((x) => x.logprob), p.steps[s]!.top5_logprobs) <= 2e-3));
        }
      } finally {
        await engine.close();
      }
    });
  }
});
