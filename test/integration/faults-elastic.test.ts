// Elastic workers while generations run: a worker added mid-stream receives experts and starts
// serving without interrupting anything, and a worker drained with SIGTERM hands its experts over
// before it leaves; in both cases every request ends with exactly the fault-free tokens.
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { Engine, type GenerateRequest } from '../../common/engine/engine.js';
import type { LayerRouting } from '../../common/experts/expert-backend.js';
import { tinyModel } from '../helpers/tiny-model.js';
import { until } from '../helpers/until.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 0 };
const LAYERS = 4;
const EXPERTS = 8;

describe('faults: elastic workers during generation', () => {
  let model: string;
  let expected: number[][];
  const requests: GenerateRequest[] = [0, 1, 2].map((p) => ({
    promptIds: Array.from({ length: 10 + p * 5 }, (_, i) => (i * 53 + p * 211) % 4096),
    maxTokens: 60,
    sampling: SAMPLING,
  }));
  before(async () => {
    model = await tinyModel({ experts: EXPERTS, seed: 17 });
    const engine = await Engine.loadLocal(model);
    expected = (await engine.generateBatch(requests)).map((r) => r.tokens.map((t) => t.id));
    await engine.close();
  });

  /** Calls `action` once, after `step` decode steps, from inside the forward pass. */
  function atStep(cluster: LocalCluster, step: number, action: () => void): () => number {
    const backend = cluster.experts.backend;
    const runLayer = backend.runLayer.bind(backend);
    let calls = 0;
    backend.runLayer = (layer: number, hidden: Float32Array, routing: LayerRouting) => {
      if (++calls === step * LAYERS) action();
      return runLayer(layer, hidden, routing);
    };
    return () => calls;
  }

  it('faults - a worker added while streams run receives experts and serves them; tokens are unchanged', async () => {
    let cluster: LocalCluster | null = null;
    try {
      cluster = await startLocalCluster({ model, workers: 1, replication: 1, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200 });
      const c = cluster;
      let joining: Promise<unknown> | null = null;
      atStep(c, 5, () => (joining = c.addWorker()));
      // Generation keeps going while the new worker starts, loads its share and takes over.
      const results = await c.engine.generateBatch(requests);
      assert.deepEqual(results.map((r) => r.tokens.map((t) => t.id)), expected);
      await joining;
      await c.experts.settled(2, 30_000);
      const fresh = c.workers[1]!;
      const slots = c.experts.membership.worker(fresh.workerId)!.held;
      assert.ok(slots.length >= (LAYERS * EXPERTS) / 2 - 1, `the new worker holds ${slots.length} experts`);
      assert.ok([...c.experts.placement.routing().values()].some((h) => h.includes(fresh.workerId)), 'and is routed to');
      const again = await c.engine.generateBatch(requests);
      assert.deepEqual(again.map((r) => r.tokens.map((t) => t.id)), expected);
    } finally {
      await cluster?.stop();
    }
  });

  it('faults - a worker drained with SIGTERM hands its experts over first; no request notices', async () => {
    let cluster: LocalCluster | null = null;
    try {
      cluster = await startLocalCluster({ model, workers: 3, replication: 1, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200, heartbeatTimeoutMs: 1000 });
      const c = cluster;
      const leaving = c.workers[0]!;
      assert.ok(c.experts.membership.worker(leaving.workerId)!.held.length > 0);
      let stopped: Promise<void> | null = null;
      atStep(c, 5, () => (stopped = leaving.drain()));
      // Replication 1: only a hand-over keeps the leaving worker's experts reachable.
      const results = await c.engine.generateBatch(requests);
      assert.deepEqual(results.map((r) => r.tokens.map((t) => t.id)), expected);
      await stopped;
      assert.notEqual(leaving.child.exitCode, null, 'the drained worker exited');
      await until(() => c.experts.membership.worker(leaving.workerId) === undefined, 10_000, 'the drained worker to leave membership');
      assert.equal(c.experts.placement.coverage().complete, true);
      const again = await c.engine.generateBatch(requests);
      assert.deepEqual(again.map((r) => r.tokens.map((t) => t.id)), expected);
    } finally {
      await cluster?.stop();
    }
  });
});
