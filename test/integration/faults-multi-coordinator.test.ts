// Many coordinators, one expert pool, all real processes: `gptoss coordinator` children sharing
// three worker processes (replication 2) over one nats-server. The steps run in order on one
// cluster: scale 1 → 3 coordinators under load; SIGKILL the placement leader under load; SIGKILL
// a worker under load; add a worker under load (experts move); scale down to one coordinator
// under load. Every request, on every
// coordinator, must succeed with the same greedy tokens; exactly one coordinator leads at a time.
import assert from 'node:assert/strict';
import { CoordinatorProcess } from '../../cli/coordinator-processes.js';
import { WorkerProcess } from '../../cli/worker-processes.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tinyModel } from '../helpers/tiny-model.js';
import { until } from '../helpers/until.js';

const MODEL = 'multi';
const PROMPT = [17, 400, 1234, 99, 5, 2048, 777, 3001];
const MAX_TOKENS = 8;
const WAIT_MS = 60_000;

async function complete(c: CoordinatorProcess): Promise<string> {
  const r = await fetch(`${c.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, logprobs: 1 }),
  });
  const body = (await r.json()) as { choices?: { text: string; logprobs?: { tokens: string[] } }[]; error?: { message: string } };
  if (r.status !== 200 || !body.choices) throw new Error(`HTTP ${r.status}: ${body.error?.message ?? JSON.stringify(body)}`);
  return JSON.stringify(body.choices[0]!.logprobs?.tokens ?? body.choices[0]!.text);
}

async function gauge(c: CoordinatorProcess, name: string): Promise<number> {
  const text = await fetch(`${c.url}/metrics`).then((r) => r.text());
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} missing from ${c.url}/metrics`);
  return Number(m[1]);
}

async function healthy(c: CoordinatorProcess): Promise<boolean> {
  return fetch(`${c.url}/health`).then((r) => r.status === 200, () => false);
}

/** Sequential requests on each coordinator until stopped; every answer is checked against `expected`. */
function load(coordinators: CoordinatorProcess[], expected: string): { served: () => number; stop: () => Promise<{ ok: number; failures: string[] }> } {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loops = coordinators.map(async (c) => {
    while (running) {
      try {
        const got = await complete(c);
        if (got === expected) ok++;
        else failures.push(`${c.coordinatorId}: changed tokens ${got}`);
      } catch (err) {
        failures.push(`${c.coordinatorId}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  });
  return {
    served: () => ok,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failures };
    },
  };
}

async function leaders(cs: CoordinatorProcess[]): Promise<string[]> {
  const flags = await Promise.all(cs.map((c) => gauge(c, 'gptoss_placement_leader').catch(() => 0)));
  return cs.filter((_, i) => flags[i] === 1).map((c) => c.coordinatorId);
}

describe('faults: many coordinators over one worker pool (real processes)', function () {
  this.timeout(240_000);
  let nats: NatsServer;
  let model: string;
  const workers: WorkerProcess[] = [];
  let coordinators: CoordinatorProcess[] = [];
  let expected = '';

  const startCoordinator = (id: string): Promise<CoordinatorProcess> =>
    CoordinatorProcess.start({ model, natsUrl: nats.url, redisUrl: null, port: 0, replication: 2, servedModelName: MODEL, threads: 1, minWorkers: 3, coordinatorId: id });
  /** Waits until exactly one of `cs` reports holding the placement lease; its id. */
  const oneLeader = async (cs: CoordinatorProcess[]): Promise<string> => {
    let found: string[] = [];
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      found = await leaders(cs);
      if (found.length === 1) return found[0]!;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`leaders: ${found.join(', ') || 'none'}`);
  };

  before(async () => {
    model = await tinyModel({ seed: 41 });
    nats = await NatsServer.start();
    const first = startCoordinator('c1');
    workers.push(...(await Promise.all([1, 2, 3].map((i) => WorkerProcess.start({ model, natsUrl: nats.url, workerId: `mw-${i}`, threads: 1, precision: 'fp32', heartbeatMs: 250 })))));
    coordinators.push(await first);
    const c1 = coordinators[0]!;
    const deadline = Date.now() + WAIT_MS;
    while (!(await healthy(c1)) || (await gauge(c1, 'gptoss_expert_slots_underreplicated')) > 0) {
      if (Date.now() > deadline) throw new Error('c1 never held every expert twice');
      await new Promise((r) => setTimeout(r, 200));
    }
    expected = await complete(c1);
  });

  after(async () => {
    await Promise.all(coordinators.map((c) => c.kill()));
    await Promise.all(workers.map((w) => w.stop()));
    await nats?.stop();
  });

  it('faults - scaling 1 → 3 coordinators under load: every one answers the same greedy tokens, one leads', async () => {
    const traffic = load([coordinators[0]!], expected);
    const added = await Promise.all([startCoordinator('c2'), startCoordinator('c3')]);
    coordinators.push(...added);
    for (const c of added) {
      const deadline = Date.now() + WAIT_MS;
      while (!(await healthy(c))) {
        if (Date.now() > deadline) throw new Error(`${c.coordinatorId} never became healthy`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    for (const c of coordinators) assert.equal(await complete(c), expected, `${c.coordinatorId} answers like c1`);
    const result = await traffic.stop();
    assert.deepEqual(result.failures, []);
    assert.ok(result.ok > 0);
    assert.equal(await oneLeader(coordinators), 'c1', 'the coordinator that started first keeps the lease');
    // Every dashboard lists the three coordinators, c1 as the leader.
    for (const c of coordinators) {
      let listed: { coordinatorId: string; leader: boolean }[] = [];
      const deadline = Date.now() + WAIT_MS;
      while (listed.length !== 3 && Date.now() < deadline) {
        listed = ((await fetch(`${c.url}/dashboard/state`).then((r) => r.json())) as { coordinators: { coordinatorId: string; leader: boolean }[] }).coordinators;
        if (listed.length !== 3) await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(listed.map((x) => [x.coordinatorId, x.leader]), [['c1', true], ['c2', false], ['c3', false]], `${c.coordinatorId}'s dashboard`);
    }
  });

  it('faults - SIGKILL of the placement leader under load: no failed or changed request on the others, exactly one new leader', async () => {
    const leaderId = await oneLeader(coordinators);
    const leader = coordinators.find((c) => c.coordinatorId === leaderId)!;
    const rest = coordinators.filter((c) => c !== leader);
    const traffic = load(rest, expected);
    await until(() => traffic.served() >= 2, WAIT_MS, 'load running');
    await leader.kill();
    coordinators = rest;
    const next = await oneLeader(rest);
    assert.notEqual(next, leaderId);
    const served = traffic.served();
    await until(() => traffic.served() >= served + 4, WAIT_MS, 'requests after the takeover');
    const result = await traffic.stop();
    assert.deepEqual(result.failures, []);
    assert.deepEqual(await leaders(rest), [next]);
  });

  it('faults - SIGKILL of a worker under load: the new leader re-replicates until nothing is under-replicated', async () => {
    const traffic = load(coordinators, expected);
    await until(() => traffic.served() >= 2, WAIT_MS, 'load running');
    const victim = workers.shift()!;
    victim.kill('SIGKILL');
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const states = await Promise.all(coordinators.map(async (c) => [await gauge(c, 'gptoss_live_workers'), await gauge(c, 'gptoss_expert_slots_underreplicated')]));
      if (states.every(([live, under]) => live === 2 && under === 0)) break;
      if (Date.now() > deadline) throw new Error(`live workers / under-replicated slots per coordinator: ${JSON.stringify(states)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const result = await traffic.stop();
    assert.deepEqual(result.failures, []);
    for (const c of coordinators) assert.equal(await complete(c), expected);
  });

  it('faults - a worker joining under load moves experts between workers: no coordinator routes to an expert already dropped', async () => {
    const traffic = load(coordinators, expected);
    await until(() => traffic.served() >= 2, WAIT_MS, 'load running');
    workers.push(await WorkerProcess.start({ model, natsUrl: nats.url, workerId: 'mw-4', threads: 1, precision: 'fp32', heartbeatMs: 250 }));
    // Settled on every coordinator: three workers, each holding exactly what it is assigned (the
    // newcomer took a share, the others dropped what moved).
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const states = await Promise.all(coordinators.map((c) => fetch(`${c.url}/dashboard/state`).then((r) => r.json() as Promise<{ workers: { workerId: string; held: number; assigned: number }[] }>)));
      const done = states.every((st) => st.workers.length === 3 && st.workers.every((w) => w.assigned > 0 && w.held === w.assigned));
      if (done) break;
      if (Date.now() > deadline) throw new Error(`placement never settled: ${JSON.stringify(states.map((st) => st.workers))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const served = traffic.served();
    await until(() => traffic.served() >= served + 2, WAIT_MS, 'requests after the move');
    const result = await traffic.stop();
    assert.deepEqual(result.failures, []);
  });

  it('faults - scaling down to one coordinator (SIGTERM of the leader) under load: the last one leads and serves', async () => {
    const leaderId = await oneLeader(coordinators);
    const leaving = coordinators.find((c) => c.coordinatorId === leaderId)!;
    const staying = coordinators.filter((c) => c !== leaving);
    const traffic = load(staying, expected);
    await until(() => traffic.served() >= 2, WAIT_MS, 'load running');
    await leaving.stop();
    coordinators = staying;
    assert.equal(await oneLeader(staying), staying[0]!.coordinatorId);
    const served = traffic.served();
    await until(() => traffic.served() >= served + 2, WAIT_MS, 'requests after the scale-down');
    const result = await traffic.stop();
    assert.deepEqual(result.failures, []);
  });
});
