// One placement writer among several coordinators, against a real nats-server: in-process
// coordinators (membership + lease + placement manager, each on its own connection) and fake
// workers (held lists are numbers). Covers the election, the takeover when the leader's
// connection dies, the compare-and-set between two processes that both believe they lead, and a
// coordinator cut off from NATS by a proxy.
import assert from 'node:assert/strict';
import net from 'node:net';
import { connectNats, type ClusterConnection } from '../../common/cluster/nats-connection.js';
import { clusterSubjects, type ClusterSubjects } from '../../common/cluster/subjects.js';
import type { PlacementRecord } from '../../common/cluster/events.js';
import { PlacementFollower, reconcile } from '../../common/cluster/placement-follower.js';
import { WorkerAnnouncer } from '../../worker/membership-announcer.js';
import { ClusterMembership } from '../../coordinator/control-plane/membership.js';
import { PlacementManager, type PlacementWriterGate } from '../../coordinator/control-plane/placement-manager.js';
import { PlacementLease } from '../../coordinator/control-plane/placement-lease.js';
import { NatsServer } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const NUM_LAYERS = 2;
const NUM_EXPERTS = 4;
const NUM_SLOTS = NUM_LAYERS * NUM_EXPERTS;
const LEASE = { ttlMs: 1500, renewMs: 500 };
const WAIT_MS = 30_000;

let server: NatsServer;
let prefixSeq = 0;
const cleanups: (() => Promise<void>)[] = [];

async function connect(url: string, name: string): Promise<ClusterConnection> {
  const c = await connectNats({ servers: url, name, reconnectTimeWaitMs: 100, timeoutMs: 2000 });
  cleanups.push(() => c.close());
  return c;
}

/** A worker without a model: loading a slot is adding its number to `held`. */
async function fakeWorker(
  subjects: ClusterSubjects,
  id: string,
  o: { capacity?: number; expertLoad?: () => { windowMs: number; slots: number[]; tokens: number[] } } = {},
): Promise<{ id: string; crash: () => Promise<void> }> {
  const conn = await connect(server.url, id);
  let held: number[] = [];
  const announcer = new WorkerAnnouncer(conn.nc, subjects, { workerId: id, address: '127.0.0.1:1', capacity: o.capacity ?? NUM_SLOTS, modelFingerprint: 'fp', heartbeatMs: 200, ...(o.expertLoad ? { expertLoad: o.expertLoad } : {}) });
  const follower = new PlacementFollower(conn.nc, subjects, {
    retryMs: 200,
    onPlacement: (r) => {
      const { load, drop } = reconcile(r, id, held);
      held = [...held.filter((s) => !drop.includes(s)), ...load];
      announcer.update(held);
    },
  });
  announcer.start();
  await follower.start();
  cleanups.push(async () => {
    await announcer.stop('test');
    await follower.close();
  });
  return { id, crash: async () => void (await follower.close(), await conn.nc.close()) };
}

interface TestCoordinator {
  id: string;
  conn: ClusterConnection;
  membership: ClusterMembership;
  lease: PlacementLease | null;
  manager: PlacementManager;
}

async function coordinator(subjects: ClusterSubjects, id: string, o: { url?: string; gate?: PlacementWriterGate; debounceMs?: number; replication?: number; loadAware?: boolean } = {}): Promise<TestCoordinator> {
  const conn = await connect(o.url ?? server.url, id);
  const membership = new ClusterMembership(conn.nc, subjects, { heartbeatTimeoutMs: 1000, sweepMs: 100 });
  await membership.start();
  const lease = o.gate ? null : new PlacementLease(conn.nc, subjects, { id, ...LEASE });
  await lease?.start();
  const manager = new PlacementManager(conn.nc, membership, subjects, {
      numLayers: NUM_LAYERS,
      numExperts: NUM_EXPERTS,
      replication: o.replication ?? 2,
      debounceMs: o.debounceMs ?? 50,
      retryMs: 200,
      startupGraceMs: 0,
      ...(o.loadAware ? { loadAware: { windowMs: 10_000, minIntervalMs: 200 } } : {}),
    }, undefined, o.gate ?? lease);
  await manager.start();
  cleanups.push(async () => {
    await manager.close();
    await lease?.close();
    await membership.close();
  });
  return { id, conn, membership, lease, manager };
}

/** Every record written to the key from now on, in order. */
async function recordLog(subjects: ClusterSubjects): Promise<PlacementRecord[]> {
  const conn = await connect(server.url, 'observer');
  const seen: PlacementRecord[] = [];
  const follower = new PlacementFollower(conn.nc, subjects, { onPlacement: (r) => void seen.push(r), retryMs: 200 });
  await follower.start();
  cleanups.push(() => follower.close());
  return seen;
}

const leaders = (cs: TestCoordinator[]): string[] => cs.filter((c) => c.lease?.isLeader()).map((c) => c.id);
const settled = (c: TestCoordinator, workers: number): boolean => {
  const r = c.manager.record();
  return !!r && Object.keys(r.active).filter((id) => r.active[id]!.length > 0).length === workers && c.manager.underreplicated() === 0;
};

/** A TCP proxy to the NATS server that can cut every connection and refuse new ones. */
async function cuttableProxy(port: number): Promise<{ url: string; cut: () => void; restore: () => void; close: () => void }> {
  const sockets = new Set<net.Socket>();
  let open = true;
  const proxy = net.createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = net.connect({ port, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const cut = (): void => {
    open = false;
    for (const s of sockets) s.destroy();
  };
  return {
    url: `nats://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
    cut,
    restore: () => void (open = true),
    close: () => {
      cut();
      proxy.close();
    },
  };
}

describe('placement leader (nats-server)', function () {
  this.timeout(90_000);
  let subjects: ClusterSubjects;

  before(async () => {
    server = await NatsServer.start();
  });

  after(async () => {
    await server?.stop();
  });

  beforeEach(() => {
    subjects = clusterSubjects(`lead${++prefixSeq}`);
  });

  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
  });

  it('placement leader - of three coordinators exactly one writes; the others route by its record; its death hands over to one other, which re-replicates a dead worker', async () => {
    const seen = await recordLog(subjects);
    const cs = [await coordinator(subjects, 'c1'), await coordinator(subjects, 'c2'), await coordinator(subjects, 'c3')];
    const workers = [await fakeWorker(subjects, 'w1'), await fakeWorker(subjects, 'w2'), await fakeWorker(subjects, 'w3')];
    await until(() => cs.every((c) => settled(c, 3)), WAIT_MS, 'every coordinator sees the full placement');
    assert.deepEqual(leaders(cs), ['c1'], 'the first coordinator to start holds the lease');
    assert.ok(seen.length > 0 && seen.every((r) => r.writer === 'c1'), `records written by ${[...new Set(seen.map((r) => r.writer))].join(', ')}`);
    assert.equal(cs[1]!.manager.writeCounts().writes + cs[2]!.manager.writeCounts().writes, 0);
    for (const c of cs.slice(1)) assert.deepEqual([...c.manager.routing()], [...cs[0]!.manager.routing()]);

    // The leader's process dies: its connection drops without releasing the lease.
    const before = seen.length;
    await cs[0]!.manager.close();
    await cs[0]!.conn.nc.close();
    const rest = cs.slice(1);
    await until(() => leaders(rest).length === 1, WAIT_MS, 'a new leader');
    const next = rest.find((c) => c.lease!.isLeader())!;
    // A worker dies: the new leader moves its copies onto the survivors until nothing is short.
    await workers[0]!.crash();
    await until(() => rest.every((c) => settled(c, 2) && !c.manager.record()!.active['w1']), WAIT_MS, 'w1\'s slots re-replicated on w2 and w3');
    assert.equal(leaders(rest).length, 1);
    const after = seen.slice(before);
    assert.ok(after.length > 0 && after.every((r) => r.writer === next.id), `records after the takeover written by ${[...new Set(after.map((r) => r.writer))].join(', ')}`);
    const versions = seen.map((r) => r.version);
    assert.deepEqual(versions, versions.map((_, i) => versions[0]! + i), 'every write continues from the record before it');
  });

  it('placement leader - load-aware placement follows the workers\' token reports (every coordinator\'s traffic), not the leader\'s own routing', async () => {
    // The leader routes nothing itself; the workers report slot 5 as by far the hottest.
    const leader = await coordinator(subjects, 'leader', { replication: 1, loadAware: true });
    await coordinator(subjects, 'follower', { replication: 1, loadAware: true });
    const report = () => ({ windowMs: 10_000, slots: [1, 5], tokens: [10, 5000] });
    // 8 slots, 3 workers x 4: one copy of everything plus 4 spare slots.
    for (let i = 1; i <= 3; i++) await fakeWorker(subjects, `w${i}`, { capacity: 4, expertLoad: report });
    await until(() => leader.lease!.isLeader() && (leader.manager.routing().get(5)?.length ?? 0) > 1, WAIT_MS, 'extra replicas of the hot slot 5');
    assert.ok((leader.manager.currentLoad().get(5) ?? 0) > 0);
    assert.equal(leader.manager.routing().get(0)?.length, 1, 'a slot nobody reported stays single');
  });

  it('placement leader - two writers that both believe they lead never interleave: every write is a compare-and-set', async () => {
    const seen = await recordLog(subjects);
    const always = (id: string): PlacementWriterGate => ({ id, isLeader: () => true, on: () => undefined, off: () => undefined });
    const [a, b] = await Promise.all([coordinator(subjects, 'a', { gate: always('a') }), coordinator(subjects, 'b', { gate: always('b') })]);
    for (let i = 1; i <= 4; i++) await fakeWorker(subjects, `w${i}`);
    await until(() => settled(a, 4) && settled(b, 4), WAIT_MS, 'both see the placement over 4 workers');
    await until(() => a.manager.recordRevision() === b.manager.recordRevision() && seen.length > 0 && seen.at(-1)!.version === a.manager.record()!.version, WAIT_MS, 'both at the last revision');
    const versions = seen.map((r) => r.version);
    // Without the compare-and-set both would number their own writes and versions would repeat.
    assert.deepEqual(versions, versions.map((_, i) => versions[0]! + i), `versions ${versions.join(',')}`);
    assert.deepEqual(a.manager.record()!.target, b.manager.record()!.target);
  });

  it('placement leader - a coordinator cut off from NATS stops writing at once, keeps its routing, and never writes while cut off', async () => {
    const proxy = await cuttableProxy(Number(new URL(server.url).port));
    cleanups.push(async () => proxy.close());
    const seen = await recordLog(subjects);
    // The isolated one leads, and has a recompute pending (long debounce) when it is cut off.
    const isolated = await coordinator(subjects, 'isolated', { url: proxy.url, debounceMs: 1500 });
    await until(() => isolated.lease!.isLeader(), WAIT_MS, 'the proxied coordinator leads');
    const others = [await coordinator(subjects, 'o1'), await coordinator(subjects, 'o2')];
    for (let i = 1; i <= 3; i++) await fakeWorker(subjects, `w${i}`);
    await until(() => [isolated, ...others].every((c) => settled(c, 3)), WAIT_MS, 'all see the placement');
    const routingBefore = [...isolated.manager.routing()];
    const writesBefore = isolated.manager.writeCounts().writes;
    const fourth = await fakeWorker(subjects, 'w4');
    await until(() => isolated.membership.worker('w4') !== undefined, WAIT_MS, 'the isolated leader hears w4');
    proxy.cut();
    const cutAt = seen.length;
    await until(() => !isolated.lease!.isLeader(), WAIT_MS, 'the isolated coordinator steps down');
    await until(() => leaders(others).length === 1, WAIT_MS, 'another coordinator leads');
    await until(() => others.every((c) => settled(c, 4)), WAIT_MS, 'the new leader places w4');
    // Cut off, it keeps serving with the placement it had.
    assert.deepEqual([...isolated.manager.routing()], routingBefore);
    assert.equal(isolated.manager.writeCounts().writes, writesBefore);
    proxy.restore();
    await until(() => isolated.manager.recordRevision() === others[0]!.manager.recordRevision() && settled(isolated, 4), WAIT_MS, 'the reconnected coordinator follows the new record');
    assert.equal(isolated.lease!.isLeader(), false);
    assert.equal(isolated.manager.writeCounts().writes, writesBefore, 'no write from the cut-off coordinator');
    const newLeader = leaders(others)[0]!;
    assert.ok(seen.slice(cutAt).every((r) => r.writer === newLeader), `records after the cut by ${[...new Set(seen.slice(cutAt).map((r) => r.writer))].join(', ')}`);
    void fourth;
  });
});
