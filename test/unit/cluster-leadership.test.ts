// The leadership pieces that need no server: option parsing, the new control-plane messages'
// validation, the worker's per-expert load counter.
import assert from 'node:assert/strict';
import { ClusterMessageError, ConfigError } from '../../common/errors.js';
import { decodeCoordinatorAnnouncement, decodeLeaderLease, decodePlacementRecord, encodeJson } from '../../common/cluster/events.js';
import { clusterSubjects } from '../../common/cluster/subjects.js';
import { parsePlacementLeaseOptions, PLACEMENT_LEASE_DEFAULTS } from '../../coordinator/control-plane/placement-lease.js';
import { ExpertLoadCounter } from '../../worker/expert-load-counter.js';

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

describe('cluster leadership (unit)', () => {
  it('leadership - lease options: defaults, ttl at least two renewals, id one subject token', () => {
    assert.deepEqual(parsePlacementLeaseOptions({ id: 'c-1' }), { id: 'c-1', ...PLACEMENT_LEASE_DEFAULTS });
    assert.throws(() => parsePlacementLeaseOptions({ id: 'c-1', ttlMs: 1500, renewMs: 1000 }), ConfigError);
    assert.throws(() => parsePlacementLeaseOptions({ id: 'c-1', renewMs: 0 }), ConfigError);
    assert.throws(() => parsePlacementLeaseOptions({ id: 'a.b' }), ConfigError);
  });

  it('leadership - subjects: the lease bucket and the coordinator heartbeat are built from the prefix', () => {
    const s = clusterSubjects('abc');
    assert.equal(s.leaderBucket, 'abc_leader');
    assert.equal(s.coordinatorHeartbeat, 'abc.cluster.coordinator.heartbeat');
  });

  it('leadership - lease, announcement and record writer are validated like every control-plane message', () => {
    const lease = { holder: 'c1', acquiredAtMs: 5, renewals: 2 };
    assert.deepEqual(decodeLeaderLease(encodeJson(lease), 's'), lease);
    assert.throws(() => decodeLeaderLease(bytes({ ...lease, holder: '' }), 's'), ClusterMessageError);
    assert.throws(() => decodeLeaderLease(bytes({ ...lease, renewals: -1 }), 's'), ClusterMessageError);
    const a = { coordinatorId: 'c1', url: 'http://x:1', leader: true, startedAtMs: 1, seq: 3 };
    assert.deepEqual(decodeCoordinatorAnnouncement(encodeJson(a), 's'), a);
    assert.throws(() => decodeCoordinatorAnnouncement(bytes({ ...a, leader: 'yes' }), 's'), ClusterMessageError);
    const record = { version: 1, numLayers: 1, numExperts: 2, replication: 1, target: { w: [0, 1] }, active: { w: [0, 1] }, updatedAtMs: 0 };
    assert.equal(decodePlacementRecord(bytes(record), 's').writer, undefined);
    assert.equal(decodePlacementRecord(bytes({ ...record, writer: 'c1' }), 's').writer, 'c1');
    assert.throws(() => decodePlacementRecord(bytes({ ...record, writer: 7 }), 's'), ClusterMessageError);
  });

  it('leadership - a worker\'s load counter reports tokens per slot over its window only', () => {
    const c = new ExpertLoadCounter(4, { windowMs: 1000, buckets: 10 }, 0);
    assert.equal(c.report(0), null);
    c.add(0, Int32Array.from([1, 1, 3]), 50);
    c.add(2, Int32Array.from([0]), 500);
    assert.deepEqual(c.report(600), { windowMs: 600, slots: [1, 3, 8], tokens: [2, 1, 1] });
    // 1.2 s later the first bucket has aged out; the window is capped at windowMs.
    assert.deepEqual(c.report(1200), { windowMs: 1000, slots: [8], tokens: [1] });
    assert.equal(c.report(2000), null);
  });
});
