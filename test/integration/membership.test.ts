// The control plane against a real nats-server: fake workers (announcer + placement follower,
// held lists are just numbers) and a coordinator (membership + placement manager).
import assert from 'node:assert/strict';
import { connectNats, openPlacementKv, type ClusterConnection } from '../../common/cluster/nats-connection.js';
import { clusterSubjects, type ClusterSubjects } from '../../common/cluster/subjects.js';
import { decodePlacementRecord, type PlacementRecord } from '../../common/cluster/events.js';
import { WorkerAnnouncer } from '../../worker/membership-announcer.js';
import { PlacementFollower, reconcile } from '../../common/cluster/placement-follower.js';
import { ClusterMembership } from '../../coordinator/control-plane/membership.js';
import { PlacementManager } from '../../coordinator/control-plane/placement-manager.js';
import { ClusterTimeoutError } from '../../common/errors.js';
import { NatsServer } from '../helpers/nats-server.js';

const NUM_LAYERS = 2;
const NUM_EXPERTS = 8;
const NUM_SLOTS = NUM_LAYERS * NUM_EXPERTS;
const HEARTBEAT_MS = 200;
const HEARTBEAT_TIMEOUT_MS = 1000;

let server: NatsServer;
let prefixSeq = 0;
const cleanups: (() => Promise<void>)[] = [];

function connect(name: string): Promise<ClusterConnection> {
  return connectNats({ servers: server.url, name, reconnectTimeWaitMs: 100, timeoutMs: 2000 }).then((c) => {
    cleanups.push(() => c.close());
    return c;
  });
}

/** Polls `check` (which throws or returns false while not yet true) until it passes. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} not true within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A worker without a model: loading a slot is adding its number to `held`. */
class FakeWorker {
  held: number[] = [];
  pending: number[] = [];
  readonly records: PlacementRecord[] = [];
  private announcer!: WorkerAnnouncer;
  private follower!: PlacementFollower;
  private conn!: ClusterConnection;

  private constructor(
    readonly id: string,
    /** When true, slots to load wait in `pending` until release(). */
    private manual: boolean,
  ) {}

  static async start(
    subjects: ClusterSubjects,
    id: string,
    opts: { capacity?: number; manual?: boolean; expertLoad?: () => { windowMs: number; slots: number[]; tokens: number[] } } = {},
  ): Promise<FakeWorker> {
    const w = new FakeWorker(id, opts.manual ?? false);
    w.conn = await connect(id);
    w.announcer = new WorkerAnnouncer(w.conn.nc, subjects, {
      workerId: id,
      address: `127.0.0.1:${50000 + prefixSeq}`,
      capacity: opts.capacity ?? 100,
      modelFingerprint: 'fp-test',
      heartbeatMs: HEARTBEAT_MS,
      ...(opts.expertLoad ? { expertLoad: opts.expertLoad } : {}),
    });
    w.follower = new PlacementFollower(w.conn.nc, subjects, { onPlacement: (r) => w.apply(r), retryMs: 200 });
    w.announcer.start();
    await w.follower.start();
    cleanups.push(() => w.stop());
    return w;
  }

  private apply(record: PlacementRecord): void {
    this.records.push(record);
    const { load, drop } = reconcile(record, this.id, this.held);
    this.held = this.held.filter((s) => !drop.includes(s));
    if (this.manual) this.pending = load;
    else this.held = [...this.held, ...load];
    this.announcer.update(this.held);
  }

  release(): void {
    this.manual = false;
    this.held = [...this.held, ...this.pending];
    this.pending = [];
    this.announcer.update(this.held);
  }

  drain(): void {
    this.announcer.update(this.held, true);
  }

  /** Clean stop: "left" is published. */
  async stop(): Promise<void> {
    await this.announcer.stop('test');
    await this.follower.close();
    await this.conn.close();
  }

  /** The process dies: the connection goes away without a "left". */
  async crash(): Promise<void> {
    await this.follower.close();
    await this.conn.nc.close();
  }
}

interface Coordinator {
  membership: ClusterMembership;
  manager: PlacementManager;
  kvRecord(): Promise<PlacementRecord | null>;
}

async function startCoordinator(subjects: ClusterSubjects, replication = 1): Promise<Coordinator> {
  const conn = await connect('coordinator');
  const membership = new ClusterMembership(conn.nc, subjects, { heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, sweepMs: 100 });
  await membership.start();
  const manager = new PlacementManager(conn.nc, membership, subjects, { numLayers: NUM_LAYERS, numExperts: NUM_EXPERTS, replication, debounceMs: 50, retryMs: 200 });
  await manager.start();
  cleanups.push(async () => {
    await manager.close();
    await membership.close();
  });
  const kv = await openPlacementKv(conn.nc, subjects);
  return {
    membership,
    manager,
    kvRecord: async () => {
      const e = await kv.get(subjects.placementKey);
      return e && e.operation === 'PUT' ? decodePlacementRecord(e.value, 'kv') : null;
    },
  };
}

function slotsOf(map: Record<string, number[]>): number[] {
  return [...new Set(Object.values(map).flat())].sort((a, b) => a - b);
}

const ALL_SLOTS = Array.from({ length: NUM_SLOTS }, (_, s) => s);

describe('control plane (nats-server)', function () {
  this.timeout(60_000);
  let subjects: ClusterSubjects;

  before(async () => {
    server = await NatsServer.start();
  });

  after(async () => {
    await server?.stop();
  });

  beforeEach(() => {
    subjects = clusterSubjects(`t${++prefixSeq}`);
  });

  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
  });

  it('membership - placement covers every slot for 1..4 workers', async () => {
    const c = await startCoordinator(subjects);
    const workers: FakeWorker[] = [];
    for (let n = 1; n <= 4; n++) {
      workers.push(await FakeWorker.start(subjects, `w${n}`));
      await c.membership.waitFor((ws) => ws.length === n, 5000);
      await eventually(`${n} workers: KV record targets all and active == target`, async () => {
        const r = await c.kvRecord();
        if (!r || Object.values(r.target).filter((s) => s.length > 0).length !== n) return false;
        assert.deepEqual(slotsOf(r.target), ALL_SLOTS);
        assert.deepEqual(r.active, r.target);
        return true;
      });
      await c.manager.ready(5000);
      const routing = c.manager.routing();
      assert.equal(routing.size, NUM_SLOTS);
      for (const [slot, ids] of routing) for (const id of ids) assert.ok(workers.find((w) => w.id === id)!.held.includes(slot));
      assert.deepEqual(c.manager.coverage(), { complete: true, missing: [], unplaced: [] });
    }
  });

  it('membership - a late joiner gets slots in target first; active switches only after it reports them held', async () => {
    const c = await startCoordinator(subjects);
    const old = [await FakeWorker.start(subjects, 'a'), await FakeWorker.start(subjects, 'b'), await FakeWorker.start(subjects, 'c')];
    await c.manager.ready(5000);
    const d = await FakeWorker.start(subjects, 'd', { manual: true });

    let record: PlacementRecord | null = null;
    await eventually('d in the KV target', async () => {
      record = await c.kvRecord();
      return (record?.target['d']?.length ?? 0) > 0;
    });
    const moved = record!.target['d']!;
    assert.ok(moved.length >= 3, `d got ${moved.length} slots`);
    assert.deepEqual(record!.active['d'] ?? [], [], 'd is active before it loaded anything');
    for (const s of moved) assert.ok(old.some((w) => record!.active[w.id]!.includes(s)), `slot ${s} lost its active holder`);
    await eventually('d asked to load its target', () => d.pending.length === moved.length);
    // While d loads, the old holders keep the moved slots and keep serving them.
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS));
    assert.ok(c.manager.coverage().complete);
    for (const s of moved) assert.ok(old.some((w) => w.held.includes(s)));
    assert.ok(![...c.manager.routing().values()].flat().includes('d'));

    d.release();
    await eventually('active switched to d', async () => {
      const r = await c.kvRecord();
      return r !== null && JSON.stringify(r.active['d']) === JSON.stringify(moved);
    });
    await eventually('old holders dropped the moved slots', () => old.every((w) => moved.every((s) => !w.held.includes(s))));
    await eventually('routing sends the moved slots to d', () => moved.every((s) => JSON.stringify(c.manager.routing().get(s)) === '["d"]'));
    assert.ok(c.manager.coverage().complete);
  });

  it('membership - a worker that stops heartbeating drops out within the timeout and its slots are re-placed', async () => {
    const c = await startCoordinator(subjects);
    const workers = [await FakeWorker.start(subjects, 'a'), await FakeWorker.start(subjects, 'b'), await FakeWorker.start(subjects, 'c')];
    await c.manager.ready(5000);
    const down = new Promise<[string, string, number]>((resolve) => c.membership.once('workerDown', (w, reason) => resolve([w.workerId, reason, Date.now()])));
    const crashedAt = Date.now();
    await workers[2]!.crash();
    const [id, reason, at] = await down;
    assert.equal(id, 'c');
    assert.equal(reason, 'timeout');
    assert.ok(at - crashedAt <= HEARTBEAT_TIMEOUT_MS + 800, `down after ${at - crashedAt} ms`);
    await eventually('c out of the target and every slot re-placed', async () => {
      const r = await c.kvRecord();
      if (!r || (r.target['c'] ?? []).length > 0) return false;
      assert.deepEqual(slotsOf(r.target), ALL_SLOTS);
      return c.manager.coverage().complete;
    });
    assert.deepEqual(c.membership.workers().map((w) => w.workerId), ['a', 'b']);
  });

  it('membership - a worker that says left is down at once', async () => {
    const c = await startCoordinator(subjects);
    const a = await FakeWorker.start(subjects, 'a');
    await c.membership.waitFor((ws) => ws.length === 1, 5000);
    const down = new Promise<string>((resolve) => c.membership.once('workerDown', (_w, reason) => resolve(reason)));
    await a.stop();
    assert.equal(await down, 'left: test');
    assert.deepEqual(c.membership.workers(), []);
  });

  it('membership - survives a nats-server restart and resyncs from the next heartbeats', async () => {
    const c = await startCoordinator(subjects);
    const workers = [await FakeWorker.start(subjects, 'a'), await FakeWorker.start(subjects, 'b'), await FakeWorker.start(subjects, 'c')];
    await c.manager.ready(5000);
    const before = await c.kvRecord();
    const downs: string[] = [];
    c.membership.on('workerDown', (w) => downs.push(w.workerId));

    // Down for longer than the heartbeat timeout: expiry must be suspended while disconnected.
    await server.restart(HEARTBEAT_TIMEOUT_MS * 2);
    const restartedAt = Date.now();
    assert.equal(c.membership.workers().length, 3);
    await c.membership.waitFor((ws) => ws.length === 3 && ws.every((w) => w.lastSeenMs >= restartedAt), 10_000);
    await new Promise((r) => setTimeout(r, HEARTBEAT_TIMEOUT_MS + 500));
    assert.deepEqual(downs, []);
    assert.equal(c.membership.workers().length, 3);
    assert.ok(c.manager.coverage().complete);
    assert.deepEqual((await c.kvRecord())?.target, before!.target, 'the stored placement survived');

    // The KV write path and the workers' watches work after the restart.
    const d = await FakeWorker.start(subjects, 'd');
    await eventually('d placed and loaded after the restart', async () => {
      const r = await c.kvRecord();
      return r !== null && (r.active['d']?.length ?? 0) > 0 && JSON.stringify(r.active) === JSON.stringify(r.target);
    }, 15_000);
    const latest = (await c.kvRecord())!;
    await eventually('old workers saw the latest record', () => workers.every((w) => w.records.at(-1)?.version === latest.version));
    assert.ok(c.manager.coverage().complete);
    assert.ok(d.held.length > 0);
  });

  it('placement - a draining worker keeps serving until its slots are loaded elsewhere, then holds nothing', async () => {
    const c = await startCoordinator(subjects);
    const [a, b] = [await FakeWorker.start(subjects, 'a'), await FakeWorker.start(subjects, 'b')];
    await c.manager.ready(5000);
    const bSlots = [...b.held];
    b.drain();
    await eventually('b out of the target, its slots active on a, b emptied', async () => {
      const r = await c.kvRecord();
      return r !== null && (r.target['b'] ?? []).length === 0 && bSlots.every((s) => r.active['a']!.includes(s)) && b.held.length === 0;
    });
    assert.deepEqual([...a.held].sort((x, y) => x - y), ALL_SLOTS);
    assert.ok(c.manager.coverage().complete);
    assert.equal(c.membership.worker('b')?.draining, true);
  });

  it('membership - per-expert load reports reach the coordinator', async () => {
    const c = await startCoordinator(subjects);
    const got = new Promise<unknown>((resolve) => c.membership.once('expertLoad', resolve));
    await FakeWorker.start(subjects, 'a', { expertLoad: () => ({ windowMs: HEARTBEAT_MS, slots: [3, 5], tokens: [10, 2] }) });
    const report = (await got) as { workerId: string; slots: number[]; tokens: number[] };
    assert.equal(report.workerId, 'a');
    assert.deepEqual([report.slots, report.tokens], [[3, 5], [10, 2]]);
  });

  it('membership - a malformed message is dropped and the subscription keeps working', async () => {
    const c = await startCoordinator(subjects);
    const conn = await connect('garbage');
    conn.nc.publish(subjects.workerHeartbeat, 'not json');
    conn.nc.publish(subjects.workerJoined, JSON.stringify({ workerId: 'x', held: 'nope' }));
    conn.nc.publish(subjects.workerLeft, '{}');
    await conn.nc.flush();
    await FakeWorker.start(subjects, 'a');
    const ws = await c.membership.waitFor((list) => list.length === 1, 5000);
    assert.equal(ws[0]!.workerId, 'a');
  });

  it('membership - waitFor rejects with ClusterTimeoutError', async () => {
    const c = await startCoordinator(subjects);
    await assert.rejects(c.membership.waitFor((ws) => ws.length === 5, 200), (e: unknown) => e instanceof ClusterTimeoutError && e.waitedMs === 200);
  });

  it('placement - a restarted coordinator resumes the stored record (version continues, placement sticky)', async () => {
    const c1 = await startCoordinator(subjects);
    await FakeWorker.start(subjects, 'a');
    await FakeWorker.start(subjects, 'b');
    await c1.manager.ready(5000);
    await eventually('both workers active', async () => Object.values((await c1.kvRecord())?.active ?? {}).filter((s) => s.length > 0).length === 2);
    const first = (await c1.kvRecord())!;
    await c1.manager.close();
    await c1.membership.close();

    const c2 = await startCoordinator(subjects);
    await c2.manager.ready(5000);
    await FakeWorker.start(subjects, 'c');
    await eventually('c placed by the new coordinator', async () => ((await c2.kvRecord())?.target['c']?.length ?? 0) > 0);
    const next = (await c2.kvRecord())!;
    assert.ok(next.version > first.version);
    for (const id of ['a', 'b']) for (const s of next.target[id]!) assert.ok(first.target[id]!.includes(s), `${id} was given new slot ${s}`);
  });
});
