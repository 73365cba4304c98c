// Load-aware placement on a real cluster: with spare worker capacity the hottest experts of the
// recent window get extra replicas, tokens are spread over them, and generation is unchanged.
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { Engine, type GenerateRequest } from '../../common/engine/engine.js';
import { tinyModel } from '../helpers/tiny-model.js';
import { until } from '../helpers/until.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 0 };

describe('load-aware placement', () => {
  it('placement - hot experts get extra replicas on spare capacity; outputs are unchanged', async () => {
    const model = await tinyModel({ experts: 8, seed: 23 });
    const requests: GenerateRequest[] = [0, 1, 2, 3].map((p) => ({ promptIds: Array.from({ length: 16 }, (_, i) => (i * 29 + p * 7) % 4096), maxTokens: 24, sampling: SAMPLING }));
    const engine = await Engine.loadLocal(model);
    const expected = (await engine.generateBatch(requests)).map((r) => r.tokens.map((t) => t.id));
    await engine.close();
    let cluster: LocalCluster | null = null;
    try {
      // 32 slots, 3 workers x 16: one copy of everything plus 16 spare slots.
      cluster = await startLocalCluster({ model, workers: 3, replication: 1, expertPrecision: 'fp32', quiet: true, workerCapacity: 16, loadAware: { windowMs: 60_000, intervalMs: 1000 } });
      const c = cluster;
      const copies = () => [...c.experts.placement.routing().values()].reduce((n, h) => n + h.length, 0);
      assert.equal(copies(), 32, 'one holder per slot before any load');
      const first = await c.engine.generateBatch(requests);
      assert.deepEqual(first.map((r) => r.tokens.map((t) => t.id)), expected);
      // The window now holds a skewed load: extra replicas of the hottest slots appear once loaded.
      await until(() => copies() > 32, 30_000, 'extra replicas of hot experts');
      // The load keeps moving while the window fills, so compare averages, not every slot.
      const load = c.experts.placement.currentLoad();
      const replicated = [...c.experts.placement.routing()].filter(([, h]) => h.length > 1).map(([slot]) => slot);
      const mean = (slots: number[]) => slots.reduce((a, s) => a + (load.get(s) ?? 0), 0) / slots.length;
      assert.ok(mean(replicated) >= mean([...Array(32).keys()]), 'the replicated slots are hotter than average');
      // Assignments respect capacity (held lists may briefly exceed it while a move completes).
      const target = c.experts.placement.record()!.target;
      for (const [workerId, slots] of Object.entries(target)) assert.ok(slots.length <= 16, `${workerId} is assigned ${slots.length} > capacity`);
      const again = await c.engine.generateBatch(requests);
      assert.deepEqual(again.map((r) => r.tokens.map((t) => t.id)), expected);
    } finally {
      await cluster?.stop();
    }
  });
});
