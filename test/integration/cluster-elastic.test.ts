// Workers come and go while the cluster serves: placement covers every expert for 1..4 real
// worker processes, and a worker that joins later receives experts and serves them.
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { Engine, type GenerateResult } from '../../common/engine/engine.js';
import { tinyModel } from '../helpers/tiny-model.js';
import { until } from '../helpers/until.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 0 };

describe('cluster elastic workers', () => {
  let model: string;
  let expected: number[];
  const prompt = Array.from({ length: 20 }, (_, i) => (i * 31) % 4096);
  before(async () => {
    model = await tinyModel({ experts: 12, seed: 5 });
    const engine = await Engine.loadLocal(model);
    expected = (await engine.generate({ promptIds: prompt, maxTokens: 8, sampling: SAMPLING })).tokens.map((t) => t.id);
    await engine.close();
  });

  it('cluster - a worker joining later receives experts, and generation stays identical', async () => {
    let cluster: LocalCluster | null = null;
    try {
      cluster = await startLocalCluster({ model, workers: 1, replication: 1, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200 });
      const slots = 4 * 12;
      const before = cluster.experts.membership.workers();
      assert.equal(before.length, 1);
      assert.equal(before[0]!.held.length, slots, 'a lone worker holds every expert');
      for (let n = 2; n <= 4; n++) {
        const w = await cluster.addWorker();
        await until(() => (cluster!.experts.membership.worker(w.workerId)?.held.length ?? 0) > 0, 30_000, `worker ${n} to receive experts`);
        await until(() => {
          const ws = cluster!.experts.membership.workers();
          return ws.length === n && ws.every((x) => x.held.length > 0) && ws.reduce((s, x) => s + x.held.length, 0) === slots && cluster!.experts.placement.coverage().complete;
        }, 30_000, `placement over ${n} workers to settle`);
        const held = cluster.experts.membership.workers().map((x) => x.held.length);
        assert.ok(Math.max(...held) - Math.min(...held) <= 1, `balanced: ${held}`);
        const r: GenerateResult = await cluster.engine.generate({ promptIds: prompt, maxTokens: 8, sampling: SAMPLING });
        assert.deepEqual(r.tokens.map((t) => t.id), expected, `with ${n} workers`);
      }
    } finally {
      await cluster?.stop();
    }
  });
});
