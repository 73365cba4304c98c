// A whole coordinator: the dense half of the model, the expert workers it finds on NATS, the
// continuous-batching scheduler, Redis session state (optional) and the OpenAI-compatible HTTP API.
import type { ForwardPassOptions } from '../common/engine/forward-pass.js';
import path from 'node:path';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import type { NatsConnectOptions } from '../common/cluster/nats-connection.js';
import { Engine } from '../common/engine/engine.js';
import type { Logger } from '../common/log.js';
import { ClusterExperts } from './experts/cluster-experts.js';
import { buildHttpServer } from './api/server.js';
import { registerDashboard } from './dashboard/index.js';
import { InMemoryResponseStore, type ResponseStore } from './api/response-store.js';
import { CoordinatorMetrics } from './metrics/coordinator-metrics.js';
import { Scheduler, SCHEDULER_DEFAULTS } from './engine-core/scheduler.js';
import { SessionPrefixStore } from './engine-core/session-prefix-store.js';
import { RedisKvSessionStore } from './session/session-store.js';
import { RedisResponseStore } from './session/redis-response-store.js';
import type { FastifyInstance } from 'fastify';
import type { ClientTlsFiles } from '../common/security/grpc-credentials.js';

export interface CoordinatorOptions {
  readonly model: string;
  /** The id clients send as `model` (default: the checkpoint folder's name). */
  readonly servedModelName?: string;
  readonly nats: Partial<NatsConnectOptions>;
  /** Redis for session state; null serves without persistence (responses kept in memory). */
  readonly redisUrl: string | null;
  readonly host: string;
  readonly port: number;
  readonly replication: number;
  readonly apiKeys?: readonly string[];
  readonly clusterToken?: string;
  /** TLS to the expert workers (with cert/key: mutual TLS). Default: plaintext. */
  readonly workerTls?: ClientTlsFiles;
  readonly denseThreads: number;
  /** Micro-batch overlap of the forward pass (its defaults when unset). */
  readonly forward?: ForwardPassOptions;
  readonly maxBatchSize?: number;
  readonly maxQueued?: number;
  readonly maxStepTokens?: number;
  readonly sessionTtlSeconds?: number;
  readonly sessionMaxBytes?: number;
  readonly initialWorkers?: number;
  /** Load-aware placement window in ms (off when unset). */
  readonly loadAwareWindowMs?: number;
  readonly heartbeatTimeoutMs?: number;
  /** Id in the placement lease and on the dashboard (default: hostname-pid-random). */
  readonly coordinatorId?: string;
  /** Placement lease TTL / renewal interval in ms (defaults 3000 / 1000). */
  readonly leaseTtlMs?: number;
  readonly leaseRenewMs?: number;
  readonly onDenseTensor?: (name: string) => void;
}

export interface Coordinator {
  readonly url: string;
  readonly experts: ClusterExperts;
  readonly scheduler: Scheduler;
  readonly http: FastifyInstance;
  /** What GET /metrics serves (Prometheus, own registry). */
  readonly metrics: CoordinatorMetrics;
  close(): Promise<void>;
}

export async function startCoordinator(o: CoordinatorOptions, log: Logger): Promise<Coordinator> {
  const ckpt = await Checkpoint.open(o.model);
  const c = ckpt.config;
  for (const w of c.warnings) log.warn({ model: o.model }, w);
  const modelId = o.servedModelName ?? path.basename(path.resolve(o.model));
  const metrics = new CoordinatorMetrics(modelId);
  const experts = await ClusterExperts.start(
    {
      nats: o.nats,
      numLayers: c.numLayers,
      numExperts: c.numExperts,
      hiddenSize: c.hiddenSize,
      fingerprint: ckpt.fingerprint,
      replication: o.replication,
      clusterToken: o.clusterToken,
      workerTls: o.workerTls,
      initialWorkers: o.initialWorkers,
      loadAwareWindowMs: o.loadAwareWindowMs,
      heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      coordinatorId: o.coordinatorId,
      leaseTtlMs: o.leaseTtlMs,
      leaseRenewMs: o.leaseRenewMs,
      onDispatch: metrics.onDispatch,
    },
    log,
  );
  experts.placement.on('placement', metrics.onPlacement);
  experts.observeRouting(metrics.onRouting);
  const engine = await Engine.withBackend(ckpt, experts.backend, o.denseThreads, o.onDenseTensor, o.forward);
  let kvStore: RedisKvSessionStore | null = null;
  let responses: ResponseStore;
  if (o.redisUrl) {
    kvStore = new RedisKvSessionStore({
      url: o.redisUrl,
      modelFingerprint: ckpt.fingerprint,
      numLayers: c.numLayers,
      kvDim: c.numKvHeads * c.headDim,
      ttlSeconds: o.sessionTtlSeconds,
      maxMemoryBytes: o.sessionMaxBytes,
      logger: log,
    });
    // Redis down at start is not fatal: the store reconnects by itself.
    await kvStore.waitUntilReady(3000).catch(() => log.warn({}, 'redis not reachable yet; serving without session persistence until it is'));
    responses = new RedisResponseStore({ url: o.redisUrl, logger: log });
  } else {
    responses = new InMemoryResponseStore();
  }
  const scheduler = new Scheduler(engine.forward, () => engine.newCache(), {
    modelId,
    contextLength: c.maxPositionEmbeddings,
    maxBatchSize: o.maxBatchSize,
    maxQueued: o.maxQueued,
    maxStepTokens: o.maxStepTokens,
    prefixStore: kvStore ? new SessionPrefixStore(kvStore) : undefined,
    healthChecks: () => ({ experts: experts.health() }),
    onStep: metrics.onStep,
    onRequestEvent: metrics.onRequestEvent,
    log,
  });
  const store = kvStore;
  metrics.attach({
    load: () => scheduler.load,
    maxBatchSize: o.maxBatchSize ?? SCHEDULER_DEFAULTS.maxBatchSize,
    workers: () => experts.membership.workers(),
    unheldSlots: () => experts.placement.coverage().missing.length,
    underreplicatedSlots: () => experts.placement.underreplicated(),
    placementLeader: () => experts.lease.isLeader(),
    placementRevision: () => experts.placement.recordRevision(),
    rereplication: () => experts.rereplication.figures(),
    sessionStats: store ? () => store.stats() : undefined,
  });
  const http = buildHttpServer({ engine: scheduler, responses, logger: log, apiKeys: o.apiKeys ? [...o.apiKeys] : undefined, metricsText: () => metrics.text() });
  metrics.instrumentHttp(http);
  registerDashboard(http, { experts, scheduler, numLayers: c.numLayers, numExperts: c.numExperts });
  const address = await http.listen({ host: o.host, port: o.port });
  experts.announce(address);
  log.info({ url: address, coordinatorId: experts.coordinatorId }, 'coordinator listening');
  let closing: Promise<void> | null = null;
  return {
    url: address,
    experts,
    scheduler,
    http,
    metrics,
    close: () =>
      (closing ??= (async () => {
        await http.close();
        await engine.forward.model.close();
        await experts.close();
        await kvStore?.close();
        await (responses as { close?: () => Promise<void> }).close?.();
      })()),
  };
}
