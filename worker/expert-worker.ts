// One expert worker: an ExpertPool behind the gRPC expert service, announced on NATS, following
// the placement record (load what is assigned, drop only what is neither assigned nor active).
import os from 'node:os';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import type { ClusterLog, PlacementRecord } from '../common/cluster/events.js';
import { connectNats, type ClusterConnection, type NatsConnectOptions } from '../common/cluster/nats-connection.js';
import { clusterSubjects } from '../common/cluster/subjects.js';
import type { ExpertPrecision } from '../common/experts/expert-precision.js';
import { serverCredentials, type ServerTlsFiles } from '../common/security/grpc-credentials.js';
import { ExpertPool } from '../common/experts/expert-pool.js';
import { ExpertLoadCounter } from './expert-load-counter.js';
import { startExpertServer, type ExpertServer } from './expert-service.js';
import { WorkerAnnouncer } from './membership-announcer.js';
import { PlacementFollower, reconcile } from '../common/cluster/placement-follower.js';

export interface ExpertWorkerOptions {
  readonly modelDir: string;
  /** host:port to listen on; port 0 picks a free one. */
  readonly listen: string;
  /** host:port others reach this worker at. Default: the listen address (with the picked port). */
  readonly advertise?: string;
  readonly nats: Partial<NatsConnectOptions>;
  readonly workerId: string;
  /** Expert slots this worker can hold. Default: all of them. */
  readonly capacity?: number;
  /** Compute threads. Default: the machine's cores. */
  readonly threads?: number;
  readonly precision: ExpertPrecision;
  /** Where the experts run: cpu (default) or cuda (an image with onnxruntime's CUDA provider). */
  readonly executionProvider?: 'cpu' | 'cuda';
  readonly heartbeatMs?: number;
  readonly clusterToken?: string;
  readonly clusterPrefix?: string;
  /** TLS (and, with requireClientCert, mutual TLS) on the gRPC server. Default: plaintext. */
  readonly tls?: ServerTlsFiles;
  /**
   * Milliseconds between a record that no longer needs a slot here and dropping it. Coordinators
   * that follow the placement leader see each record a little after this worker does; meanwhile
   * they may still route the slot here. Default 1000.
   */
  readonly dropGraceMs?: number;
}

export class ExpertWorker {
  private reconciling: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  private dropTimer: NodeJS.Timeout | null = null;
  private dropGraceMs = 1000;
  /** Assigned slots still loading (the heartbeat's loading progress). */
  private loadingSlots = 0;
  /** Milliseconds from process start until every assigned slot was first held. */
  private loadedInMs: number | undefined;

  private constructor(
    readonly workerId: string,
    readonly address: string,
    private readonly numExperts: number,
    private readonly pool: ExpertPool,
    private readonly server: ExpertServer,
    private readonly conn: ClusterConnection,
    private readonly announcer: WorkerAnnouncer,
    private follower: PlacementFollower | null,
    private readonly log: ClusterLog,
  ) {}

  static async start(o: ExpertWorkerOptions, log: ClusterLog): Promise<ExpertWorker> {
    const ckpt = await Checkpoint.open(o.modelDir);
    const c = ckpt.config;
    const capacity = o.capacity ?? c.numLayers * c.numExperts;
    const pool = await ExpertPool.create({ checkpointDir: o.modelDir, threads: o.threads ?? os.availableParallelism(), runtime: { precision: o.precision, executionProvider: o.executionProvider } });
    const loadCounter = new ExpertLoadCounter(c.numExperts);
    const server = await startExpertServer({ listen: o.listen, pool, fingerprint: ckpt.fingerprint, workerId: o.workerId, clusterToken: o.clusterToken, capacity, credentials: o.tls ? serverCredentials(o.tls) : undefined, onAssignments: (layer, experts) => loadCounter.add(layer, experts) });
    const host = o.listen.slice(0, o.listen.lastIndexOf(':'));
    const address = o.advertise ?? `${host === '0.0.0.0' || host === '' ? os.hostname() : host}:${server.port}`;
    const conn = await connectNats({ name: `gptoss-worker-${o.workerId}`, ...o.nats }, log);
    const subjects = clusterSubjects(o.clusterPrefix);
    let progress = (): { loadedInMs?: number; loadingSlots: number } => ({ loadingSlots: 0 });
    const announcer = new WorkerAnnouncer(
      conn.nc,
      subjects,
      { workerId: o.workerId, address, capacity, modelFingerprint: ckpt.fingerprint, heartbeatMs: o.heartbeatMs ?? 1000, expertLoad: () => loadCounter.report(), progress: () => progress() },
      log,
    );
    const worker = new ExpertWorker(o.workerId, address, c.numExperts, pool, server, conn, announcer, null, log);
    worker.dropGraceMs = o.dropGraceMs ?? 1000;
    progress = () => ({ loadingSlots: worker.loadingSlots, ...(worker.loadedInMs === undefined ? {} : { loadedInMs: worker.loadedInMs }) });
    announcer.start();
    worker.follower = new PlacementFollower(conn.nc, subjects, { onPlacement: (r) => worker.follow(r) }, log);
    await worker.follower.start();
    log.info({ workerId: o.workerId, address, capacity, fingerprint: ckpt.fingerprint, tls: o.tls ? (o.tls.requireClientCert ? 'mtls' : 'tls') : 'off', clusterToken: o.clusterToken !== undefined }, 'worker started');
    return worker;
  }

  private async handedOver(timeoutMs: number): Promise<void> {
    if (timeoutMs <= 0) return;
    const deadline = Date.now() + timeoutMs;
    while ((this.follower?.current()?.active[this.workerId]?.length ?? 0) > 0) {
      if (Date.now() > deadline) {
        this.log.warn({ workerId: this.workerId, timeoutMs }, 'no worker took over this worker\'s experts in time; leaving anyway');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private heldSlots(): number[] {
    return this.pool.held().map((h) => h.layer * this.numExperts + h.expert);
  }

  /**
   * Loads what the record assigns here and reports it held; drops what is no longer needed
   * dropGraceMs later, by the record current then (a slot assigned back meanwhile is kept).
   */
  private follow(record: PlacementRecord): Promise<void> {
    this.reconciling = this.reconciling.then(async () => {
      if (this.stopping) return;
      const { load, drop } = reconcile(record, this.workerId, this.heldSlots());
      // All at once: the pool spreads them over its threads, each loading one at a time.
      this.loadingSlots = load.length;
      const loaded = await Promise.allSettled(
        load.map((slot) => this.pool.load(Math.floor(slot / this.numExperts), slot % this.numExperts).finally(() => this.loadingSlots--)),
      );
      const failed = loaded.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) this.log.error({ failed: failed.length, err: String(failed[0]!.reason) }, 'expert loads failed');
      const target = record.target[this.workerId] ?? [];
      if (this.loadedInMs === undefined && target.length > 0 && target.every((s) => this.pool.has(Math.floor(s / this.numExperts), s % this.numExperts))) {
        // performance.now() counts from process start.
        this.loadedInMs = Math.round(performance.now());
        this.log.info({ loadedInMs: this.loadedInMs, slots: target.length }, 'assigned experts held');
      }
      if (load.length > 0) this.announcer.update(this.heldSlots());
      if (load.length > 0) this.log.info({ loaded: load.length, held: this.heldSlots().length }, 'placement applied');
      if (drop.length > 0) this.scheduleDrops();
    }).catch((err: unknown) => this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'placement apply failed'));
    return this.reconciling;
  }

  private scheduleDrops(): void {
    if (this.dropTimer) return;
    this.dropTimer = setTimeout(() => {
      this.dropTimer = null;
      this.reconciling = this.reconciling.then(async () => {
        const record = this.follower?.current();
        if (this.stopping || !record) return;
        const { drop } = reconcile(record, this.workerId, this.heldSlots());
        for (const slot of drop) await this.pool.drop(Math.floor(slot / this.numExperts), slot % this.numExperts);
        if (drop.length > 0) {
          this.announcer.update(this.heldSlots());
          this.log.info({ dropped: drop.length, held: this.heldSlots().length }, 'placement applied');
        }
      }).catch((err: unknown) => this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'placement drop failed'));
    }, this.dropGraceMs);
  }

  /**
   * SIGTERM: announce draining and keep serving until the placement routes nothing here any more
   * (the experts were handed over to live holders) or `handoverTimeoutMs` passed; then stop taking
   * work, finish what is in flight, say goodbye, release everything.
   */
  stop(reason = 'shutdown', handoverTimeoutMs = 30_000): Promise<void> {
    this.stopping ??= (async () => {
      if (this.dropTimer) clearTimeout(this.dropTimer);
      this.announcer.update(this.heldSlots(), true);
      await this.handedOver(handoverTimeoutMs);
      await this.server.drain();
      await this.announcer.stop(reason);
      await this.follower?.close();
      await this.server.close();
      await this.reconciling;
      await this.pool.close();
      await this.conn.close();
      this.log.info({ workerId: this.workerId, reason }, 'worker stopped');
    })();
    return this.stopping;
  }
}
