// The engine against OpenAI's reference outputs on every golden set shared beside the checkout.
import assert from 'node:assert/strict';
import path from 'node:path';
import { Engine } from '../../common/engine/engine.js';
import { goldenSets } from '../helpers/paths.js';
import { loadGolden, maxAbsDiff, readF32 } from '../helpers/golden.js';
import { routeTokens } from '../../common/experts/expert-backend.js';

const LOGPROB_TOLERANCE = 2e-3;

for (const dir of goldenSets()) {
  const golden = loadGolden(dir);
  describe(`engine golden ${golden.name}`, () => {
    let engine: Engine;
    before(async () => {
      engine = await Engine.loadLocal(golden.model);
    });
    after(async () => engine?.close());

    golden.prompts.forEach((p, i) => {
      it(`engine - prompt ${i}: greedy tokens equal the reference and top-5 logprobs within ${LOGPROB_TOLERANCE}`, async () => {
        const r = await engine.generate({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: { temperature: 0, topP: 1, topLogprobs: 5 } });
        assert.deepEqual(r.tokens.map((t) => t.id), p.greedy_tokens);
        r.tokens.forEach((t, s) => {
          assert.deepEqual(t.top.map((x) => x.id), p.steps[s]!.top5_ids, `step ${s} top-5 ids`);
          const d = maxAbsDiff(t.top.map((x) => x.logprob), p.steps[s]!.top5_logprobs);
          assert.ok(d <= LOGPROB_TOLERANCE, `step ${s}: top-5 logprobs differ by ${d}`);
        });
      });

      it(`engine - prompt ${i}: last prompt logits within 1e-3 and router top-k equal at every layer`, async () => {
        const cache = engine.newCache();
        const routers: Float32Array[] = [];
        const [logits] = await engine.forward.step([{ cache, tokens: p.prompt_ids, wantLogits: true }], { routerLogits: (_l, r) => routers.push(r.slice()) });
        const ref = readF32(path.join(golden.dir, p.last_prompt_logits_file));
        const d = maxAbsDiff(logits!, ref);
        assert.ok(d <= 1e-3, `last prompt logits differ by ${d}`);
        const c = engine.config;
        routers.forEach((r, layer) => {
          const routing = routeTokens(r, p.prompt_ids.length, c.numExperts, c.expertsPerToken);
          assert.deepEqual(
            Array.from({ length: p.prompt_ids.length }, (_, t) => Array.from(routing.experts.subarray(t * c.expertsPerToken, (t + 1) * c.expertsPerToken))),
            p.router_prefill_topk[layer]!.ids,
            `layer ${layer} router top-k`,
          );
        });
      });
    });
  });
}
