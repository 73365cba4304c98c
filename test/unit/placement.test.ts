import assert from 'node:assert/strict';
import { activeFromTarget, computePlacement, routingTable } from '../../common/cluster/placement.js';
import { clusterSubjects } from '../../common/cluster/subjects.js';
import { decodeOrDrop, decodePlacementRecord, decodeWorkerAnnouncement, encodeJson, type ClusterLog, type PlacementRecord } from '../../common/cluster/events.js';
import { reconcile } from '../../common/cluster/placement-follower.js';
import { ClusterMessageError, ConfigError } from '../../common/errors.js';
import { holders, ids, moves, rng, workers } from '../helpers/placement.js';

describe('placement', () => {
  for (let n = 1; n <= 5; n++) {
    for (let replication = 1; replication <= 3; replication++) {
      it(`placement - ${n} workers, replication ${replication}: every slot held by min(r, n) distinct workers, balanced`, () => {
        const numLayers = 4;
        const numExperts = 8;
        const numSlots = numLayers * numExperts;
        const { target, unplaced, uncovered } = computePlacement({ workers: workers(n, numSlots), numLayers, numExperts, replication });
        const r = Math.min(replication, n);
        assert.deepEqual(unplaced, []);
        assert.deepEqual(uncovered, []);
        for (const h of holders(target, numSlots)) assert.equal(h.length, r);
        const sizes = Object.values(target).map((s) => s.length);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
        assert.deepEqual(Object.keys(target), ids(n));
      });
    }
  }

  for (const numExperts of [8, 32]) {
    it(`placement - 3 workers on ${numExperts} experts (not a divisor) are within one slot, and spread over every layer`, () => {
      const numLayers = 5;
      const { target } = computePlacement({ workers: workers(3, 1000), numLayers, numExperts });
      const sizes = Object.values(target).map((s) => s.length);
      assert.equal(sizes.reduce((a, b) => a + b), numLayers * numExperts);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
      for (let l = 0; l < numLayers; l++) {
        const perLayer = Object.values(target).map((slots) => slots.filter((s) => Math.floor(s / numExperts) === l).length);
        assert.ok(Math.max(...perLayer) - Math.min(...perLayer) <= 1, `layer ${l}: ${perLayer}`);
      }
    });
  }

  it('placement - shares are proportional to capacity', () => {
    const { target } = computePlacement({
      workers: [
        { id: 'a', capacity: 10 },
        { id: 'b', capacity: 20 },
        { id: 'c', capacity: 30 },
      ],
      numLayers: 6,
      numExperts: 6,
    });
    assert.deepEqual(Object.values(target).map((s) => s.length), [6, 12, 18]);
  });

  it('placement - a worker whose share exceeds the slot count is capped and the rest is shared', () => {
    const { target, unplaced } = computePlacement({
      workers: [
        { id: 'a', capacity: 100 },
        { id: 'b', capacity: 20 },
        { id: 'c', capacity: 20 },
      ],
      numLayers: 2,
      numExperts: 16,
      replication: 2,
    });
    assert.deepEqual(unplaced, []);
    assert.deepEqual(Object.values(target).map((s) => s.length), [32, 16, 16]);
  });

  it('placement - a capacity shortfall fills every worker and reports the unplaced slots', () => {
    const { target, unplaced, uncovered } = computePlacement({ workers: workers(3, 5), numLayers: 4, numExperts: 8 });
    assert.deepEqual(Object.values(target).map((s) => s.length), [5, 5, 5]);
    assert.equal(unplaced.length, 32 - 15);
    assert.deepEqual(uncovered, unplaced);
    const placed = new Set(Object.values(target).flat());
    for (const s of unplaced) assert.ok(!placed.has(s));
  });

  it('placement - with replication short of capacity every slot is still covered once', () => {
    const { unplaced, uncovered, target } = computePlacement({ workers: workers(3, 20), numLayers: 4, numExperts: 8, replication: 2 });
    assert.deepEqual(uncovered, []);
    assert.equal(unplaced.length, 64 - 60);
    for (const s of unplaced) assert.equal(holders(target, 32)[s]!.length, 1);
  });

  it('placement - no workers leaves every slot unplaced', () => {
    const { target, unplaced } = computePlacement({ workers: [], numLayers: 2, numExperts: 4 });
    assert.deepEqual(target, {});
    assert.equal(unplaced.length, 8);
  });

  it('placement - zero-capacity workers get nothing', () => {
    const { target } = computePlacement({ workers: [{ id: 'a', capacity: 0 }, { id: 'b', capacity: 8 }], numLayers: 1, numExperts: 8, replication: 2 });
    assert.deepEqual(target, { a: [], b: [0, 1, 2, 3, 4, 5, 6, 7] });
  });

  for (const replication of [1, 2]) {
    it(`placement - adding a 4th worker moves at most ceil(slots*r/4)+2 experts (replication ${replication})`, () => {
      const numLayers = 24;
      const numExperts = 32;
      const demand = numLayers * numExperts * replication;
      const before = computePlacement({ workers: workers(3, 10_000), numLayers, numExperts, replication }).target;
      const after = computePlacement({ workers: workers(4, 10_000), numLayers, numExperts, replication, previous: before });
      assert.deepEqual(after.unplaced, []);
      assert.ok(moves(before, after.target) <= Math.ceil(demand / 4) + 2, `moved ${moves(before, after.target)}`);
      const sizes = Object.values(after.target).map((s) => s.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
      for (const h of holders(after.target, numLayers * numExperts)) assert.equal(h.length, replication);
    });
  }

  it('placement - a worker leaving moves only its own slots', () => {
    const numLayers = 12;
    const numExperts = 32;
    const before = computePlacement({ workers: workers(4, 10_000), numLayers, numExperts }).target;
    const survivors = workers(4, 10_000).filter((w) => w.id !== 'w2');
    const after = computePlacement({ workers: survivors, numLayers, numExperts, previous: before }).target;
    assert.equal(moves(before, after), before['w2']!.length);
    for (const w of survivors) for (const s of before[w.id]!) assert.ok(after[w.id]!.includes(s));
  });

  it('placement - the same input gives the same output, whatever the worker order', () => {
    const input = { workers: workers(4, 50), numLayers: 6, numExperts: 32, replication: 2 };
    const a = computePlacement(input);
    const b = computePlacement({ ...input, workers: [...input.workers].reverse() });
    assert.deepEqual(a, b);
    const previous = a.target;
    const c = computePlacement({ ...input, workers: workers(5, 50), previous });
    const d = computePlacement({ ...input, workers: workers(5, 50).reverse(), previous: { ...previous } });
    assert.deepEqual(c, d);
  });

  it('placement - a previous target with dead workers and out-of-range slots is cleaned up', () => {
    const previous = { w0: [0, 1, 1, 99, -1], gone: [2, 3], w1: [0] };
    const { target } = computePlacement({ workers: workers(2, 100), numLayers: 1, numExperts: 4, replication: 1, previous });
    assert.deepEqual(holders(target, 4).map((h) => h.length), [1, 1, 1, 1]);
    assert.ok(target['w0']!.includes(1));
  });

  it('placement - random inputs always satisfy the invariants (augmenting paths)', () => {
    const next = rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(next() * 6);
      const numLayers = 1 + Math.floor(next() * 4);
      const numExperts = 1 + Math.floor(next() * 10);
      const numSlots = numLayers * numExperts;
      const replication = 1 + Math.floor(next() * 3);
      const ws = ids(n).map((id) => ({ id, capacity: Math.floor(next() * numSlots * 1.5) }));
      const previous: Record<string, number[]> = {};
      for (const w of ws) previous[w.id] = Array.from({ length: Math.floor(next() * numSlots) }, () => Math.floor(next() * numSlots));
      const { target, unplaced } = computePlacement({ workers: ws, numLayers, numExperts, replication, previous });
      const r = Math.min(replication, n);
      const h = holders(target, numSlots);
      for (const w of ws) assert.ok(target[w.id]!.length <= w.capacity, `trial ${trial}: ${w.id} over capacity`);
      assert.deepEqual(unplaced, h.map((x, s) => (x.length < r ? s : -1)).filter((s) => s >= 0));
      const room = ws.reduce((a, w) => a + Math.min(w.capacity, numSlots), 0);
      const placed = h.reduce((a, x) => a + x.length, 0);
      assert.equal(placed, Math.min(room, r * numSlots), `trial ${trial}: placed ${placed}`);
    }
  });

  it('placement - bad dimensions are a ConfigError naming the field', () => {
    assert.throws(() => computePlacement({ workers: [], numLayers: 0, numExperts: 4 }), (e: unknown) => e instanceof ConfigError && e.field === 'numLayers');
    assert.throws(() => computePlacement({ workers: [], numLayers: 1, numExperts: 4, replication: 0 }), (e: unknown) => e instanceof ConfigError && e.field === 'replication');
    assert.throws(
      () => computePlacement({ workers: [{ id: 'a', capacity: 1 }, { id: 'a', capacity: 1 }], numLayers: 1, numExperts: 4 }),
      (e: unknown) => e instanceof ConfigError && e.field === 'workers',
    );
  });
});

describe('make-before-break', () => {
  it('make-before-break - active moves to the new holder only once it reports the slot held', () => {
    const target = { a: [], b: [0] };
    assert.deepEqual(activeFromTarget({ target, previousActive: { a: [0] }, held: { a: [0], b: [] } }), { a: [0], b: [] });
    assert.deepEqual(activeFromTarget({ target, previousActive: { a: [0] }, held: { a: [0], b: [0] } }), { a: [], b: [0] });
  });

  it('make-before-break - with replication every new holder must be ready before the switch', () => {
    const target = { b: [0], c: [0] };
    assert.deepEqual(activeFromTarget({ target, previousActive: { a: [0] }, held: { a: [0], b: [0], c: [] } }), { a: [0], b: [], c: [] });
    assert.deepEqual(activeFromTarget({ target, previousActive: { a: [0] }, held: { a: [0], b: [0], c: [0] } }), { a: [], b: [0], c: [0] });
  });

  it('make-before-break - when the old holders are gone, any ready target holder serves', () => {
    const target = { b: [0], c: [0] };
    assert.deepEqual(activeFromTarget({ target, previousActive: { a: [0] }, held: { b: [], c: [] } }), { b: [], c: [] });
    assert.deepEqual(activeFromTarget({ target, previousActive: { a: [0] }, held: { b: [0], c: [] } }), { b: [0], c: [] });
  });

  it('make-before-break - an old holder that lost the slot (restarted) no longer counts', () => {
    assert.deepEqual(activeFromTarget({ target: { b: [0] }, previousActive: { a: [0] }, held: { a: [], b: [0] } }), { a: [], b: [0] });
  });

  it('make-before-break - a live worker still holding an orphaned slot serves it until the target is ready', () => {
    assert.deepEqual(activeFromTarget({ target: { b: [0] }, previousActive: {}, held: { a: [0], b: [] } }), { a: [0], b: [] });
  });

  it('make-before-break - a simulated join never leaves a slot without a serving holder', () => {
    const numLayers = 3;
    const numExperts = 8;
    const numSlots = numLayers * numExperts;
    const held: Record<string, number[]> = {};
    let target: Record<string, number[]> = {};
    let active: Record<string, number[]> = {};
    let version = 0;
    // One coordinator round, then every worker reconciles; `slow` loads one slot per round.
    const round = (live: string[], slow: string | null): void => {
      target = computePlacement({ workers: live.map((id) => ({ id, capacity: 100 })), numLayers, numExperts, previous: target }).target;
      active = activeFromTarget({ target, previousActive: active, held });
      const record: PlacementRecord = { version: ++version, numLayers, numExperts, replication: 1, target, active, updatedAtMs: 0 };
      const table = routingTable(active, live);
      for (let s = 0; s < numSlots; s++) {
        const serving = (table.get(s) ?? []).filter((id) => held[id]!.includes(s));
        if (version > 3) assert.ok(serving.length > 0, `round ${version}: slot ${s} has no serving holder`);
      }
      for (const id of live) {
        const { load, drop } = reconcile(record, id, held[id]!);
        held[id] = held[id]!.filter((s) => !drop.includes(s)).concat(id === slow ? load.slice(0, 1) : load);
      }
    };
    for (const id of ['a', 'b', 'c']) held[id] = [];
    for (let i = 0; i < 3; i++) round(['a', 'b', 'c'], null);
    held['d'] = [];
    for (let i = 0; i < 12; i++) round(['a', 'b', 'c', 'd'], 'd');
    assert.deepEqual(active, target);
    for (const id of ['a', 'b', 'c', 'd']) assert.deepEqual([...held[id]!].sort((x, y) => x - y), target[id]);
    assert.ok(target['d']!.length >= 5);
  });

  it('routing - routingTable leaves out dead workers and sorts holders', () => {
    const table = routingTable({ b: [1, 0], a: [0], dead: [2] }, ['a', 'b']);
    assert.deepEqual([...table.entries()], [
      [0, ['a', 'b']],
      [1, ['b']],
    ]);
  });

  it('reconcile - loads the whole target and drops only slots in neither target nor active', () => {
    const record: PlacementRecord = { version: 1, numLayers: 1, numExperts: 8, replication: 1, target: { w: [1, 2, 3] }, active: { w: [0, 1] }, updatedAtMs: 0 };
    assert.deepEqual(reconcile(record, 'w', [0, 1, 5]), { load: [2, 3], drop: [5] });
    assert.deepEqual(reconcile(record, 'other', [4]), { load: [], drop: [4] });
  });
});

describe('cluster messages', () => {
  const warnings: object[] = [];
  const log: ClusterLog = { debug() {}, info() {}, warn: (o) => warnings.push(o), error() {} };
  const good = { workerId: 'w1', address: 'h:1', capacity: 4, modelFingerprint: 'f', held: [1, 2], draining: false, startedAtMs: 5, seq: 1 };

  it('events - an announcement round-trips through JSON', () => {
    assert.deepEqual(decodeWorkerAnnouncement(encodeJson(good), 's'), good);
  });

  for (const [name, payload, field] of [
    ['not JSON', '{', null],
    ['an array', '[]', null],
    ['a negative held slot', JSON.stringify({ ...good, held: [-1] }), 'held'],
    ['a string capacity', JSON.stringify({ ...good, capacity: '4' }), 'capacity'],
    ['no workerId', JSON.stringify({ ...good, workerId: undefined }), 'workerId'],
  ] as const) {
    it(`events - an announcement with ${name} is a ClusterMessageError naming ${field}`, () => {
      assert.throws(
        () => decodeWorkerAnnouncement(new TextEncoder().encode(payload), 'gptoss.cluster.worker.heartbeat'),
        (e: unknown) => e instanceof ClusterMessageError && e.field === field && e.subject === 'gptoss.cluster.worker.heartbeat',
      );
    });
  }

  it('events - a placement record with a slot out of range is rejected; decodeOrDrop logs and returns null', () => {
    const bad = { version: 1, numLayers: 1, numExperts: 2, replication: 1, target: { a: [2] }, active: {}, updatedAtMs: 0 };
    assert.throws(() => decodePlacementRecord(new TextEncoder().encode(JSON.stringify(bad)), 'kv'), (e: unknown) => e instanceof ClusterMessageError && e.field === 'target.a');
    warnings.length = 0;
    assert.equal(decodeOrDrop(decodePlacementRecord, new TextEncoder().encode(JSON.stringify(bad)), 'kv', log), null);
    assert.equal(warnings.length, 1);
  });

  it('subjects - are built from the prefix; a bad prefix or worker id is a ConfigError', () => {
    const s = clusterSubjects('t1');
    assert.equal(s.workerHeartbeat, 't1.cluster.worker.heartbeat');
    assert.equal(s.placementBucket, 't1_placement');
    assert.equal(s.expertLoad('w-1'), 't1.cluster.load.w-1');
    assert.equal(clusterSubjects().placementBucket, 'gptoss_placement');
    assert.throws(() => clusterSubjects('a.b'), (e: unknown) => e instanceof ConfigError && e.field === 'prefix');
    assert.throws(() => s.expertLoad('a.b'), (e: unknown) => e instanceof ConfigError && e.field === 'workerId');
  });
});
