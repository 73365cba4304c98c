import { parseFlags } from '../../common/config/flags.js';
import { ConfigError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { clientTlsFromFlags } from '../../common/security/grpc-credentials.js';
import { natsOptionsFromEnv } from '../../common/security/nats-env.js';
import { startCoordinator } from '../../coordinator/coordinator-service.js';
import { OVERLAP_POLICIES, type OverlapPolicy } from '../../common/engine/forward-pass.js';
import { ALL_CORES, threadsHelp } from '../thread-defaults.js';

const FLAGS = {
  model: { type: 'string', description: 'checkpoint directory (only the dense weights are loaded)' },
  nats: { type: 'string', description: 'NATS server URL(s), comma-separated (default $NATS_URL or nats://127.0.0.1:4222)' },
  redis: { type: 'string', description: 'Redis URL for session state, or "none" (default $REDIS_URL or none)' },
  host: { type: 'string', description: 'HTTP listen host (default 0.0.0.0)' },
  port: { type: 'int', min: 0, description: 'HTTP port (default 8000)' },
  replication: { type: 'int', min: 1, description: 'workers holding each expert (default 1)' },
  'served-model-name': { type: 'string', description: 'the model id clients use (default: the checkpoint folder name)' },
  threads: { type: 'int', min: 1, description: threadsHelp('onnxruntime threads for the dense graphs') },
  'max-batch-size': { type: 'int', min: 1, description: 'sequences decoding together (default 32)' },
  'max-queued': { type: 'int', min: 0, description: 'requests waiting before 429 (default 256)' },
  overlap: { type: 'string', choices: OVERLAP_POLICIES, description: 'split steps into micro-batches that overlap attention with the workers\' experts: auto (when the measured round trip is worth hiding), always, never (default auto)' },
  'micro-batches': { type: 'int', min: 2, description: 'micro-batches of a split step (default 2)' },
  'load-aware-window-ms': { type: 'int', min: 1000, description: 'give the hottest experts of this window extra replicas on spare worker capacity (default off)' },
  'min-workers': { type: 'int', min: 1, description: 'hold the first placement until this many workers joined (default 1)' },
  'session-ttl': { type: 'int', min: 1, description: 'seconds a session\'s KV blocks live in Redis (default 3600)' },
  'session-max-bytes': { type: 'int', min: 0, description: 'Redis memory budget for KV blocks (default 1 GiB)' },
  'worker-tls-ca': { type: 'string', description: 'PEM CA bundle the workers\' gRPC certificates must chain to (turns on TLS to workers)' },
  'worker-tls-cert': { type: 'string', description: 'PEM client certificate for mutual TLS to workers (with --worker-tls-key)' },
  'worker-tls-key': { type: 'string', description: 'PEM private key of --worker-tls-cert' },
  'coordinator-id': { type: 'string', description: 'this coordinator\'s id in the placement lease and on the dashboard (default hostname-pid-random)' },
  'lease-ttl-ms': { type: 'int', min: 100, description: 'placement lease lifetime without renewal; a dead leader is replaced within about this (default 3000)' },
  'lease-renew-ms': { type: 'int', min: 50, description: 'placement lease renewal and acquisition interval (default 1000)' },
  'heartbeat-timeout-ms': { type: 'int', min: 100, description: 'a worker not heard from for this long is down (default 3000)' },
  'exit-with-parent': { type: 'bool', description: 'stop when standard input closes (set by local clusters, so a killed parent leaves no coordinator behind)' },
  'worker-tls-server-name': { type: 'string', description: 'name the workers\' certificates are checked for, when it differs from their advertised host' },
} as const;

export async function runCoordinator(argv: string[]): Promise<void> {
  const f = parseFlags(argv, FLAGS);
  if (!f.model) throw new ConfigError('coordinator: --model DIR is required', 'model');
  const redis = f.redis ?? process.env['REDIS_URL'] ?? 'none';
  const apiKeys = (process.env['GPTOSS_API_KEYS'] ?? '').split(',').map((k) => k.trim()).filter(Boolean);
  const log = createLogger('coordinator');
  const coordinator = await startCoordinator(
    {
      model: f.model,
      servedModelName: f['served-model-name'],
      nats: natsOptionsFromEnv(f.nats ?? process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'),
      redisUrl: redis === 'none' ? null : redis,
      host: f.host ?? '0.0.0.0',
      port: f.port ?? 8000,
      replication: f.replication ?? 1,
      apiKeys: apiKeys.length > 0 ? apiKeys : undefined,
      clusterToken: process.env['GPTOSS_CLUSTER_TOKEN'] || undefined,
      workerTls: clientTlsFromFlags({ ca: f['worker-tls-ca'], cert: f['worker-tls-cert'], key: f['worker-tls-key'], serverName: f['worker-tls-server-name'] }),
      denseThreads: f.threads ?? ALL_CORES,
      forward: { overlap: f.overlap as OverlapPolicy | undefined, microBatches: f['micro-batches'] },
      maxBatchSize: f['max-batch-size'],
      maxQueued: f['max-queued'],
      initialWorkers: f['min-workers'],
      loadAwareWindowMs: f['load-aware-window-ms'],
      sessionTtlSeconds: f['session-ttl'],
      sessionMaxBytes: f['session-max-bytes'],
      coordinatorId: f['coordinator-id'],
      leaseTtlMs: f['lease-ttl-ms'],
      leaseRenewMs: f['lease-renew-ms'],
      heartbeatTimeoutMs: f['heartbeat-timeout-ms'],
    },
    log,
  );
  process.stdout.write(JSON.stringify({ event: 'coordinator-ready', url: coordinator.url, coordinatorId: coordinator.experts.coordinatorId }) + '\n');
  const stop = (): void => void coordinator.close().then(() => process.exit(0), () => process.exit(1));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, stop);
  if (f['exit-with-parent']) {
    process.stdin.resume();
    process.stdin.once('end', stop);
    process.stdin.once('error', stop);
  }
}
