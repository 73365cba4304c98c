// The expert data plane end to end: a real gRPC server over an ExpertPool (2 compute threads) on
// the golden checkpoint, driven through ExpertClient and, for malformed messages the client would
// never send, through a raw stream on the same service definition.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { ExpertSet } from '../../common/experts/expert-set.js';
import { DEFAULT_EXPERT_RUNTIME } from '../../common/experts/expert-precision.js';
import { WorkerDispatchError, WorkerHandshakeError, WorkerRejectedError } from '../../common/errors.js';
import {
  DType,
  METADATA_FINGERPRINT,
  METADATA_PROTOCOL,
  PROTOCOL_VERSION,
  expertServiceDefinition,
  type ExpertReplyMessage,
  type ExpertRequestMessage,
} from '../../common/wire/expert-proto.js';
import { decodeTensor, encodeTensor, float32Bytes, int32Bytes } from '../../common/wire/tensor-codec.js';
import { ExpertPool } from '../../common/experts/expert-pool.js';
import { startExpertServer, type ExpertCompute, type ExpertServer } from '../../worker/expert-service.js';
import { ExpertClient } from '../../coordinator/experts/expert-client.js';
import { GOLDEN_ROOT } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/golden.js';

const MODEL = path.join(GOLDEN_ROOT, 'visible-v4k', 'hf');
const TOKEN = 'test-cluster-token';
/** Held experts per layer: all of layer 0, part of layer 1 (7 is not held), one of layer 3. */
const HELD: Record<number, number[]> = { 0: [0, 1, 2, 3, 4, 5, 6, 7], 1: [0, 1, 2, 3, 5], 3: [2] };

/** Deterministic pseudo-random numbers in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  };
}

interface Batch {
  readonly layer: number;
  readonly tokenCount: number;
  readonly hidden: Float32Array;
  readonly rows: Int32Array;
  readonly experts: Int32Array;
  readonly weights: Float32Array;
}

/** T tokens, each routed to `perToken` distinct held experts of `layer` with weights summing to 1. */
function batch(layer: number, tokenCount: number, H: number, seed: number, perToken = 4): Batch {
  const r = rng(seed);
  const hidden = Float32Array.from({ length: tokenCount * H }, () => r() * 2);
  const held = HELD[layer]!;
  const rows: number[] = [];
  const experts: number[] = [];
  const weights: number[] = [];
  for (let t = 0; t < tokenCount; t++) {
    const pool = [...held];
    const k = Math.min(perToken, pool.length);
    const w = Array.from({ length: k }, () => Math.exp(r()));
    const sum = w.reduce((a, b) => a + b, 0);
    for (let j = 0; j < k; j++) {
      const pick = pool.splice(Math.floor(((r() + 1) / 2) * pool.length), 1)[0]!;
      rows.push(t);
      experts.push(pick);
      weights.push(w[j]! / sum);
    }
  }
  return { layer, tokenCount, hidden, rows: Int32Array.from(rows), experts: Int32Array.from(experts), weights: Float32Array.from(weights) };
}

function toRequest(b: Batch, requestId: number): ExpertRequestMessage {
  return {
    requestId,
    layer: b.layer,
    hidden: encodeTensor(b.hidden, [b.tokenCount, b.hidden.length / b.tokenCount]),
    rows: int32Bytes(b.rows),
    experts: int32Bytes(b.experts),
    weights: float32Bytes(b.weights),
    replyDtype: DType.FLOAT32,
  };
}

function handshake(overrides: { fingerprint?: string; protocol?: string; token?: string | null } = {}, fingerprint: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(METADATA_PROTOCOL, overrides.protocol ?? String(PROTOCOL_VERSION));
  md.set(METADATA_FINGERPRINT, overrides.fingerprint ?? fingerprint);
  if (overrides.token !== null) md.set('authorization', `Bearer ${overrides.token ?? TOKEN}`);
  return md;
}

/** A raw Dispatch stream that hands back replies in arrival order. */
class RawStream {
  private readonly replies: ExpertReplyMessage[] = [];
  private waiter: ((r: ExpertReplyMessage) => void) | null = null;
  readonly call: grpc.ClientDuplexStream<ExpertRequestMessage, ExpertReplyMessage>;

  constructor(client: grpc.Client, md: grpc.Metadata) {
    const m = expertServiceDefinition().Dispatch;
    this.call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, md);
    this.call.on('error', () => undefined);
    this.call.on('data', (r: ExpertReplyMessage) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(r);
      } else this.replies.push(r);
    });
  }

  exchange(req: ExpertRequestMessage): Promise<ExpertReplyMessage> {
    this.call.write(req);
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to request ${req.requestId} within 10 s`)), 10_000);
      this.waiter = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });
  }
}

/** A stand-in pool whose computations wait for `release()` (or forever). */
function gatedCompute(config: ExpertCompute['config']): ExpertCompute & { release(): void; started: number } {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const c = {
    config,
    started: 0,
    has: () => true,
    held: () => [],
    weightedSum: async (_l: number, _h: Float32Array, tokenCount: number) => {
      c.started++;
      await gate;
      return new Float32Array(tokenCount * config.hiddenSize);
    },
    release: () => open(),
  };
  return c;
}

describe('expert service (golden visible-v4k, 2 compute threads)', function () {
  let checkpoint: Checkpoint;
  let reference: ExpertSet;
  let pool: ExpertPool;
  let server: ExpertServer;
  let address: string;
  let client: ExpertClient;
  let H: number;

  before(async function () {
    checkpoint = await Checkpoint.open(MODEL);
    H = checkpoint.config.hiddenSize;
    reference = new ExpertSet(checkpoint.config, checkpoint, DEFAULT_EXPERT_RUNTIME);
    pool = await ExpertPool.create({ checkpointDir: MODEL, threads: 2 });
    for (const [layer, experts] of Object.entries(HELD)) {
      for (const e of experts) {
        await pool.load(Number(layer), e);
        await reference.load(Number(layer), e);
      }
    }
    server = await startExpertServer({ listen: '127.0.0.1:0', pool, fingerprint: pool.fingerprint, workerId: 'w-test', clusterToken: TOKEN });
    address = `127.0.0.1:${server.port}`;
    client = new ExpertClient({ address, fingerprint: checkpoint.fingerprint, clusterToken: TOKEN, workerId: 'w-test' });
  });

  after(async () => {
    await client?.close();
    await server?.close();
    await pool?.close();
    await reference?.close();
  });

  const expected = (b: Batch): Promise<Float32Array> =>
    reference.weightedSum(b.layer, b.hidden, b.tokenCount, { tokens: b.rows, experts: b.experts, weights: b.weights });
  const send = (c: ExpertClient, b: Batch, wireDtype: 'fp32' | 'fp16' = 'fp32', deadlineMs?: number): Promise<Float32Array> =>
    c.dispatch(b.layer, b.hidden, b.tokenCount, b.rows, b.experts, b.weights, { wireDtype, deadlineMs });

  it('expert pool - spreads experts over both threads, least loaded first', () => {
    assert.equal(pool.threadCount, 2);
    assert.equal(pool.held().length, 14);
    assert.deepEqual(pool.loadsPerThread(), [7, 7]);
    assert.ok(pool.has(1, 5) && !pool.has(1, 7) && !pool.has(2, 0));
  });

  it('expert service - fp32 dispatch equals ExpertSet.weightedSum in-process (max abs diff <= 1e-6)', async () => {
    // T = 150 is computed in three row chunks (fair sharing), the others in one.
    for (const [layer, T, seed] of [[0, 1, 1], [0, 7, 2], [0, 33, 3], [1, 16, 4], [3, 5, 5], [0, 150, 6]] as const) {
      const b = batch(layer, T, H, seed, layer === 3 ? 1 : 4);
      const [got, want] = await Promise.all([send(client, b), expected(b)]);
      assert.equal(got.length, T * H);
      const d = maxAbsDiff(got, want);
      assert.ok(d <= 1e-6, `layer ${layer} T=${T}: max abs diff ${d}`);
    }
  });

  it('expert service - fp16 wire stays within 1e-2 of the fp32 result (relative to its largest value)', async () => {
    const b = batch(0, 24, H, 11);
    const [got, want] = await Promise.all([send(client, b, 'fp16'), expected(b)]);
    const scale = Math.max(...Array.from(want, Math.abs));
    const d = maxAbsDiff(got, want);
    assert.ok(d <= 1e-2 * scale, `max abs diff ${d} against largest value ${scale}`);
  });

  it('expert service - concurrent dispatches on one stream come back matched by request_id', async () => {
    const batches = Array.from({ length: 24 }, (_, i) => batch(i % 2, 1 + ((i * 7) % 19), H, 100 + i));
    const [got, want] = await Promise.all([Promise.all(batches.map((b) => send(client, b))), Promise.all(batches.map(expected))]);
    got.forEach((g, i) => assert.ok(maxAbsDiff(g, want[i]!) <= 1e-6, `batch ${i} differs`));
  });

  it('expert service - unary Compute gives the same result and answers a bad request with a real INVALID_ARGUMENT', async () => {
    const b = batch(1, 9, H, 21);
    assert.ok(maxAbsDiff(await client.compute(b.layer, b.hidden, b.tokenCount, b.rows, b.experts, b.weights), await expected(b)) <= 1e-6);
    const bad = Int32Array.from(b.experts, () => 7);
    await assert.rejects(client.compute(1, b.hidden, b.tokenCount, b.rows, bad, b.weights), (e: unknown) => {
      assert.ok(e instanceof WorkerRejectedError, String(e));
      assert.equal(e.grpcCode, grpc.status.INVALID_ARGUMENT);
      assert.equal(e.retryable, false);
      assert.match(e.message, /layer 1 expert 7 is not held by this worker/);
      return true;
    });
  });

  it('expert service - each malformed message gets INVALID_ARGUMENT naming the field, and the same stream keeps serving', async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const stream = new RawStream(raw, handshake({}, checkpoint.fingerprint));
      const good = batch(0, 6, H, 31);
      const want = await expected(good);
      const T = good.tokenCount;
      const cases: [string, (r: ExpertRequestMessage) => void, RegExp][] = [
        ['wrong layer', (r) => (r.layer = 4), /^layer: 4 is outside \[0, 4\)/],
        ['hidden of the wrong width', (r) => (r.hidden = encodeTensor(new Float32Array(T * (H + 1)), [T, H + 1])), /^hidden\.shape: \[6, 65\], expected \[T, 64\]/],
        ['hidden of rank 3', (r) => (r.hidden = encodeTensor(good.hidden, [T, H, 1])), /^hidden\.shape/],
        ['hidden with no rows', (r) => (r.hidden = encodeTensor(new Float32Array(0), [0, H])), /^hidden\.shape: T = 0/],
        ['hidden byte length mismatch', (r) => (r.hidden = { dtype: DType.FLOAT32, shape: [T, H], data: float32Bytes(good.hidden).subarray(0, (T - 1) * H * 4) }), /^hidden\.data: 1280 bytes/],
        ['hidden of unknown dtype', (r) => (r.hidden = { ...r.hidden!, dtype: 7 }), /^hidden\.dtype: dtype 7/],
        ['hidden missing', (r) => (r.hidden = null), /^hidden: missing/],
        ['hidden holding NaN', (r) => (r.hidden = encodeTensor(Float32Array.from(good.hidden, (v, i) => (i === H + 3 ? NaN : v)), [T, H])), /^hidden\.data: value at \[1, 3\] is NaN/],
        ['reply dtype unknown', (r) => (r.replyDtype = 9), /^reply_dtype/],
        ['expert not held', (r) => (r.layer = 1), /^experts\[\d+\]: layer 1 expert \d is not held by this worker/],
        ['expert out of range', (r) => (r.experts = int32Bytes(Int32Array.from(good.experts, (e, i) => (i === 2 ? 8 : e)))), /^experts\[2\]: expert 8 is outside \[0, 8\)/],
        ['row out of range', (r) => (r.rows = int32Bytes(Int32Array.from(good.rows, (x, i) => (i === 0 ? T : x)))), /^rows\[0\]: row 6 is outside \[0, 6\)/],
        ['negative row', (r) => (r.rows = int32Bytes(Int32Array.from(good.rows, (x, i) => (i === 3 ? -1 : x)))), /^rows\[3\]: row -1/],
        ['NaN weight', (r) => (r.weights = float32Bytes(Float32Array.from(good.weights, (w, i) => (i === 1 ? NaN : w)))), /^weights\[1\]: NaN is not finite/],
        ['infinite weight', (r) => (r.weights = float32Bytes(Float32Array.from(good.weights, (w, i) => (i === 5 ? Infinity : w)))), /^weights\[5\]: Infinity/],
        ['truncated rows bytes', (r) => (r.rows = int32Bytes(good.rows).subarray(0, good.rows.length * 4 - 1)), /^rows: 95 bytes is not a whole number of int32 values/],
        ['experts shorter than rows', (r) => (r.experts = int32Bytes(good.experts.subarray(1))), /^experts: 23 entries, but rows has 24/],
        ['weights shorter than rows', (r) => (r.weights = float32Bytes(good.weights.subarray(2))), /^weights: 22 entries, but rows has 24/],
        ['a row assigned one expert twice', (r) => (r.experts = int32Bytes(Int32Array.from(good.experts, (e, i) => (i === 1 ? good.experts[0]! : e)))), /^experts\[1\]: row 0 is assigned expert \d twice/],
        [
          'more assignments than rows x k',
          (r) => {
            r.rows = int32Bytes(new Int32Array(T * 4 + 1));
            r.experts = int32Bytes(new Int32Array(T * 4 + 1));
            r.weights = float32Bytes(new Float32Array(T * 4 + 1));
          },
          /^rows: 25 assignments for 6 rows exceeds 4 per row/,
        ],
        [
          'a row with more than k experts',
          (r) => {
            r.rows = int32Bytes(new Int32Array(5));
            r.experts = int32Bytes(Int32Array.of(0, 1, 2, 3, 4));
            r.weights = float32Bytes(new Float32Array(5).fill(0.2));
          },
          /^rows\[4\]: row 0 has more than 4 assignments/,
        ],
      ];
      let id = 1000;
      for (const [name, mutate, message] of cases) {
        const bad = toRequest(good, ++id);
        mutate(bad);
        const reply = await stream.exchange(bad);
        assert.equal(reply.requestId, id, `${name}: request id`);
        assert.equal(reply.statusCode, grpc.status.INVALID_ARGUMENT, `${name}: status ${reply.statusCode} (${reply.error})`);
        assert.match(reply.error, message, `${name}: message`);
        assert.equal(reply.output, null, `${name}: no output`);
        const ok = await stream.exchange(toRequest(good, ++id));
        assert.equal(ok.statusCode, grpc.status.OK, `after ${name}: ${ok.error}`);
        assert.equal(ok.requestId, id);
        assert.ok(maxAbsDiff(decodeTensor(ok.output, 'output').values, want) <= 1e-6, `after ${name}: result differs`);
      }
      stream.call.end();
    } finally {
      raw.close();
    }
  });

  it('expert client - a rejected dispatch is WorkerRejectedError (not retryable) and the stream keeps serving', async () => {
    const b = batch(1, 3, H, 41);
    await assert.rejects(send(client, { ...b, rows: Int32Array.from(b.rows, () => 3) }), (e: unknown) => {
      assert.ok(e instanceof WorkerRejectedError && e instanceof WorkerDispatchError, String(e));
      assert.equal(e.retryable, false);
      assert.equal(e.grpcCode, grpc.status.INVALID_ARGUMENT);
      assert.match(e.message, /rows\[0\]: row 3 is outside \[0, 3\)/);
      return true;
    });
    assert.ok(maxAbsDiff(await send(client, b), await expected(b)) <= 1e-6);
  });

  it('expert service - a wrong fingerprint is refused with FAILED_PRECONDITION before any work', async () => {
    const wrong = new ExpertClient({ address, fingerprint: '0000000000000000', clusterToken: TOKEN });
    try {
      const b = batch(0, 2, H, 51);
      await assert.rejects(send(wrong, b), (e: unknown) => {
        assert.ok(e instanceof WorkerHandshakeError, String(e));
        assert.equal(e.grpcCode, grpc.status.FAILED_PRECONDITION);
        assert.equal(e.retryable, false);
        assert.match(e.message, /x-gptoss-fingerprint: worker serves model [0-9a-f]{16}, caller sent "0000000000000000"/);
        return true;
      });
      await assert.rejects(wrong.info(), (e: unknown) => e instanceof WorkerHandshakeError && e.grpcCode === grpc.status.FAILED_PRECONDITION);
      await assert.rejects(wrong.echo(new Uint8Array(3)), (e: unknown) => e instanceof WorkerHandshakeError && e.grpcCode === grpc.status.FAILED_PRECONDITION);
    } finally {
      await wrong.close();
    }
  });

  it('expert service - a wrong protocol version is refused with FAILED_PRECONDITION', async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const m = expertServiceDefinition().Info;
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, handshake({ protocol: '2' }, checkpoint.fingerprint), (e) => resolve(e)),
      );
      assert.equal(err?.code, grpc.status.FAILED_PRECONDITION);
      assert.match(err!.details, /x-gptoss-protocol: worker speaks protocol 1, caller sent "2"/);
    } finally {
      raw.close();
    }
  });

  it('expert service - a wrong or missing cluster token is refused with UNAUTHENTICATED', async () => {
    for (const clusterToken of ['not-the-token', undefined]) {
      const wrong = new ExpertClient({ address, fingerprint: checkpoint.fingerprint, clusterToken });
      try {
        await assert.rejects(send(wrong, batch(0, 2, H, 61)), (e: unknown) => {
          assert.ok(e instanceof WorkerHandshakeError, String(e));
          assert.equal(e.grpcCode, grpc.status.UNAUTHENTICATED);
          assert.match(e.message, clusterToken ? /wrong cluster token/ : /missing "authorization: Bearer <cluster token>"/);
          return true;
        });
      } finally {
        await wrong.close();
      }
    }
  });

  it('expert service - Info reports identity, sizes and the held experts', async () => {
    const info = await client.info();
    assert.equal(info.workerId, 'w-test');
    assert.equal(info.modelFingerprint, checkpoint.fingerprint);
    assert.equal(info.protocolVersion, PROTOCOL_VERSION);
    assert.deepEqual([info.numLayers, info.numExperts, info.hiddenSize, info.capacity], [4, 8, 64, 32]);
    assert.equal(info.draining, false);
    const want = Object.entries(HELD).flatMap(([l, es]) => es.map((e) => ({ layer: Number(l), expert: e })));
    assert.deepEqual(info.held, want);
  });

  it('expert service - Echo returns the same bytes, concurrently, on one stream', async () => {
    const r = rng(71);
    const payloads = [0, 1, 17, 4096, 1 << 20].map((n) => Uint8Array.from({ length: n }, () => Math.floor((r() + 1) * 128)));
    const back = await Promise.all(payloads.map((p) => client.echo(p)));
    back.forEach((b, i) => assert.deepEqual(Buffer.from(b), Buffer.from(payloads[i]!), `payload ${i}`));
  });

  it('expert client - a dispatch past its deadline rejects retryable, and the stream keeps serving', async () => {
    const stalled = gatedCompute(checkpoint.config);
    const s = await startExpertServer({ listen: '127.0.0.1:0', pool: stalled, fingerprint: checkpoint.fingerprint, workerId: 'w-stalled' });
    const c = new ExpertClient({ address: `127.0.0.1:${s.port}`, fingerprint: checkpoint.fingerprint });
    try {
      const started = Date.now();
      await assert.rejects(send(c, batch(0, 2, H, 81), 'fp32', 200), (e: unknown) => {
        assert.ok(e instanceof WorkerDispatchError && !(e instanceof WorkerRejectedError), String(e));
        assert.equal(e.retryable, true);
        assert.match(e.message, /deadline/);
        return true;
      });
      assert.ok(Date.now() - started < 2_000, 'rejected near its deadline');
      stalled.release();
      const out = await send(c, batch(0, 2, H, 82));
      assert.equal(out.length, 2 * H);
    } finally {
      await c.close();
      await s.close();
    }
  });

  it('expert service - drain refuses new work with UNAVAILABLE and resolves when the work in flight is answered', async () => {
    const gated = gatedCompute(checkpoint.config);
    const s = await startExpertServer({ listen: '127.0.0.1:0', pool: gated, fingerprint: checkpoint.fingerprint, workerId: 'w-drain' });
    const c = new ExpertClient({ address: `127.0.0.1:${s.port}`, fingerprint: checkpoint.fingerprint });
    try {
      const inFlight = send(c, batch(0, 3, H, 91));
      while (gated.started === 0) await new Promise((r) => setTimeout(r, 5));
      let drained = false;
      const drain = s.drain().then(() => (drained = true));
      await assert.rejects(send(c, batch(0, 1, H, 92)), (e: unknown) => {
        assert.ok(e instanceof WorkerDispatchError && e.retryable, String(e));
        assert.match(e.message, /UNAVAILABLE: draining/);
        return true;
      });
      assert.equal((await c.info()).draining, true);
      assert.equal(drained, false, 'drain waits for the request in flight');
      gated.release();
      assert.equal((await inFlight).length, 3 * H);
      await drain;
    } finally {
      await c.close();
      await s.close();
    }
  });

  it('expert pool - a dropped expert is no longer served, and loading it again brings it back', async () => {
    const b = batch(3, 4, H, 95, 1);
    await pool.drop(3, 2);
    assert.equal(pool.has(3, 2), false);
    await assert.rejects(send(client, b), (e: unknown) => e instanceof WorkerRejectedError && /layer 3 expert 2 is not held by this worker/.test(e.message));
    await pool.load(3, 2);
    assert.deepEqual(pool.loadsPerThread().reduce((x, y) => x + y), 14);
    assert.ok(maxAbsDiff(await send(client, b), await expected(b)) <= 1e-6);
  });

  describe('expert service in a child process', () => {
    const children: ChildProcess[] = [];
    const scratch = mkdtempSync(path.join(tmpdir(), 'gptoss-expert-service-'));
    after(() => {
      children.forEach((ch) => ch.kill('SIGKILL'));
      rmSync(scratch, { recursive: true, force: true });
    });

    /** Starts a worker process: 'stall' never answers a dispatch, 'serve' holds layer 0. */
    function startWorker(mode: 'stall' | 'serve', port = 0): Promise<{ child: ChildProcess; port: number }> {
      const mod = (rel: string): string => new URL(rel, import.meta.url).href;
      const script = `
        import { startExpertServer } from ${JSON.stringify(mod('../../worker/expert-service.js'))};
        import { ExpertPool } from ${JSON.stringify(mod('../../common/experts/expert-pool.js'))};
        const pool = await ExpertPool.create({ checkpointDir: ${JSON.stringify(MODEL)}, threads: 1 });
        for (let e = 0; e < 8; e++) await pool.load(0, e);
        const compute = ${JSON.stringify(mode)} === 'stall'
          ? { config: pool.config, has: () => true, held: () => [], weightedSum: () => new Promise(() => {}) }
          : pool;
        const s = await startExpertServer({ listen: '127.0.0.1:${port}', pool: compute, fingerprint: pool.fingerprint, workerId: 'w-child' });
        console.log('listening ' + s.port);
      `;
      // A file rather than -e: --input-type would be inherited by the pool's worker threads.
      const file = path.join(scratch, `worker-${children.length}.mjs`);
      writeFileSync(file, script);
      const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      return new Promise((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening (\d+)/.exec(out);
          if (m) resolve({ child, port: Number(m[1]) });
        });
        child.on('exit', (code) => reject(new Error(`worker process exited (${code}) before listening`)));
      });
    }

    it('expert client - killing the worker process rejects every pending dispatch at once, retryable; the next dispatch reopens the stream', async () => {
      const first = await startWorker('stall');
      const c = new ExpertClient({ address: `127.0.0.1:${first.port}`, fingerprint: checkpoint.fingerprint });
      try {
        const pending = [1, 2, 3].map((i) => send(c, batch(0, i, H, 200 + i)).then(() => null, (e: unknown) => e));
        await new Promise((r) => setTimeout(r, 300)); // the requests are on the wire and being "computed"
        const killedAt = Date.now();
        first.child.kill('SIGKILL');
        const errors = await Promise.all(pending);
        const took = Date.now() - killedAt;
        assert.ok(took < 3_000, `pending dispatches took ${took} ms to reject`);
        for (const e of errors) {
          assert.ok(e instanceof WorkerDispatchError, String(e));
          assert.equal(e.retryable, true);
        }

        await startWorker('serve', first.port);
        const b = batch(0, 4, H, 210);
        const want = await expected(b);
        const deadline = Date.now() + 15_000;
        for (;;) {
          try {
            assert.ok(maxAbsDiff(await send(c, b), want) <= 1e-6);
            break;
          } catch (e) {
            // While the channel reconnects a dispatch may fail fast; it must say it can be retried.
            assert.ok(e instanceof WorkerDispatchError && e.retryable, String(e));
            if (Date.now() > deadline) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      } finally {
        await c.close();
      }
    });
  });
});
