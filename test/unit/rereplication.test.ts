import assert from 'node:assert/strict';
import { RereplicationTracker } from '../../coordinator/control-plane/rereplication.js';
import type { WorkerInfo } from '../../coordinator/control-plane/membership.js';
import { decodeWorkerAnnouncement } from '../../common/cluster/events.js';

const worker = (workerId: string, held: number[]): WorkerInfo => ({ workerId, address: 'h:1', capacity: 10, modelFingerprint: 'f', held, draining: false, startedAtMs: 0, seq: 1, lastSeenMs: 0 });

describe('re-replication tracker', () => {
  it('rereplication - counts only slots the dead worker alone held, and the rate once live workers hold them all again', () => {
    const t = new RereplicationTracker();
    const a = worker('a', [0, 1, 2, 3]);
    const b = worker('b', [2, 3]);
    t.onWorkerDown(a, [b], 1_000);
    assert.deepEqual(t.figures(), { awaiting: 2, rereplicatedTotal: 0, last: null });
    t.onWorkersChanged([worker('b', [0, 2, 3])], 1_500);
    assert.equal(t.figures().awaiting, 1);
    t.onWorkersChanged([worker('b', [0, 1, 2, 3])], 3_000);
    assert.deepEqual(t.figures(), { awaiting: 0, rereplicatedTotal: 2, last: { slots: 2, seconds: 2, perSecond: 1 } });
  });

  it('rereplication - a worker whose slots are all replicated elsewhere opens no episode; a second death extends an open one', () => {
    const t = new RereplicationTracker();
    t.onWorkerDown(worker('a', [0]), [worker('b', [0])], 0);
    assert.equal(t.figures().awaiting, 0);
    t.onWorkerDown(worker('a', [0]), [], 0);
    t.onWorkerDown(worker('b', [1]), [], 1_000);
    t.onWorkersChanged([worker('c', [0, 1])], 4_000);
    assert.deepEqual(t.figures().last, { slots: 2, seconds: 4, perSecond: 0.5 });
  });

  it('rereplication - heartbeats carry the loading progress, validated', () => {
    const base = { workerId: 'w', address: 'h:1', capacity: 4, modelFingerprint: 'f', held: [], draining: false, startedAtMs: 1, seq: 1 };
    const enc = (o: object): Uint8Array => new TextEncoder().encode(JSON.stringify(o));
    assert.deepEqual(decodeWorkerAnnouncement(enc({ ...base, loadedInMs: 1234, loadingSlots: 0 }), 's'), { ...base, loadedInMs: 1234, loadingSlots: 0 });
    assert.deepEqual(decodeWorkerAnnouncement(enc(base), 's'), base);
    assert.throws(() => decodeWorkerAnnouncement(enc({ ...base, loadingSlots: -1 }), 's'), /loadingSlots/);
    assert.throws(() => decodeWorkerAnnouncement(enc({ ...base, loadedInMs: 'soon' }), 's'), /loadedInMs/);
  });
});
