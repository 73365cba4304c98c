// The distributed path (real worker processes, real gRPC, a real nats-server) against the
// single-process engine: identical tokens, log-probabilities within 1e-4, on every golden set,
// for 1, 2 and 3 workers (3 does not divide the expert count), one prompt at a time and as a batch
// split into interleaved micro-batches, also with the workers behind a latency-injecting proxy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Engine, type GenerateResult } from '../../common/engine/engine.js';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { CLI, goldenSets } from '../helpers/paths.js';
import { loadGolden, maxAbsDiff } from '../helpers/golden.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 5 };

for (const dir of goldenSets()) {
  const golden = loadGolden(dir);
  describe(`cluster equivalence ${golden.name}`, () => {
    let single: { tokens: number[]; logprobs: number[][] }[] = [];
    before(async () => {
      const engine = await Engine.loadLocal(golden.model);
      const results = await engine.generateBatch(golden.prompts.map((p) => ({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: SAMPLING })));
      single = results.map((r) => ({ tokens: r.tokens.map((t) => t.id), logprobs: r.tokens.map((t) => t.top.map((x) => x.logprob)) }));
      await engine.close();
    });

    for (const workers of [1, 2, 3]) {
      it(`cluster - ${workers} worker(s) give the single-process engine's tokens and logprobs within 1e-4`, async () => {
        let cluster: LocalCluster | null = null;
        try {
          cluster = await startLocalCluster({ model: golden.model, workers, replication: 1, expertPrecision: 'fp32', quiet: true, forward: { overlap: 'always' } });
          const held = cluster.experts.membership.workers().map((w) => w.held.length);
          assert.equal(held.length, workers);
          assert.ok(held.every((n) => n > 0), `every worker holds experts: ${held}`);
          for (let i = 0; i < golden.prompts.length; i++) {
            const p = golden.prompts[i]!;
            const r: GenerateResult = await cluster.engine.generate({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: SAMPLING });
            assert.deepEqual(r.tokens.map((t) => t.id), single[i]!.tokens, `prompt ${i} tokens`);
            assert.deepEqual(r.tokens.map((t) => t.id), p.greedy_tokens, `prompt ${i} equals the reference`);
            r.tokens.forEach((t, s) => {
              const d = maxAbsDiff(t.top.map((x) => x.logprob), single[i]!.logprobs[s]!);
              assert.ok(d <= 1e-4, `prompt ${i} step ${s}: logprobs differ by ${d}`);
            });
          }
          assertBatchEqualsSingle(await generateAll(cluster), `${workers} worker(s)`);
          assert.ok(cluster.engine.forward.counters.overlappedSteps > 0, 'the batch ran as interleaved micro-batches');
        } finally {
          await cluster?.stop();
        }
      });
    }

    for (const [workers, delayMs] of [
      [2, 0],
      [3, 0.5],
    ] as const) {
      it(`cluster - ${workers} workers behind a ${delayMs} ms latency proxy, micro-batches overlapped: the single-process tokens`, async () => {
        let cluster: LocalCluster | null = null;
        try {
          cluster = await startLocalCluster({ model: golden.model, workers, replication: 1, expertPrecision: 'fp32', quiet: true, linkDelayMs: delayMs, forward: { overlap: 'always' } });
          assert.deepEqual(new Set(cluster.experts.membership.workers().map((w) => w.address)), new Set(cluster.proxies.map((p) => p.address)), 'workers are reached through the proxies');
          assertBatchEqualsSingle(await generateAll(cluster), `${workers} workers, ${delayMs} ms`);
          const { steps, overlappedSteps } = cluster.engine.forward.counters;
          assert.equal(overlappedSteps, steps, 'every step of the 3-prompt batch was split, decode steps too');
        } finally {
          await cluster?.stop();
        }
      });
    }

    function generateAll(cluster: LocalCluster): Promise<GenerateResult[]> {
      return cluster.engine.generateBatch(golden.prompts.map((p) => ({ promptIds: p.prompt_ids, maxTokens: p.greedy_tokens.length, sampling: SAMPLING })));
    }

    function assertBatchEqualsSingle(results: GenerateResult[], label: string): void {
      results.forEach((r, i) => {
        assert.deepEqual(r.tokens.map((t) => t.id), single[i]!.tokens, `${label}: prompt ${i} tokens`);
        r.tokens.forEach((t, s) => {
          const d = maxAbsDiff(t.top.map((x) => x.logprob), single[i]!.logprobs[s]!);
          assert.ok(d <= 1e-4, `${label}: prompt ${i} step ${s}: logprobs differ by ${d}`);
        });
      });
    }

    it('cluster - `gptoss generate --workers 2 --json` prints the engine\'s JSON', () => {
      const p = golden.prompts[0]!;
      const args = [CLI, 'generate', '--model', golden.model, '--prompt-ids', p.prompt_ids.join(','), '--max-tokens', String(p.greedy_tokens.length), '--top-logprobs', '3', '--json'];
      const local = spawnSync(process.execPath, args, { encoding: 'utf8' });
      const dist = spawnSync(process.execPath, [...args, '--workers', '2'], { encoding: 'utf8' });
      assert.equal(local.status, 0, local.stderr);
      assert.equal(dist.status, 0, dist.stderr);
      type Timings = { load_ms: number; prefill_ms: number; decode_ms_per_token: number | null };
      const a = JSON.parse(local.stdout) as { prompt_ids: number[]; tokens: number[]; text: string; top_logprobs: { id: number; logprob: number }[][]; timings: Timings };
      const b = JSON.parse(dist.stdout) as typeof a;
      assert.deepEqual(Object.keys(a), ['prompt_ids', 'tokens', 'text', 'top_logprobs', 'timings']);
      for (const t of [a.timings, b.timings]) {
        assert.deepEqual(Object.keys(t), ['load_ms', 'prefill_ms', 'decode_ms_per_token']);
        assert.ok(t.load_ms > 0 && t.prefill_ms > 0 && t.decode_ms_per_token! > 0, JSON.stringify(t));
      }
      assert.deepEqual(a.prompt_ids, p.prompt_ids);
      assert.deepEqual(a.tokens, p.greedy_tokens);
      assert.deepEqual(b.tokens, a.tokens);
      assert.equal(b.text, a.text);
      a.top_logprobs.forEach((step, s) => {
        assert.deepEqual(step.map((x) => x.id), p.steps[s]!.top5_ids.slice(0, 3));
        assert.ok(maxAbsDiff(step.map((x) => x.logprob), b.top_logprobs[s]!.map((x) => x.logprob)) <= 1e-4);
        assert.ok(maxAbsDiff(step.map((x) => x.logprob), p.steps[s]!.top5_logprobs.slice(0, 3)) <= 2e-3);
      });
    });
  });
}
