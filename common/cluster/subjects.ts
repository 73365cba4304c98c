// Every NATS subject, KV bucket and KV key of the control plane is built here and nowhere else.
//
//   <prefix>.cluster.worker.joined      WorkerAnnouncement, once when a worker starts
//   <prefix>.cluster.worker.heartbeat   WorkerAnnouncement, every heartbeatMs
//   <prefix>.cluster.worker.left        WorkerLeft, when a worker stops cleanly
//   <prefix>.cluster.load.<workerId>    ExpertLoadReport, per-expert token counts
//   <prefix>.cluster.coordinator.heartbeat   CoordinatorAnnouncement, every coordinator, every second
//   KV bucket <prefix>_placement, key "placement"   PlacementRecord (history 1)
//   KV bucket <prefix>_leader, key "placement"      LeaderLease (history 1, TTL = the lease TTL)
import { ConfigError } from '../errors.js';

export const DEFAULT_CLUSTER_PREFIX = 'gptoss';

export interface ClusterSubjects {
  readonly prefix: string;
  readonly workerJoined: string;
  readonly workerHeartbeat: string;
  readonly workerLeft: string;
  /** Wildcard matching every per-worker load report. */
  readonly expertLoadAll: string;
  readonly coordinatorHeartbeat: string;
  readonly placementBucket: string;
  readonly placementKey: string;
  /** The placement writer's lease: a bucket of its own because the TTL is per bucket. */
  readonly leaderBucket: string;
  readonly leaderKey: string;
  expertLoad(workerId: string): string;
}

// A prefix must be one subject token that is also legal in a KV bucket name.
const PREFIX = /^[A-Za-z0-9_-]+$/;
// A worker id is one subject token: no dots, wildcards or whitespace.
const TOKEN = /^[A-Za-z0-9_:-]+$/;

/** Throws ConfigError(field) unless `id` can be used as one NATS subject token. */
export function validateWorkerId(id: string, field = 'workerId'): string {
  if (typeof id !== 'string' || !TOKEN.test(id)) {
    throw new ConfigError(`${field} must be a non-empty token of letters, digits, "_", "-" or ":", got ${JSON.stringify(id)}`, field);
  }
  return id;
}

export function clusterSubjects(prefix: string = DEFAULT_CLUSTER_PREFIX): ClusterSubjects {
  if (!PREFIX.test(prefix)) {
    throw new ConfigError(`cluster prefix must match ${PREFIX}, got ${JSON.stringify(prefix)}`, 'prefix');
  }
  const base = `${prefix}.cluster`;
  return {
    prefix,
    workerJoined: `${base}.worker.joined`,
    workerHeartbeat: `${base}.worker.heartbeat`,
    workerLeft: `${base}.worker.left`,
    expertLoadAll: `${base}.load.*`,
    coordinatorHeartbeat: `${base}.coordinator.heartbeat`,
    placementBucket: `${prefix}_placement`,
    placementKey: 'placement',
    leaderBucket: `${prefix}_leader`,
    leaderKey: 'placement',
    expertLoad: (workerId: string) => `${base}.load.${validateWorkerId(workerId)}`,
  };
}
