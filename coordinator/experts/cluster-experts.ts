// The coordinator's view of the expert workers: membership from NATS, the placement (computed and
// published by whichever coordinator holds the placement lease, followed by the others), one gRPC
// client per live worker, and the RemoteExpertBackend the forward pass dispatches through.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ClusterLog } from '../../common/cluster/events.js';
import { connectNats, type ClusterConnection, type NatsConnectOptions } from '../../common/cluster/nats-connection.js';
import { clusterSubjects } from '../../common/cluster/subjects.js';
import { ClusterTimeoutError, WorkerDispatchError } from '../../common/errors.js';
import { ExpertClient } from './expert-client.js';
import { ClusterMembership } from '../control-plane/membership.js';
import { PlacementManager } from '../control-plane/placement-manager.js';
import { PlacementLease } from '../control-plane/placement-lease.js';
import { CoordinatorRoster } from '../control-plane/coordinator-roster.js';
import { RereplicationTracker } from '../control-plane/rereplication.js';
import { RemoteExpertBackend, type ExpertDispatcher } from './remote-expert-backend.js';
import type { LayerRouting } from '../../common/experts/expert-backend.js';
import type { WireDtype } from '../../common/wire/tensor-codec.js';
import { channelCredentials, tlsChannelOptions, type ClientTlsFiles } from '../../common/security/grpc-credentials.js';
import type { ChannelCredentials } from '@grpc/grpc-js';

export interface ClusterExpertsOptions {
  readonly nats: Partial<NatsConnectOptions>;
  readonly numLayers: number;
  readonly numExperts: number;
  readonly hiddenSize: number;
  readonly fingerprint: string;
  readonly replication?: number;
  readonly clusterToken?: string;
  /** TLS to the workers (with cert/key: mutual TLS). Default: plaintext. */
  readonly workerTls?: ClientTlsFiles;
  readonly clusterPrefix?: string;
  readonly heartbeatTimeoutMs?: number;
  /** Per-dispatch deadline before failing over to a replica. Default 10000. */
  readonly dispatchDeadlineMs?: number;
  readonly wireDtype?: WireDtype;
  readonly onDispatch?: (workerId: string, ms: number, tokens: number) => void;
  /**
   * Hold the first placement until this many workers have joined (or `initialWaitMs` passed), so
   * a cluster starting together is not first placed onto whichever worker announced first.
   */
  readonly initialWorkers?: number;
  /**
   * Load-aware placement: the tokens each expert received over this window drive extra replicas of
   * the hottest experts onto spare worker capacity (off when unset).
   */
  readonly loadAwareWindowMs?: number;
  /** Load-aware placement recomputes at most this often (default 5000). */
  readonly loadAwareIntervalMs?: number;
  readonly initialWaitMs?: number;
  /** This coordinator's id in the lease and on the dashboard. Default: hostname-pid-random. */
  readonly coordinatorId?: string;
  /** Placement lease TTL and renewal interval (PlacementLease defaults: 3000 / 1000). */
  readonly leaseTtlMs?: number;
  readonly leaseRenewMs?: number;
}

/** hostname-pid-random, reduced to one subject token. */
export function defaultCoordinatorId(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'coordinator';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class ClusterExperts {
  private readonly routingObservers: ((layer: number, routing: LayerRouting) => void)[] = [];
  private readonly clients = new Map<string, { address: string; client: ExpertClient }>();
  /** The placement's routing table, rebuilt lazily after any membership or placement change. */
  private routes: Map<number, string[]> | null = null;
  readonly backend: RemoteExpertBackend;
  /** workerId → until when it is suspect (a failed dispatch: broken stream, passed deadline). */
  private readonly suspectUntil = new Map<string, number>();
  private credentials: ChannelCredentials | undefined;
  private roster: CoordinatorRoster | null = null;
  /** Lost experts (held only by a worker that died) and how fast they are held again. */
  readonly rereplication = new RereplicationTracker();

  private constructor(
    private readonly o: ClusterExpertsOptions,
    private readonly conn: ClusterConnection,
    readonly membership: ClusterMembership,
    readonly lease: PlacementLease,
    readonly placement: PlacementManager,
    private readonly log: ClusterLog,
  ) {
    this.backend = new RemoteExpertBackend({
      hiddenSize: o.hiddenSize,
      numExperts: o.numExperts,
      holders: (slot) => this.holders(slot),
      client: (workerId) => this.dispatcher(workerId),
      deadlineMs: o.dispatchDeadlineMs ?? 10_000,
      wireDtype: o.wireDtype ?? 'fp32',
      onWorkerFailure: (workerId, err) => this.markSuspect(workerId, err),
      isSuspect: (workerId) => (this.suspectUntil.get(workerId) ?? 0) > Date.now(),
      onDispatch: o.onDispatch,
      onRouting: (layer, routing) => {
        for (const observe of this.routingObservers) observe(layer, routing);
      },
    });
  }

  get coordinatorId(): string {
    return this.lease.id;
  }

  /** Starts announcing this coordinator (at its HTTP URL) and listening to the others. */
  announce(url: string): void {
    if (this.roster) return;
    this.roster = new CoordinatorRoster(this.conn.nc, clusterSubjects(this.o.clusterPrefix), { id: this.lease.id, url, isLeader: () => this.lease.isLeader() }, this.log);
    this.roster.start();
  }

  /** Coordinators heard from recently (this one always), with who holds the placement lease. */
  coordinators(): { coordinatorId: string; url: string; leader: boolean; self: boolean }[] {
    if (!this.roster) return [{ coordinatorId: this.lease.id, url: '', leader: this.lease.isLeader(), self: true }];
    return this.roster.coordinators().map((c) => ({ coordinatorId: c.coordinatorId, url: c.url, leader: c.self ? this.lease.isLeader() : c.leader, self: c.self }));
  }

  /** Sees every layer's routing before it is dispatched (metrics, load-aware placement). */
  observeRouting(observer: (layer: number, routing: LayerRouting) => void): void {
    this.routingObservers.push(observer);
  }

  static async start(o: ClusterExpertsOptions, log: ClusterLog): Promise<ClusterExperts> {
    if (o.workerTls) channelCredentials(o.workerTls); // unreadable or non-PEM files fail here, at startup
    const conn = await connectNats({ name: 'gptoss-coordinator', ...o.nats }, log);
    const subjects = clusterSubjects(o.clusterPrefix);
    const membership = new ClusterMembership(conn.nc, subjects, { heartbeatTimeoutMs: o.heartbeatTimeoutMs ?? 3000 }, log);
    const lease = new PlacementLease(conn.nc, subjects, { id: o.coordinatorId ?? defaultCoordinatorId(), ...(o.leaseTtlMs === undefined ? {} : { ttlMs: o.leaseTtlMs }), ...(o.leaseRenewMs === undefined ? {} : { renewMs: o.leaseRenewMs }) }, log);
    // Load-aware placement counts the workers' own per-expert reports (every coordinator's
    // traffic), so the leader places by the cluster's load, not by its own share of it.
    const placement = new PlacementManager(
      conn.nc,
      membership,
      subjects,
      { numLayers: o.numLayers, numExperts: o.numExperts, replication: o.replication ?? 1, loadAware: o.loadAwareWindowMs ? { windowMs: o.loadAwareWindowMs, minIntervalMs: o.loadAwareIntervalMs } : undefined },
      log,
      lease,
    );
    const self = new ClusterExperts(o, conn, membership, lease, placement, log);
    placement.on('routing', (table) => (self.routes = table));
    membership.on('changed', () => (self.routes = null));
    membership.on('workerDown', (w) => self.forget(w.workerId));
    membership.on('workerDown', (w) => self.rereplication.onWorkerDown(w, membership.workers()));
    membership.on('changed', (ws) => self.rereplication.onWorkersChanged(ws));
    await membership.start();
    await lease.start();
    if (o.initialWorkers && o.initialWorkers > 1) {
      const n = o.initialWorkers;
      void membership
        .waitFor((ws) => ws.length >= n, o.initialWaitMs ?? 30_000)
        .catch(() => log.warn({ expected: n, live: membership.workers().length }, 'not every initial worker joined in time; placing on those that did'))
        .then(() => placement.start())
        .catch((err: unknown) => log.error({ err: String(err) }, 'placement failed to start'));
    } else {
      await placement.start();
    }
    return self;
  }

  /** Live holders of a slot; a recently failed (suspect) worker goes last. */
  private holders(slot: number): string[] {
    this.routes ??= this.placement.routing();
    const h = this.routes.get(slot) ?? [];
    if (this.suspectUntil.size === 0 || h.length < 2) return h;
    const now = Date.now();
    return [...h].sort((a, b) => Number((this.suspectUntil.get(a) ?? 0) > now) - Number((this.suspectUntil.get(b) ?? 0) > now));
  }

  /** Live workers currently marked suspect (a recent dispatch to them failed or passed its deadline). */
  suspects(): string[] {
    const now = Date.now();
    return [...this.suspectUntil].filter(([, until]) => until > now).map(([id]) => id).sort();
  }

  /**
   * The worker's client as the backend sees it. A worker that membership drops (heartbeat timeout,
   * left) has its client closed by forget(), which rejects its pending dispatches as not
   * retryable ("client closed"); but such a dispatch (say to a stalled worker whose deadline has not
   * passed) can still be served by a replica, so it is turned into a retryable failure here.
   */
  private dispatcher(workerId: string): ExpertDispatcher {
    const client = this.client(workerId);
    return {
      dispatch: (...args) =>
        client.dispatch(...args).catch((err: unknown) => {
          const forgotten = this.clients.get(workerId)?.client !== client;
          if (forgotten && err instanceof WorkerDispatchError && err.constructor === WorkerDispatchError && !err.retryable) {
            throw new WorkerDispatchError(`${err.message} (worker ${workerId} left the cluster during the dispatch)`, workerId, true, { cause: err });
          }
          throw err;
        }),
    };
  }

  private client(workerId: string): ExpertClient {
    const w = this.membership.worker(workerId);
    const address = w?.address ?? this.clients.get(workerId)?.address;
    if (!address) throw new Error(`worker ${workerId} is unknown`);
    let entry = this.clients.get(workerId);
    if (!entry || entry.address !== address) {
      void entry?.client.close();
      if (this.o.workerTls) this.credentials ??= channelCredentials(this.o.workerTls);
      entry = {
        address,
        client: new ExpertClient({ address, workerId, fingerprint: this.o.fingerprint, clusterToken: this.o.clusterToken, credentials: this.credentials, channelOptions: tlsChannelOptions(this.o.workerTls) }),
      };
      this.clients.set(workerId, entry);
    }
    return entry.client;
  }

  private markSuspect(workerId: string, err: WorkerDispatchError): void {
    this.suspectUntil.set(workerId, Date.now() + 5000);
    this.log.warn({ workerId, err: err.message }, 'worker dispatch failed; marked suspect');
  }

  private forget(workerId: string): void {
    const entry = this.clients.get(workerId);
    this.clients.delete(workerId);
    this.suspectUntil.delete(workerId);
    void entry?.client.close();
  }

  /** Resolves once every expert slot has a live holder. */
  ready(timeoutMs: number): Promise<void> {
    return this.placement.ready(timeoutMs);
  }

  /**
   * Resolves once `workers` workers are live, every slot has a holder and every worker holds what
   * the placement assigns it (no move in progress).
   */
  async settled(workers: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.isSettled(workers)) return;
      if (Date.now() > deadline) throw new ClusterTimeoutError(`placement over ${workers} workers did not settle within ${timeoutMs} ms`, timeoutMs);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private isSettled(workers: number): boolean {
    const live = this.membership.workers();
    const record = this.placement.record();
    if (live.length !== workers || !record || !this.placement.coverage().complete) return false;
    return live.every((w) => {
      const held = new Set(w.held);
      const target = record.target[w.workerId] ?? [];
      return target.length > 0 && target.every((s) => held.has(s)) && (record.active[w.workerId] ?? []).length === target.length;
    });
  }

  health(): { ok: boolean; detail: string } {
    const c = this.placement.coverage();
    const workers = this.membership.workers().length;
    if (c.complete) return { ok: true, detail: `${workers} workers hold every expert` };
    const first = c.missing.slice(0, 5).map((s) => `layer ${Math.floor(s / this.o.numExperts)} expert ${s % this.o.numExperts}`);
    return { ok: false, detail: `${c.missing.length} experts have no live holder (${first.join(', ')}${c.missing.length > 5 ? ', ...' : ''}); ${workers} workers` };
  }

  async close(): Promise<void> {
    this.roster?.close();
    await this.placement.close();
    await this.lease.close();
    await this.membership.close();
    await Promise.all([...this.clients.values()].map((e) => e.client.close()));
    this.clients.clear();
    await this.conn.close();
  }
}
