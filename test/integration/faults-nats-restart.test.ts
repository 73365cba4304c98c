// The control plane goes away while the data plane serves: nats-server is restarted in the middle
// of a generation. gRPC streams need no NATS, so the tokens are fault-free; the coordinator keeps
// its worker table through the outage (expiry is suspended while disconnected), and after NATS
// returns a worker added later still receives experts (membership and placement resynced).
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { Engine, type GenerateRequest } from '../../common/engine/engine.js';
import type { LayerRouting } from '../../common/experts/expert-backend.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tinyModel } from '../helpers/tiny-model.js';
import { until } from '../helpers/until.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 0 };
const LAYERS = 4;

describe('faults: nats-server restart', () => {
  let model: string;
  let expected: number[][];
  const requests: GenerateRequest[] = [0, 1, 2].map((p) => ({
    promptIds: Array.from({ length: 14 + p * 4 }, (_, i) => (i * 29 + p * 157) % 4096),
    maxTokens: 40,
    sampling: SAMPLING,
  }));
  before(async () => {
    model = await tinyModel({ experts: 8, seed: 14 });
    const engine = await Engine.loadLocal(model);
    expected = (await engine.generateBatch(requests)).map((r) => r.tokens.map((t) => t.id));
    await engine.close();
  });

  it('faults - generation is fault-free through a NATS restart; membership and placement resync afterwards', async () => {
    let nats: NatsServer | null = null;
    let cluster: LocalCluster | null = null;
    try {
      nats = await NatsServer.start();
      const n = nats;
      cluster = await startLocalCluster({ model, natsUrl: n.url, workers: 2, replication: 1, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200, heartbeatTimeoutMs: 1000 });
      const c = cluster;
      const ids = c.workers.map((w) => w.workerId).sort();

      // At step 10, take NATS down for longer than the heartbeat timeout, and keep generating
      // while it is down.
      const backend = c.experts.backend;
      const runLayer = backend.runLayer.bind(backend);
      let calls = 0;
      let restart: Promise<void> | null = null;
      let stepsWhileDown = 0;
      backend.runLayer = async (layer: number, hidden: Float32Array, routing: LayerRouting) => {
        if (++calls === 10 * LAYERS + 1) {
          restart = n.restart(2500);
          await until(() => !n.running, 10_000, 'nats-server to stop');
          await new Promise((r) => setTimeout(r, 1500)); // past the heartbeat timeout, still down
        }
        if (restart && !n.running) stepsWhileDown++;
        return runLayer(layer, hidden, routing);
      };
      const results = await c.engine.generateBatch(requests);
      backend.runLayer = runLayer;
      assert.ok(restart, 'nats was restarted during the generation');
      assert.ok(stepsWhileDown > LAYERS, `layers ran while NATS was down (${stepsWhileDown})`);
      results.forEach((r, i) => assert.deepEqual(r.tokens.map((t) => t.id), expected[i], `request ${i}`));
      await restart;

      // Back up: both workers are still members (and stay so past a heartbeat timeout), every
      // slot is covered.
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(c.experts.membership.workers().map((w) => w.workerId).sort(), ids);
      assert.ok(c.experts.health().ok, c.experts.health().detail);

      // A worker added now is heard and receives experts: membership and placement work again.
      const fresh = await c.addWorker();
      await until(() => (c.experts.membership.worker(fresh.workerId)?.held.length ?? 0) > 0, 30_000, 'the new worker to receive experts');
      await c.experts.settled(3, 30_000);
      const again = await c.engine.generateBatch(requests);
      again.forEach((r, i) => assert.deepEqual(r.tokens.map((t) => t.id), expected[i], `request ${i} with 3 workers`));
    } finally {
      await cluster?.stop();
      await nats?.stop();
    }
  });
});
