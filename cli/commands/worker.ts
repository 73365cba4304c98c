import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseFlags } from '../../common/config/flags.js';
import { ConfigError } from '../../common/errors.js';
import { EXPERT_PRECISION_HELP, EXPERT_PRECISIONS, RETIRED_EXPERT_PRECISIONS, type ExpertPrecision } from '../../common/experts/expert-precision.js';
import { createLogger } from '../../common/log.js';
import { serverTlsFromFlags } from '../../common/security/grpc-credentials.js';
import { natsOptionsFromEnv } from '../../common/security/nats-env.js';
import { ExpertWorker } from '../../worker/expert-worker.js';
import { ALL_CORES, threadsHelp } from '../thread-defaults.js';

const FLAGS = {
  model: { type: 'string', description: 'checkpoint directory (only this worker\'s experts are read)' },
  listen: { type: 'string', description: 'gRPC host:port (default 0.0.0.0:50051; port 0 = any free port)' },
  advertise: { type: 'string', description: 'host:port the coordinator reaches this worker at (default: the listen address)' },
  nats: { type: 'string', description: 'NATS server URL(s), comma-separated (default $NATS_URL or nats://127.0.0.1:4222)' },
  capacity: { type: 'int', min: 1, description: 'expert slots this worker holds at most (default: all)' },
  threads: { type: 'int', min: 1, description: threadsHelp('expert compute threads') },
  'expert-precision': { type: 'string', choices: EXPERT_PRECISIONS, retired: RETIRED_EXPERT_PRECISIONS, description: EXPERT_PRECISION_HELP },
  'execution-provider': { type: 'string', choices: ['cpu', 'cuda'], description: 'onnxruntime provider for the experts: cpu (default) or cuda (GPU image; a graph the CUDA provider cannot run entirely is an error, never a silent CPU fallback)' },
  'worker-id': { type: 'string', description: 'unique id (default: hostname-random)' },
  'heartbeat-ms': { type: 'int', min: 50, description: 'heartbeat period (default 1000)' },
  'tls-cert': { type: 'string', description: 'PEM certificate for the gRPC server (TLS; with --tls-key)' },
  'tls-key': { type: 'string', description: 'PEM private key of --tls-cert' },
  'tls-ca': { type: 'string', description: 'PEM CA bundle client certificates are checked against' },
  'tls-require-client-cert': { type: 'bool', description: 'mutual TLS: refuse coordinators without a certificate signed by --tls-ca' },
  'exit-with-parent': { type: 'bool', description: 'stop when standard input closes (set by local clusters, so a killed parent leaves no worker behind)' },
} as const;

export async function runWorker(argv: string[]): Promise<void> {
  const f = parseFlags(argv, FLAGS);
  if (!f.model) throw new ConfigError('worker: --model DIR is required', 'model');
  const log = createLogger('worker');
  const worker = await ExpertWorker.start(
    {
      modelDir: f.model,
      listen: f.listen ?? '0.0.0.0:50051',
      advertise: f.advertise,
      nats: natsOptionsFromEnv(f.nats ?? process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'),
      workerId: f['worker-id'] ?? `${os.hostname()}-${randomBytes(3).toString('hex')}`,
      capacity: f.capacity,
      threads: f.threads ?? ALL_CORES,
      precision: (f['expert-precision'] ?? 'fp32') as ExpertPrecision,
      executionProvider: (f['execution-provider'] ?? 'cpu') as 'cpu' | 'cuda',
      heartbeatMs: f['heartbeat-ms'],
      clusterToken: process.env['GPTOSS_CLUSTER_TOKEN'] || undefined,
      tls: serverTlsFromFlags({ cert: f['tls-cert'], key: f['tls-key'], ca: f['tls-ca'], requireClientCert: f['tls-require-client-cert'] }),
    },
    log,
  );
  // The parent of a local cluster reads this line to learn the address.
  process.stdout.write(JSON.stringify({ event: 'worker-ready', workerId: worker.workerId, address: worker.address }) + '\n');
  const stop = (why: string, handoverTimeoutMs?: number): void => {
    void worker.stop(why, handoverTimeoutMs).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'stop failed');
        process.exit(1);
      },
    );
  };
  // SIGTERM (Kubernetes) hands the experts over to other workers before leaving; SIGINT (Ctrl-C, a
  // local cluster stopping as a whole) leaves as soon as the work in flight is answered.
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT', 0));
  if (f['exit-with-parent']) {
    process.stdin.resume();
    process.stdin.once('end', () => stop('parent exited', 0));
    process.stdin.once('error', () => stop('parent exited', 0));
  }
}
