// Replication 1 and no spare capacity: a SIGKILLed worker's experts have no holder. A generation
// that needs them fails fast with ExpertUnavailableError naming layer and expert, health names the
// missing experts, and a worker added later takes them over so the same request succeeds again.
import assert from 'node:assert/strict';
import { startLocalCluster, type LocalCluster } from '../../cli/local-cluster.js';
import { Engine, type GenerateRequest } from '../../common/engine/engine.js';
import { ExpertUnavailableError } from '../../common/errors.js';
import { tinyModel } from '../helpers/tiny-model.js';

const SAMPLING = { temperature: 0, topP: 1, topLogprobs: 0 };
const LAYERS = 4;
const EXPERTS = 8;
const SLOTS = LAYERS * EXPERTS;

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function assertUnavailable(err: unknown, victimSlots: Set<number>, detail: RegExp): true {
  assert.ok(err instanceof ExpertUnavailableError, `ExpertUnavailableError, got ${String(err)}`);
  assert.match(err.message, new RegExp(`^layer ${err.layer} expert ${err.expert}: `));
  assert.match(err.message, detail);
  assert.ok(victimSlots.has(err.layer * EXPERTS + err.expert), `layer ${err.layer} expert ${err.expert} was the dead worker's`);
  return true;
}

describe('faults: an expert without a live holder', () => {
  let model: string;
  let expected: number[];
  const request: GenerateRequest = { promptIds: Array.from({ length: 24 }, (_, i) => (i * 53 + 7) % 4096), maxTokens: 12, sampling: SAMPLING };
  before(async () => {
    model = await tinyModel({ experts: EXPERTS, seed: 12 });
    const engine = await Engine.loadLocal(model);
    expected = (await engine.generate(request)).tokens.map((t) => t.id);
    await engine.close();
  });

  it('faults - fails fast with ExpertUnavailableError, health names the experts, a new worker restores serving', async () => {
    let cluster: LocalCluster | null = null;
    try {
      // Each worker can hold only half the slots, so the survivor cannot take the victim's share.
      cluster = await startLocalCluster({ model, workers: 2, replication: 1, workerCapacity: SLOTS / 2, expertPrecision: 'fp32', quiet: true, heartbeatMs: 200, heartbeatTimeoutMs: 1000 });
      const c = cluster;
      const ok = await c.engine.generate(request);
      assert.deepEqual(ok.tokens.map((t) => t.id), expected, 'fault-free before');

      const victim = c.workers[0]!;
      const victimSlots = new Set(c.experts.membership.worker(victim.workerId)!.held);
      assert.equal(victimSlots.size, SLOTS / 2);
      victim.kill('SIGKILL');
      await new Promise<void>((r) => (victim.child.exitCode !== null || victim.child.signalCode !== null ? r() : victim.child.once('exit', () => r())));

      // Right after the kill the routing still lists the victim: its broken stream is retryable,
      // but no other holder exists.
      let t0 = Date.now();
      await assert.rejects(c.engine.generate(request), (err) => assertUnavailable(err, victimSlots, /every holder failed|no live worker holds it/));
      assert.ok(Date.now() - t0 < 10_000, `failed fast (${Date.now() - t0} ms)`);

      // Once membership drops it, health names the missing experts and requests fail at once.
      await until(() => !c.experts.health().ok, 10_000, 'health to report missing experts');
      const health = c.experts.health();
      const missing = c.experts.placement.coverage().missing;
      assert.deepEqual(missing, [...victimSlots].sort((a, b) => a - b));
      const first = missing[0]!;
      assert.match(health.detail, new RegExp(`^${SLOTS / 2} experts have no live holder \\(layer ${Math.floor(first / EXPERTS)} expert ${first % EXPERTS}, `));
      t0 = Date.now();
      await assert.rejects(c.engine.generate(request), (err) => assertUnavailable(err, victimSlots, /no live worker holds it$/));
      assert.ok(Date.now() - t0 < 10_000, `failed fast (${Date.now() - t0} ms)`);

      // A new worker takes the orphaned experts; serving resumes with no further action.
      const fresh = await c.addWorker();
      await c.experts.ready(30_000);
      assert.ok(c.experts.health().ok, c.experts.health().detail);
      assert.deepEqual([...c.experts.membership.worker(fresh.workerId)!.held].sort((a, b) => a - b), [...victimSlots].sort((a, b) => a - b));
      // The lost experts count as re-replicated once the new worker holds them; it reports when it held them.
      const rr = c.experts.rereplication.figures();
      assert.equal(rr.awaiting, 0);
      assert.equal(rr.last?.slots, victimSlots.size);
      assert.ok(rr.last!.perSecond > 0 && rr.last!.seconds > 0);
      assert.ok((c.experts.membership.worker(fresh.workerId)!.loadedInMs ?? 0) > 0, 'the new worker reports its load time');
      const r = await c.engine.generate(request);
      assert.deepEqual(r.tokens.map((t) => t.id), expected, 'fault-free after the new worker joined');
    } finally {
      await cluster?.stop();
    }
  });
});
