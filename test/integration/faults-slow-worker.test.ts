// A stalled worker (SIGSTOP: its TCP streams stay open, it just never answers). With replication 2
// the dispatch deadline moves its share to the replica, the worker is marked suspect and gets no
// more work while suspect, and generation ends with the fault-free tokens. Also when membership
// drops the stalled worker while a dispatch to it is still pending (heartbeat timeout shorter
// than the deadline), that dispatch must fail over, not fail the request.
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { Engine, type GenerateRequest } from '../../common/engine/engine.js';
import type { LayerRouting } from '../../common/experts/expert-backend.js';
import { tinyModel } from '../helpers/tiny-model.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 0 };
const LAYERS = 4;

describe('faults: a stalled worker', () => {
  let model: string;
  let expected: number[][];
  const requests: GenerateRequest[] = [0, 1, 2].map((p) => ({
    promptIds: Array.from({ length: 10 + p * 5 }, (_, i) => (i * 41 + p * 211) % 4096),
    maxTokens: 30,
    sampling: SAMPLING,
  }));
  before(async () => {
    model = await tinyModel({ experts: 8, seed: 13 });
    const engine = await Engine.loadLocal(model);
    expected = (await engine.generateBatch(requests)).map((r) => r.tokens.map((t) => t.id));
    await engine.close();
  });

  /** Runs the requests, SIGSTOPping `victim` before the given layer call; returns the results. */
  async function runWithStall(c: LocalCluster, victimIndex: number, atCall: number): Promise<number[][]> {
    const victim = c.workers[victimIndex]!;
    const backend = c.experts.backend;
    const runLayer = backend.runLayer.bind(backend);
    let calls = 0;
    backend.runLayer = (layer: number, hidden: Float32Array, routing: LayerRouting) => {
      if (++calls === atCall) victim.kill('SIGSTOP');
      return runLayer(layer, hidden, routing);
    };
    try {
      const results = await c.engine.generateBatch(requests);
      assert.ok(calls > atCall, 'the worker was stopped during the generation');
      return results.map((r) => r.tokens.map((t) => t.id));
    } finally {
      backend.runLayer = runLayer;
    }
  }

  it('faults - the dispatch deadline fails over to the replica and marks the stalled worker suspect', async () => {
    let cluster: LocalCluster | null = null;
    try {
      // A long heartbeat timeout keeps the stalled worker a member: only the deadline helps here.
      cluster = await startLocalCluster({ model, workers: 2, replication: 2, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200, heartbeatTimeoutMs: 60_000, dispatchDeadlineMs: 400 });
      const c = cluster;
      const victim = c.workers[0]!;
      assert.deepEqual(c.experts.suspects(), []);
      const t0 = Date.now();
      try {
        const got = await runWithStall(c, 0, 8 * LAYERS + 1);
        got.forEach((tokens, i) => assert.deepEqual(tokens, expected[i], `request ${i}`));
        assert.deepEqual(c.experts.suspects(), [victim.workerId], 'the stalled worker is suspect');
        assert.ok(c.experts.membership.worker(victim.workerId), 'still a member (heartbeat timeout not reached)');
      } finally {
        victim.kill('SIGCONT');
      }
      // Suspects get no work while another holder exists, so the stall costs about one deadline
      // per suspect period (5 s), not one per layer; 30 steps x 4 layers x 400 ms would be 48 s.
      assert.ok(Date.now() - t0 < 20_000, `generation did not wait out the deadline on every layer (${Date.now() - t0} ms)`);
      // Resumed, the worker serves again and results stay exact.
      const again = await c.engine.generateBatch(requests);
      again.forEach((r, i) => assert.deepEqual(r.tokens.map((t) => t.id), expected[i], `request ${i} after SIGCONT`));
    } finally {
      await cluster?.stop();
    }
  });

  it('faults - a pending dispatch to a worker that membership expires fails over to the replica', async () => {
    let cluster: LocalCluster | null = null;
    try {
      // Deadline far beyond the heartbeat timeout: the stalled dispatch is still pending when the
      // worker is declared down and its client is closed.
      cluster = await startLocalCluster({ model, workers: 2, replication: 2, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200, heartbeatTimeoutMs: 1000, dispatchDeadlineMs: 20_000 });
      const c = cluster;
      const victim = c.workers[1]!;
      const t0 = Date.now();
      try {
        const got = await runWithStall(c, 1, 8 * LAYERS + 1);
        got.forEach((tokens, i) => assert.deepEqual(tokens, expected[i], `request ${i}`));
        assert.equal(c.experts.membership.worker(victim.workerId), undefined, 'the stalled worker was dropped from membership');
      } finally {
        victim.kill('SIGCONT');
      }
      assert.ok(Date.now() - t0 < 15_000, `finished before the 20 s deadline (${Date.now() - t0} ms)`);
    } finally {
      await cluster?.stop();
    }
  });
});
