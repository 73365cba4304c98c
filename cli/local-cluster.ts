// A whole cluster on this machine: a throwaway nats-server (unless a URL is given), N expert
// worker processes, and an in-process coordinator engine whose experts run on them.
import os from 'node:os';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { Engine } from '../common/engine/engine.js';
import type { ForwardPassOptions } from '../common/engine/forward-pass.js';
import type { ExpertPrecision } from '../common/experts/expert-precision.js';
import { freePort } from '../common/local/free-port.js';
import { LatencyProxyProcess } from '../common/local/latency-proxy-process.js';
import { NatsServer } from '../common/local/nats-server-process.js';
import { createLogger, type Logger } from '../common/log.js';
import { ClusterExperts } from '../coordinator/experts/cluster-experts.js';
import { WorkerProcess } from './worker-processes.js';

export interface LocalClusterOptions {
  readonly model: string;
  readonly workers: number;
  readonly replication: number;
  readonly expertPrecision: ExpertPrecision;
  readonly natsUrl?: string;
  readonly quiet?: boolean;
  readonly heartbeatMs?: number;
  readonly heartbeatTimeoutMs?: number;
  readonly readyTimeoutMs?: number;
  readonly onProgress?: (stage: string) => void;
  /** onnxruntime threads of the coordinator's dense graphs (default 1). */
  readonly denseThreads?: number;
  /** Per-dispatch deadline before a replica takes over (ClusterExperts default 10000). */
  readonly dispatchDeadlineMs?: number;
  /** Expert slots each worker may hold (default: every slot). */
  readonly workerCapacity?: number;
  /** Load-aware placement window and minimum interval (off when unset). */
  readonly loadAware?: { windowMs: number; intervalMs?: number };
  /**
   * When set, each worker is reached through a latency proxy adding this one-way delay per
   * direction (ms), as if it sat on another machine.
   */
  readonly linkDelayMs?: number;
  /** Micro-batch overlap of the coordinator's forward pass (ForwardPass's defaults when unset). */
  readonly forward?: ForwardPassOptions;
}

export interface LocalCluster {
  readonly engine: Engine;
  readonly experts: ClusterExperts;
  readonly natsUrl: string;
  readonly nats: NatsServer | null;
  readonly workers: WorkerProcess[];
  /** The latency proxies in front of the workers (empty without linkDelayMs). */
  readonly proxies: LatencyProxyProcess[];
  readonly log: Logger;
  addWorker(): Promise<WorkerProcess>;
  stop(): Promise<void>;
}

export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const log = createLogger('coordinator', o.quiet ? 'error' : undefined);
  const ckpt = await Checkpoint.open(o.model);
  const c = ckpt.config;
  const nats = o.natsUrl ? null : await NatsServer.start();
  const natsUrl = o.natsUrl ?? nats!.url;
  const workers: WorkerProcess[] = [];
  const proxies: LatencyProxyProcess[] = [];
  let experts: ClusterExperts | null = null;
  let counter = 0;
  const threads = Math.max(1, Math.floor(os.availableParallelism() / o.workers));
  const addWorker = async (): Promise<WorkerProcess> => {
    // With a delay, the worker is announced at its proxy's address; the proxy runs before the
    // worker announces anything, so the coordinator's first connection already goes through it.
    let proxy: LatencyProxyProcess | undefined;
    let listen: string | undefined;
    if (o.linkDelayMs !== undefined) {
      listen = `127.0.0.1:${await freePort()}`;
      proxy = await LatencyProxyProcess.start(listen, o.linkDelayMs);
      proxies.push(proxy);
    }
    const w = await WorkerProcess.start({
      model: o.model,
      natsUrl,
      listen,
      advertise: proxy?.address,
      workerId: `local-${++counter}`,
      threads,
      precision: o.expertPrecision,
      heartbeatMs: o.heartbeatMs,
      capacity: o.workerCapacity,
      logLevel: o.quiet ? 'silent' : 'warn',
    });
    workers.push(w);
    return w;
  };
  const stop = async (): Promise<void> => {
    await experts?.close().catch(() => {});
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(proxies.map((p) => p.stop()));
    await nats?.stop();
  };
  try {
    experts = await ClusterExperts.start(
      { nats: { servers: natsUrl }, numLayers: c.numLayers, numExperts: c.numExperts, hiddenSize: c.hiddenSize, fingerprint: ckpt.fingerprint, replication: o.replication, heartbeatTimeoutMs: o.heartbeatTimeoutMs, dispatchDeadlineMs: o.dispatchDeadlineMs, initialWorkers: o.workers, loadAwareWindowMs: o.loadAware?.windowMs, loadAwareIntervalMs: o.loadAware?.intervalMs },
      log,
    );
    o.onProgress?.('starting workers');
    await Promise.all(Array.from({ length: o.workers }, () => addWorker()));
    o.onProgress?.('placing experts');
    await experts.settled(o.workers, o.readyTimeoutMs ?? 300_000);
    o.onProgress?.('loading the dense model');
    const engine = await Engine.withBackend(ckpt, experts.backend, o.denseThreads ?? 1, undefined, o.forward);
    const cluster: LocalCluster = {
      engine,
      experts,
      natsUrl,
      nats,
      workers,
      proxies,
      log,
      addWorker,
      stop: async () => {
        await engine.forward.model.close();
        await stop();
      },
    };
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}
