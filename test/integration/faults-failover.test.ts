// A worker SIGKILLed in the middle of concurrent generations (replication 2): every request ends
// with exactly the fault-free tokens (its share is re-sent to the replica), the dead worker leaves
// membership on heartbeat timeout, and placement re-replicates its experts onto the survivors.
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { Engine, type GenerateRequest } from '../../common/engine/engine.js';
import type { LayerRouting } from '../../common/experts/expert-backend.js';
import { tinyModel } from '../helpers/tiny-model.js';
import { until } from '../helpers/until.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 0 };
const LAYERS = 4;
const EXPERTS = 8;

describe('faults: worker SIGKILL with replication 2', () => {
  let model: string;
  let expected: number[][];
  const requests: GenerateRequest[] = [0, 1, 2, 3].map((p) => ({
    promptIds: Array.from({ length: 12 + p * 3 }, (_, i) => (i * 37 + p * 101) % 4096),
    maxTokens: 40,
    sampling: SAMPLING,
  }));
  before(async () => {
    model = await tinyModel({ experts: EXPERTS, seed: 11 });
    const engine = await Engine.loadLocal(model);
    expected = (await engine.generateBatch(requests)).map((r) => r.tokens.map((t) => t.id));
    await engine.close();
  });

  it('faults - generations survive a killed worker with fault-free tokens; its experts are re-replicated', async () => {
    let cluster: LocalCluster | null = null;
    try {
      cluster = await startLocalCluster({ model, workers: 3, replication: 2, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200, heartbeatTimeoutMs: 1000, forward: { overlap: 'always' } });
      const c = cluster;
      const victim = c.workers[1]!;
      const victimSlots = new Set(c.experts.membership.worker(victim.workerId)!.held);
      assert.ok(victimSlots.size > 0, 'the victim holds experts');
      for (let s = 0; s < LAYERS * EXPERTS; s++) assert.equal(c.experts.placement.routing().get(s)?.length, 2, `slot ${s} has 2 holders before`);

      // Kill the victim after 10 of the 40 decode steps, in the middle of a step's layers.
      const backend = c.experts.backend;
      const runLayer = backend.runLayer.bind(backend);
      let calls = 0;
      let killedAt = 0;
      let afterKill = 0;
      backend.runLayer = (layer: number, hidden: Float32Array, routing: LayerRouting) => {
        calls++;
        if (calls === 10 * LAYERS + 2) {
          victim.kill('SIGKILL');
          killedAt = Date.now();
        } else if (killedAt > 0) afterKill++;
        return runLayer(layer, hidden, routing);
      };
      const results = await c.engine.generateBatch(requests);
      assert.ok(killedAt > 0, 'the worker was killed during the generation');
      assert.ok(afterKill > 10 * LAYERS, `many layers ran after the kill (${afterKill})`);
      results.forEach((r, i) => assert.deepEqual(r.tokens.map((t) => t.id), expected[i], `request ${i}`));
      assert.equal(c.engine.forward.counters.overlappedSteps, c.engine.forward.counters.steps, 'every step ran as interleaved micro-batches');

      // Heartbeat timeout 1000 ms (+ sweep): generous bound only against a hang.
      await until(() => c.experts.membership.worker(victim.workerId) === undefined, 10_000, 'the dead worker to leave membership');
      const survivors = c.workers.filter((w) => w !== victim).map((w) => w.workerId).sort();
      assert.deepEqual(c.experts.membership.workers().map((w) => w.workerId).sort(), survivors);

      // Survivors hold every slot (default capacity is all slots): each slot back to 2 holders.
      await until(() => {
        const table = c.experts.placement.routing();
        for (let s = 0; s < LAYERS * EXPERTS; s++) if ((table.get(s) ?? []).length !== 2) return false;
        return true;
      }, 30_000, 'every slot to be back to 2 holders');
      const table = c.experts.placement.routing();
      for (let s = 0; s < LAYERS * EXPERTS; s++) assert.deepEqual([...table.get(s)!].sort(), survivors, `slot ${s}`);
      assert.ok(c.experts.health().ok);

      // And serving on the survivors alone is still exact.
      backend.runLayer = runLayer;
      const again = await c.engine.generateBatch(requests);
      again.forEach((r, i) => assert.deepEqual(r.tokens.map((t) => t.id), expected[i], `request ${i} after re-replication`));
    } finally {
      await cluster?.stop();
    }
  });
});
