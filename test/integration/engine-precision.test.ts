// The compact expert modes against the golden outputs: q4x2 re-encodes MXFP4 exactly as two 4-bit
// matrices, and the mxfp4 mode widens the checkpoint's own bytes inside the graph, so with fp32
// activations both must land as close as fp32, with the same greedy tokens.
import assert from 'node:assert/strict';
import { Engine } from '../../common/engine/engine.js';
import type { ExpertPrecision } from '../../common/experts/expert-precision.js';
import { goldenSets } from '../helpers/paths.js';
import { loadGolden, maxAbsDiff } from '../helpers/golden.js';

const MODES: { precision: ExpertPrecision; label: string }[] = [
  { precision: 'q4x2', label: 'q4x2 experts (two exact 4-bit matrices)' },
  { precision: 'mxfp4', label: 'mxfp4 experts (widened in the graph)' },
];

describe('engine expert precision', () => {
  for (const dir of goldenSets()) {
    const g = loadGolden(dir);
    for (const { precision, label } of MODES) {
      it(`engine - ${label} reproduce golden ${g.name} tokens, top-5 ids, logprobs within 2e-3`, async () => {
        const engine = await Engine.loadLocal(g.model, { experts: { precision } });
        try {
          for (const p of g.prompts) {
            const r = await engine.generate({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: { temperature: 0, topP: 1, topLogprobs: 5 } });
            assert.deepEqual(r.tokens.map((t) => t.id), p.greedy_tokens);
            r.tokens.forEach((t, s) => {
              assert.deepEqual(t.top.map((x) => x.id), p.steps[s]!.top5_ids, `step ${s} top-5 ids`);
              const d = maxAbsDiff(t.top.map((x) => x.logprob), p.steps[s]!.top5_logprobs);
              assert.ok(d <= 2e-3, `step ${s}: top-5 logprobs differ by ${d}`);
            });
          }
        } finally {
          await engine.close();
        }
      });
    }
  }
});
