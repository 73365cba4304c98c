// TLS and mutual TLS on the coordinator <-> worker data plane, with throwaway certificates made by
// openssl at test time: a worker serving mTLS (and a cluster token) over an ExpertPool on the
// golden checkpoint refuses plaintext, certificate-less and foreign-CA clients, serves the right
// one exactly, and the handshake (token, fingerprint) is still enforced inside the TLS channel.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { ConfigError, WorkerHandshakeError } from '../../common/errors.js';
import { ExpertSet } from '../../common/experts/expert-set.js';
import { DEFAULT_EXPERT_RUNTIME } from '../../common/experts/expert-precision.js';
import { channelCredentials, clientTlsFromFlags, serverCredentials, serverTlsFromFlags } from '../../common/security/grpc-credentials.js';
import { natsOptionsFromEnv } from '../../common/security/nats-env.js';
import { ExpertClient } from '../../coordinator/experts/expert-client.js';
import { ExpertPool } from '../../common/experts/expert-pool.js';
import { startExpertServer, type ExpertServer } from '../../worker/expert-service.js';
import { GOLDEN_ROOT } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/golden.js';

const MODEL = path.join(GOLDEN_ROOT, 'visible-v4k', 'hf');
const TOKEN = 'tls-test-cluster-token';

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA (`name`.pem/.key) in `dir`. */
function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${name}`);
}

/** A leaf certificate `name`.pem/.key signed by CA `ca`, valid for localhost and 127.0.0.1. */
function makeLeaf(dir: string, ca: string, name: string, usage: 'serverAuth' | 'clientAuth'): void {
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
}

describe('security - TLS and mutual TLS on the expert data plane (openssl certificates, golden visible-v4k)', function () {
  let dir: string;
  let checkpoint: Checkpoint;
  let reference: ExpertSet;
  let pool: ExpertPool;
  let server: ExpertServer;
  let address: string;
  const clients: ExpertClient[] = [];
  const f = (name: string): string => path.join(dir, name);

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'gptoss-tls-'));
    makeCa(dir, 'ca');
    makeCa(dir, 'other-ca');
    makeLeaf(dir, 'ca', 'worker', 'serverAuth');
    makeLeaf(dir, 'ca', 'coordinator', 'clientAuth');
    makeLeaf(dir, 'other-ca', 'intruder', 'clientAuth');
    makeLeaf(dir, 'other-ca', 'impostor-worker', 'serverAuth');
    checkpoint = await Checkpoint.open(MODEL);
    reference = new ExpertSet(checkpoint.config, checkpoint, DEFAULT_EXPERT_RUNTIME);
    pool = await ExpertPool.create({ checkpointDir: MODEL, threads: 1 });
    for (let e = 0; e < 4; e++) {
      await pool.load(0, e);
      await reference.load(0, e);
    }
    server = await startExpertServer({
      listen: '127.0.0.1:0',
      pool,
      fingerprint: pool.fingerprint,
      workerId: 'w-tls',
      clusterToken: TOKEN,
      credentials: serverCredentials({ cert: f('worker.pem'), key: f('worker.key'), ca: f('ca.pem'), requireClientCert: true }),
    });
    address = `127.0.0.1:${server.port}`;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.close();
    await pool?.close();
    await reference?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const client = (o: { credentials?: grpc.ChannelCredentials; token?: string | null; fingerprint?: string }): ExpertClient => {
    const c = new ExpertClient({
      address,
      workerId: 'w-tls',
      fingerprint: o.fingerprint ?? checkpoint.fingerprint,
      clusterToken: o.token === null ? undefined : (o.token ?? TOKEN),
      credentials: o.credentials,
      deadlineMs: 3000,
      channelOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 200 },
    });
    clients.push(c);
    return c;
  };
  const good = (): grpc.ChannelCredentials => channelCredentials({ ca: f('ca.pem'), cert: f('coordinator.pem'), key: f('coordinator.key') });

  /** One token row routed to experts 0..3 of layer 0. */
  const batch = () => {
    const H = checkpoint.config.hiddenSize;
    const T = 3;
    const hidden = Float32Array.from({ length: T * H }, (_, i) => Math.sin(i * 0.37));
    const rows = Int32Array.from([0, 0, 1, 1, 2, 2]);
    const experts = Int32Array.from([0, 1, 2, 3, 1, 2]);
    const weights = Float32Array.from([0.6, 0.4, 0.7, 0.3, 0.5, 0.5]);
    return { layer: 0, T, hidden, rows, experts, weights };
  };

  it('security tls - the right client certificate and token: Info answers and a dispatch equals ExpertSet exactly', async () => {
    const c = client({ credentials: good() });
    const info = await c.info();
    assert.equal(info.workerId, 'w-tls');
    const b = batch();
    const [got, want] = await Promise.all([
      c.dispatch(b.layer, b.hidden, b.T, b.rows, b.experts, b.weights),
      reference.weightedSum(b.layer, b.hidden, b.T, { tokens: b.rows, experts: b.experts, weights: b.weights }),
    ]);
    assert.ok(maxAbsDiff(got, want) <= 1e-6, `max abs diff ${maxAbsDiff(got, want)}`);
    const again = await c.compute(b.layer, b.hidden, b.T, b.rows, b.experts, b.weights);
    assert.ok(maxAbsDiff(again, want) <= 1e-6);
  });

  for (const [what, creds] of [
    ['a plaintext client', () => grpc.credentials.createInsecure()],
    ['a TLS client without a certificate', () => channelCredentials({ ca: f('ca.pem') })],
    ['a client certificate from another CA', () => channelCredentials({ ca: f('ca.pem'), cert: f('intruder.pem'), key: f('intruder.key') })],
    ['a client that does not trust the worker\'s CA', () => channelCredentials({ ca: f('other-ca.pem'), cert: f('coordinator.pem'), key: f('coordinator.key') })],
  ] as const) {
    it(`security tls - mTLS refuses ${what}`, async () => {
      const c = client({ credentials: creds() });
      await assert.rejects(c.info(2000), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.doesNotMatch(e.message, /w-tls.*held/); // no Info reply leaked
        return true;
      });
      const b = batch();
      await assert.rejects(c.dispatch(b.layer, b.hidden, b.T, b.rows, b.experts, b.weights, { deadlineMs: 2000 }));
    });
  }

  it('security tls - a worker serving TLS with a foreign certificate is refused by a coordinator trusting only its CA', async () => {
    const impostor = await startExpertServer({
      listen: '127.0.0.1:0',
      pool,
      fingerprint: pool.fingerprint,
      workerId: 'w-impostor',
      credentials: serverCredentials({ cert: f('impostor-worker.pem'), key: f('impostor-worker.key') }),
    });
    const c = new ExpertClient({ address: `127.0.0.1:${impostor.port}`, fingerprint: checkpoint.fingerprint, credentials: good(), deadlineMs: 2000 });
    try {
      await assert.rejects(c.info(2000));
    } finally {
      await c.close();
      await impostor.close();
    }
  });

  it('security tls - inside TLS, a coordinator without the cluster token gets UNAUTHENTICATED', async () => {
    for (const token of [null, 'wrong-token']) {
      const c = client({ credentials: good(), token });
      await assert.rejects(c.info(), (e: unknown) => {
        assert.ok(e instanceof WorkerHandshakeError, String(e));
        assert.equal(e.grpcCode, grpc.status.UNAUTHENTICATED);
        assert.doesNotMatch(e.message, new RegExp(TOKEN));
        return true;
      });
      const b = batch();
      await assert.rejects(c.dispatch(b.layer, b.hidden, b.T, b.rows, b.experts, b.weights), (e: unknown) => e instanceof WorkerHandshakeError && e.grpcCode === grpc.status.UNAUTHENTICATED);
    }
  });

  it('security tls - a worker whose checkpoint fingerprint differs is refused with FAILED_PRECONDITION (WorkerHandshakeError)', async () => {
    const c = client({ credentials: good(), fingerprint: 'f'.repeat(64) });
    const b = batch();
    for (const call of [() => c.info(), () => c.dispatch(b.layer, b.hidden, b.T, b.rows, b.experts, b.weights), () => c.compute(b.layer, b.hidden, b.T, b.rows, b.experts, b.weights)]) {
      await assert.rejects(call(), (e: unknown) => {
        assert.ok(e instanceof WorkerHandshakeError, String(e));
        assert.equal(e.grpcCode, grpc.status.FAILED_PRECONDITION);
        assert.equal(e.retryable, false);
        return true;
      });
    }
  });

  it('security tls - flag and file validation: ConfigError naming the field, never a silent plaintext fallback', () => {
    assert.equal(serverTlsFromFlags({}), undefined);
    assert.equal(clientTlsFromFlags({}), undefined);
    assert.throws(() => serverTlsFromFlags({ cert: f('worker.pem') }), (e: unknown) => e instanceof ConfigError && e.field === 'tls-key');
    assert.throws(() => serverTlsFromFlags({ requireClientCert: true }), ConfigError);
    assert.throws(() => serverCredentials({ cert: f('worker.pem'), key: f('worker.key'), requireClientCert: true }), (e: unknown) => e instanceof ConfigError && e.field === 'ca');
    assert.throws(() => clientTlsFromFlags({ cert: f('coordinator.pem'), key: f('coordinator.key') }), (e: unknown) => e instanceof ConfigError && e.field === 'worker-tls-ca');
    assert.throws(() => channelCredentials({ ca: f('missing.pem') }), (e: unknown) => e instanceof ConfigError && e.field === 'ca');
    assert.throws(() => channelCredentials({ ca: f('worker.ext') }), /not a PEM file/);
    assert.throws(() => channelCredentials({ ca: f('ca.pem'), cert: f('coordinator.pem') }), ConfigError);
  });

  it('security - NATS auth and TLS come from the environment (empty variables are unset)', () => {
    const o = natsOptionsFromEnv('nats://a:4222,nats://b:4222', { NATS_USER: 'u', NATS_PASS: 'p', NATS_TOKEN: '', NATS_TLS_CA: '/ca.pem', NATS_TLS_CERT: '/c.pem', NATS_TLS_KEY: '/k.pem' });
    assert.deepEqual(o, { servers: ['nats://a:4222', 'nats://b:4222'], user: 'u', pass: 'p', token: undefined, tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' } });
    assert.equal(natsOptionsFromEnv('nats://x:1', {}).tls, undefined);
  });
});
