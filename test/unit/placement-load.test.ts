import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { computeLoadAwarePlacement, computePlacement } from '../../common/cluster/placement.js';
import { loadShift, parsePlacementManagerOptions, PlacementManager } from '../../coordinator/control-plane/placement-manager.js';
import { ConfigError } from '../../common/errors.js';
import { holders, ids, workers } from '../helpers/placement.js';

/** Zipf(1) load over the experts of every layer, hottest expert rotated per layer. */
function zipfLoad(numLayers: number, numExperts: number, total = 100_000): Map<number, number> {
  const h = Array.from({ length: numExperts }, (_, r) => 1 / (r + 1)).reduce((a, b) => a + b);
  const load = new Map<number, number>();
  for (let l = 0; l < numLayers; l++) {
    for (let r = 0; r < numExperts; r++) load.set(l * numExperts + ((r + 3 * l) % numExperts), Math.round(total / (r + 1) / h));
  }
  return load;
}

/**
 * Sum over layers of the busiest worker's tokens in that layer (each layer waits for its slowest
 * worker), tokens spread evenly over each slot's holders.
 */
function criticalLoad(target: Record<string, number[]>, load: Map<number, number>, numExperts: number, numSlots: number): number {
  const hs = holders(target, numSlots);
  const per = new Map<string, number>();
  hs.forEach((h, s) => h.forEach((id) => per.set(`${Math.floor(s / numExperts)}/${id}`, (per.get(`${Math.floor(s / numExperts)}/${id}`) ?? 0) + (load.get(s) ?? 0) / h.length)));
  const max = new Map<string, number>();
  for (const [k, v] of per) max.set(k.split('/')[0]!, Math.max(max.get(k.split('/')[0]!) ?? 0, v));
  return [...max.values()].reduce((a, b) => a + b, 0);
}

describe('load-aware placement', () => {
  const numLayers = 4;
  const numExperts = 16;
  const numSlots = numLayers * numExperts;

  it('placement-load - with spare capacity the hottest slots get extra holders, within capacity, every slot covered', () => {
    const ws = workers(4, Math.ceil((numSlots * 1.5) / 4));
    const load = zipfLoad(numLayers, numExperts);
    const base = computePlacement({ workers: ws, numLayers, numExperts });
    const out = computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, load });
    assert.deepEqual(out.uncovered, []);
    assert.deepEqual(out.unplaced, []);
    const hs = holders(out.target, numSlots);
    for (const h of hs) assert.ok(h.length >= 1);
    for (const w of ws) assert.ok(out.target[w.id]!.length <= w.capacity, `${w.id} over capacity`);
    // Base holders are kept; extras are exactly the added slots.
    for (const w of ws) {
      assert.ok(base.target[w.id]!.every((s) => out.target[w.id]!.includes(s)));
      assert.deepEqual(out.target[w.id]!.filter((s) => !base.target[w.id]!.includes(s)), out.extras[w.id]);
    }
    // The hottest slot of each layer has more holders than any slot below the mean.
    const mean = [...load.values()].reduce((a, b) => a + b) / numSlots;
    for (let l = 0; l < numLayers; l++) {
      const hottest = l * numExperts + ((3 * l) % numExperts);
      assert.ok(hs[hottest]!.length >= 3, `slot ${hottest} has ${hs[hottest]!.length} holders`);
    }
    for (let s = 0; s < numSlots; s++) if (load.get(s)! <= mean) assert.equal(hs[s]!.length, 1, `cold slot ${s} replicated`);
    // Holders of a replicated slot carry less, so each layer's busiest worker carries less.
    const before = criticalLoad(base.target, load, numExperts, numSlots);
    const after = criticalLoad(out.target, load, numExperts, numSlots);
    assert.ok(after < 0.8 * before, `critical path ${before} → ${after}`);
  });

  it('placement-load - extra replicas follow load per holder, not raw load', () => {
    // Slot 0 has 4x the load of slot 1: it should get holders before slot 1 gets its first extra.
    const load = new Map([
      [0, 400],
      [1, 100],
    ]);
    const out = computeLoadAwarePlacement({ workers: workers(4, 2), numLayers: 1, numExperts: 4, load, minLoadPerHolder: 0 });
    const hs = holders(out.target, 4);
    // 4 extras: slot 0 goes 400 → 200 → 133 → 100 per holder before slot 1 (100) gets its first.
    assert.equal(hs[0]!.length, 4);
    assert.equal(hs[1]!.length, 2);
    assert.deepEqual([hs[2]!.length, hs[3]!.length], [1, 1]);
  });

  it('placement-load - with no spare capacity nothing changes', () => {
    const load = zipfLoad(numLayers, numExperts);
    for (const replication of [1, 2]) {
      const ws = workers(4, (numSlots * replication) / 4);
      const base = computePlacement({ workers: ws, numLayers, numExperts, replication });
      const out = computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, replication, load });
      assert.deepEqual(out.target, base.target);
      assert.ok(Object.values(out.extras).every((e) => e.length === 0));
    }
  });

  it('placement-load - no load (or uniform load) adds nothing', () => {
    const ws = workers(3, numSlots);
    const base = computePlacement({ workers: ws, numLayers, numExperts });
    assert.deepEqual(computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, load: new Map() }).target, base.target);
    const uniform = new Map(Array.from({ length: numSlots }, (_, s) => [s, 10]));
    assert.deepEqual(computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, load: uniform }).target, base.target);
  });

  it('placement-load - deterministic whatever the worker or load order; sticky on the previous target', () => {
    const ws = [...workers(3, 30), { id: 'w3', capacity: 10 }];
    const load = zipfLoad(numLayers, numExperts);
    const a = computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, load });
    const b = computeLoadAwarePlacement({ workers: [...ws].reverse(), numLayers, numExperts, load: new Map([...load].reverse()) });
    assert.deepEqual(a, b);
    for (const w of ws) assert.ok(a.target[w.id]!.length <= w.capacity);
    // Same input with the previous target: unchanged.
    const again = computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, load, previous: a.target, previousExtras: a.extras });
    assert.deepEqual(again.target, a.target);
    // A small change in load moves few slots.
    const nudged = new Map(load);
    nudged.set(5, load.get(5)! * 2);
    const next = computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, load: nudged, previous: a.target, previousExtras: a.extras });
    let moved = 0;
    for (const w of ws) moved += next.target[w.id]!.filter((s) => !a.target[w.id]!.includes(s)).length;
    assert.ok(moved <= 6, `moved ${moved}`);
  });

  it('placement-load - maxReplicas caps holders; capacity is never exceeded on random inputs', () => {
    let x = 12345;
    const rnd = (): number => ((x = (x * 1103515245 + 12345) >>> 0) / 0x100000000);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rnd() * 5);
      const ws = ids(n).map((id) => ({ id, capacity: Math.floor(rnd() * numSlots) }));
      const load = new Map(Array.from({ length: numSlots }, (_, s) => [s, Math.floor(rnd() ** 4 * 1000)]));
      const replication = 1 + Math.floor(rnd() * 2);
      const out = computeLoadAwarePlacement({ workers: ws, numLayers, numExperts, replication, load, maxReplicas: 3 });
      const base = computePlacement({ workers: ws, numLayers, numExperts, replication });
      assert.deepEqual(out.uncovered, base.uncovered);
      const hs = holders(out.target, numSlots);
      for (let s = 0; s < numSlots; s++) assert.ok(hs[s]!.length <= Math.max(3, Math.min(replication, n)));
      for (const w of ws) assert.ok(out.target[w.id]!.length <= w.capacity, `trial ${trial}: ${w.id} over capacity`);
    }
  });

  it('placement-load - a negative load is a ConfigError', () => {
    assert.throws(() => computeLoadAwarePlacement({ workers: workers(2, 8), numLayers: 1, numExperts: 4, load: new Map([[0, -1]]) }), ConfigError);
  });
});

describe('load-aware placement manager', () => {
  it('placement-load - loadAware is off by default and validated when given', () => {
    assert.equal(parsePlacementManagerOptions({ numLayers: 1, numExperts: 4 }).loadAware, undefined);
    assert.deepEqual(parsePlacementManagerOptions({ numLayers: 1, numExperts: 4, loadAware: { windowMs: 10_000 } }).loadAware, {
      windowMs: 10_000,
      minIntervalMs: 5000,
      minShift: 0.1,
    });
    assert.throws(() => parsePlacementManagerOptions({ numLayers: 1, numExperts: 4, loadAware: { windowMs: 0 } }), ConfigError);
    assert.throws(() => parsePlacementManagerOptions({ numLayers: 1, numExperts: 4, loadAware: { windowMs: 10, minShift: 2 } }), ConfigError);
  });

  it('placement-load - recordTokens counts over the window only; off, it is a no-op', async () => {
    const membership = new EventEmitter();
    const make = (loadAware?: { windowMs: number }) =>
      new PlacementManager(null as never, membership as never, null as never, { numLayers: 2, numExperts: 4, ...(loadAware ? { loadAware } : {}) });
    const off = make();
    off.recordTokens(1, 5, 0);
    assert.equal(off.currentLoad(0).size, 0);
    const m = make({ windowMs: 1000 });
    try {
      m.recordTokens(1, 5, 0);
      m.recordTokens(1, 3, 500);
      m.recordTokens(7, 2, 900);
      m.recordTokens(99, 2, 900); // out of range: ignored
      assert.deepEqual([...m.currentLoad(950)].sort(), [
        [1, 8],
        [7, 2],
      ]);
      assert.deepEqual([...m.currentLoad(1550)].sort(), [
        [1, 3],
        [7, 2],
      ]);
      assert.equal(m.currentLoad(3000).size, 0);
    } finally {
      await m.close();
    }
  });

  it('placement-load - loadShift is the total variation distance of the normalized loads', () => {
    const a = new Map([
      [0, 10],
      [1, 10],
    ]);
    assert.equal(loadShift(a, new Map([[0, 5], [1, 5]])), 0);
    assert.equal(loadShift(a, new Map([[2, 1]])), 1);
    assert.equal(loadShift(new Map(), a), 1);
    assert.equal(loadShift(new Map(), new Map()), 0);
    assert.ok(Math.abs(loadShift(a, new Map([[0, 30], [1, 10]])) - 0.25) < 1e-12);
  });
});
