// Fuzzing the expert data plane: a real gRPC expert server over an ExpertPool on the golden
// checkpoint gets 1,200 malformed requests from a seeded generator on the Dispatch stream and
// through unary Compute (wrong shapes, dtypes, byte lengths, unknown layers/experts, truncated
// buffers, huge declared shapes, non-finite values), plus raw garbage frames through a
// pass-through serializer that reach protobuf decoding. Every well-formed-but-wrong message gets
// INVALID_ARGUMENT, every undecodable frame a gRPC error status; the server stays up and valid
// dispatches, sent concurrently and afterwards, return exactly the reference result.
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { ExpertSet } from '../../common/experts/expert-set.js';
import { DEFAULT_EXPERT_RUNTIME } from '../../common/experts/expert-precision.js';
import { DType, METADATA_FINGERPRINT, METADATA_PROTOCOL, PROTOCOL_VERSION, expertServiceDefinition, type ExpertReplyMessage, type ExpertRequestMessage } from '../../common/wire/expert-proto.js';
import { encodeTensor, float32Bytes, int32Bytes } from '../../common/wire/tensor-codec.js';
import { ExpertClient } from '../../coordinator/experts/expert-client.js';
import { ExpertPool } from '../../common/experts/expert-pool.js';
import { startExpertServer, type ExpertServer } from '../../worker/expert-service.js';
import { GOLDEN_ROOT } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/golden.js';

const MODEL = path.join(GOLDEN_ROOT, 'visible-v4k', 'hf');
const TOKEN = 'fuzz-cluster-token';
const SEED = 0xf022;
const DISPATCH_CASES = 700;
const COMPUTE_CASES = 400;
const GARBAGE_CASES = 120;
const HELD = [0, 1, 2, 3];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('fuzz - expert gRPC service (1,220 malformed requests, golden visible-v4k)', function () {
  let checkpoint: Checkpoint;
  let reference: ExpertSet;
  let pool: ExpertPool;
  let server: ExpertServer;
  let address: string;
  let client: ExpertClient;
  let H: number;
  let L: number;
  let E: number;

  before(async () => {
    checkpoint = await Checkpoint.open(MODEL);
    H = checkpoint.config.hiddenSize;
    L = checkpoint.config.numLayers;
    E = checkpoint.config.numExperts;
    reference = new ExpertSet(checkpoint.config, checkpoint, DEFAULT_EXPERT_RUNTIME);
    pool = await ExpertPool.create({ checkpointDir: MODEL, threads: 2 });
    for (const e of HELD) {
      await pool.load(0, e);
      await reference.load(0, e);
    }
    server = await startExpertServer({ listen: '127.0.0.1:0', pool, fingerprint: pool.fingerprint, workerId: 'w-fuzz', clusterToken: TOKEN });
    address = `127.0.0.1:${server.port}`;
    client = new ExpertClient({ address, fingerprint: checkpoint.fingerprint, clusterToken: TOKEN, workerId: 'w-fuzz' });
  });
  after(async () => {
    await client?.close();
    await server?.close();
    await pool?.close();
    await reference?.close();
  });

  const metadata = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set(METADATA_PROTOCOL, String(PROTOCOL_VERSION));
    md.set(METADATA_FINGERPRINT, checkpoint.fingerprint);
    md.set('authorization', `Bearer ${TOKEN}`);
    return md;
  };

  /** A valid batch of T rows over the held experts of layer 0. */
  function valid(r: () => number, T: number) {
    const hidden = Float32Array.from({ length: T * H }, () => r() * 2 - 1);
    const rows: number[] = [];
    const experts: number[] = [];
    const weights: number[] = [];
    for (let t = 0; t < T; t++) {
      for (const e of [HELD[t % 4]!, HELD[(t + 1) % 4]!]) {
        rows.push(t);
        experts.push(e);
        weights.push(0.5);
      }
    }
    return { T, hidden, rows: Int32Array.from(rows), experts: Int32Array.from(experts), weights: Float32Array.from(weights) };
  }
  const toMessage = (b: ReturnType<typeof valid>, requestId: number): ExpertRequestMessage => ({
    requestId,
    layer: 0,
    hidden: encodeTensor(b.hidden, [b.T, H]),
    rows: int32Bytes(b.rows),
    experts: int32Bytes(b.experts),
    weights: float32Bytes(b.weights),
    replyDtype: DType.FLOAT32,
  });

  /** One malformed request: a valid one with 1-2 mutations, each certainly invalid. */
  function malformed(r: () => number, requestId: number): { label: string; msg: ExpertRequestMessage } {
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const T = 1 + Math.floor(r() * 6);
    const m = toMessage(valid(r, T), requestId);
    const data = m.hidden!.data;
    const mutations: [string, () => void][] = [
      ['layer out of range', () => (m.layer = pick([L, L + 1, 99, 2 ** 31 - 1, 4096]))],
      ['layer not held', () => (m.layer = 1 + Math.floor(r() * (L - 1)))],
      ['hidden missing', () => (m.hidden = null)],
      ['hidden dtype unknown', () => (m.hidden!.dtype = pick([0, 3, 7, 255, 2 ** 20]))],
      ['hidden fp16 with fp32 bytes', () => (m.hidden!.dtype = DType.FLOAT16)],
      ['hidden rank', () => (m.hidden!.shape = pick([[], [T], [T, H, 1], [1, T, H], [T * H]]))],
      ['hidden width', () => (m.hidden!.shape = [T, pick([H - 1, H + 1, 2 * H, 1, 0])])],
      ['hidden T zero', () => (m.hidden!.shape = [0, H])],
      ['hidden huge declared shape', () => (m.hidden!.shape = [pick([2 ** 31 - 1, 2 ** 20, 8193, 1e9]), H])],
      ['hidden huge declared both', () => (m.hidden!.shape = [2 ** 30, 2 ** 30])],
      ['hidden truncated', () => (m.hidden!.data = data.subarray(0, Math.floor(r() * data.length)))],
      ['hidden one byte short', () => (m.hidden!.data = data.subarray(0, data.length - 1))],
      ['hidden extra bytes', () => (m.hidden!.data = new Uint8Array([...data, 0, 0, 0, 0]))],
      ['hidden NaN', () => new DataView(m.hidden!.data.buffer, m.hidden!.data.byteOffset).setFloat32(4 * Math.floor(r() * T * H), pick([NaN, Infinity, -Infinity]), true)],
      ['rows truncated', () => (m.rows = m.rows.subarray(0, Math.max(0, m.rows.length - 1 - Math.floor(r() * 3))))],
      ['rows missing', () => (m.rows = new Uint8Array(0))],
      ['rows out of range', () => new DataView(m.rows.buffer, m.rows.byteOffset).setInt32(0, pick([T, -1, 2 ** 31 - 1, -(2 ** 31)]), true)],
      ['experts out of range', () => new DataView(m.experts.buffer, m.experts.byteOffset).setInt32(0, pick([E, -1, 999, 2 ** 31 - 1]), true)],
      ['experts not held', () => new DataView(m.experts.buffer, m.experts.byteOffset).setInt32(0, 4 + Math.floor(r() * (E - 4)), true)],
      ['experts duplicated', () => new DataView(m.experts.buffer, m.experts.byteOffset).setInt32(4, new DataView(m.experts.buffer, m.experts.byteOffset).getInt32(0, true), true)],
      ['experts misaligned', () => (m.experts = new Uint8Array([...m.experts, 1]))],
      ['weights short', () => (m.weights = m.weights.subarray(0, m.weights.length - 4))],
      ['weights non-finite', () => new DataView(m.weights.buffer, m.weights.byteOffset).setFloat32(0, pick([NaN, Infinity, -Infinity]), true)],
      ['too many per row', () => {
        const k = checkpoint.config.expertsPerToken + 1;
        m.rows = int32Bytes(new Int32Array(k).fill(0));
        m.experts = int32Bytes(Int32Array.from({ length: k }, (_, i) => i % 4));
        m.weights = float32Bytes(new Float32Array(k).fill(0.1));
      }],
      ['reply dtype unknown', () => (m.replyDtype = pick([3, 9, 1000]))],
    ];
    const labels: string[] = [];
    for (let j = 0, n = 1 + Math.floor(r() * 2); j < n; j++) {
      const [label, apply] = pick(mutations);
      if (label.startsWith('hidden') && !m.hidden) continue; // already removed
      // Copy the byte fields first, so a mutation never writes into another message's buffer.
      m.rows = new Uint8Array(m.rows);
      m.experts = new Uint8Array(m.experts);
      m.weights = new Uint8Array(m.weights);
      if (m.hidden) m.hidden = { ...m.hidden, shape: [...m.hidden.shape], data: new Uint8Array(m.hidden.data) };
      apply();
      labels.push(label);
    }
    return { label: labels.join(' + '), msg: m };
  }

  /** Valid dispatches checked against ExpertSet; runs until `stop()` says so. */
  async function validLoop(stop: () => boolean, seed: number): Promise<number> {
    const r = rng(seed);
    let n = 0;
    do {
      const b = valid(r, 1 + Math.floor(r() * 8));
      const [got, want] = await Promise.all([
        client.dispatch(0, b.hidden, b.T, b.rows, b.experts, b.weights),
        reference.weightedSum(0, b.hidden, b.T, { tokens: b.rows, experts: b.experts, weights: b.weights }),
      ]);
      assert.ok(maxAbsDiff(got, want) <= 1e-6, `valid dispatch ${n} differs by ${maxAbsDiff(got, want)}`);
      n++;
    } while (!stop());
    return n;
  }

  it('fuzz grpc - malformed Dispatch and Compute messages each get INVALID_ARGUMENT; valid dispatches alongside stay exact', async function () {
    this.timeout(300_000);
    const r = rng(SEED);
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    const def = expertServiceDefinition();
    const failures: string[] = [];
    let done = false;
    const alongside = validLoop(() => done, 7);
    try {
      // Dispatch: all malformed messages on one stream, answered by request id.
      const cases = Array.from({ length: DISPATCH_CASES }, (_, i) => malformed(r, i + 1));
      const replies = new Map<number, ExpertReplyMessage>();
      const stream = raw.makeBidiStreamRequest(def.Dispatch.path, def.Dispatch.requestSerialize, def.Dispatch.responseDeserialize, metadata(), { deadline: Date.now() + 120_000 });
      const ended = new Promise<void>((resolve, reject) => {
        stream.on('data', (rep: ExpertReplyMessage) => replies.set(rep.requestId, rep));
        stream.on('error', reject);
        stream.on('end', () => resolve());
      });
      for (const c of cases) stream.write(c.msg);
      stream.end();
      await ended;
      for (const [i, c] of cases.entries()) {
        const rep = replies.get(i + 1);
        if (!rep) failures.push(`dispatch #${i} ${c.label}: no reply`);
        else if (rep.statusCode !== grpc.status.INVALID_ARGUMENT) failures.push(`dispatch #${i} ${c.label}: status ${rep.statusCode} ${rep.error}`);
        else if (!rep.error) failures.push(`dispatch #${i} ${c.label}: INVALID_ARGUMENT without a message`);
      }
      // Compute: unary, 8 at a time.
      const unary = Array.from({ length: COMPUTE_CASES }, (_, i) => malformed(r, 10_000 + i));
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < unary.length) {
            const i = next++;
            const c = unary[i]!;
            const code = await new Promise<number>((resolve) =>
              raw.makeUnaryRequest(def.Compute.path, def.Compute.requestSerialize, def.Compute.responseDeserialize, c.msg, metadata(), { deadline: Date.now() + 30_000 }, (err) =>
                resolve(err ? err.code : grpc.status.OK),
              ),
            );
            if (code !== grpc.status.INVALID_ARGUMENT) failures.push(`compute #${i} ${c.label}: status ${code}`);
          }
        }),
      );
    } finally {
      done = true;
      raw.close();
    }
    const rounds = await alongside;
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} malformed requests misbehaved`);
    assert.ok(rounds >= 1);
    console.log(`      ${DISPATCH_CASES} dispatch + ${COMPUTE_CASES} compute malformed requests; ${rounds} exact valid dispatches alongside`);
  });

  it('fuzz grpc - raw garbage frames get a gRPC error status (protobuf decoding), and the server keeps serving exactly', async function () {
    this.timeout(300_000);
    const r = rng(SEED + 1);
    const pass = (b: Buffer): Buffer => b;
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    const def = expertServiceDefinition();
    const valid0 = Buffer.from(def.Compute.requestSerialize(toMessage(valid(r, 2), 1)));
    const garbage = (): Buffer => {
      switch (Math.floor(r() * 5)) {
        case 0:
          return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 4096) }, () => Math.floor(r() * 256)));
        case 1:
          return valid0.subarray(0, 1 + Math.floor(r() * (valid0.length - 2))); // truncated protobuf
        case 2: {
          const b = Buffer.from(valid0);
          for (let k = 0; k < 8; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
          return b;
        }
        case 3:
          return Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]); // field 2, length 4 GiB, no bytes
        default:
          return Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]); // an over-long varint
      }
    };
    const codes = new Map<number, number>();
    let done = false;
    const alongside = validLoop(() => done, 11);
    try {
      for (let i = 0; i < GARBAGE_CASES; i++) {
        const frame = garbage();
        const code = await new Promise<number>((resolve) => {
          if (i % 2 === 0) {
            raw.makeUnaryRequest(def.Compute.path, pass, pass, frame, metadata(), { deadline: Date.now() + 30_000 }, (err, reply) => {
              if (!err) {
                // a mutated frame may still decode into a valid-looking request: then its answer must be an ExpertReply
                assert.doesNotThrow(() => def.Compute.responseDeserialize(reply!));
              }
              resolve(err ? err.code : grpc.status.OK);
            });
          } else {
            const s = raw.makeBidiStreamRequest(def.Dispatch.path, pass, pass, metadata(), { deadline: Date.now() + 30_000 });
            let got: number | null = null;
            s.on('data', (b: Buffer) => {
              const rep = def.Dispatch.responseDeserialize(b) as ExpertReplyMessage;
              got ??= rep.statusCode;
            });
            s.on('error', (err: grpc.ServiceError) => resolve(got ?? err.code));
            s.on('end', () => resolve(got ?? grpc.status.OK));
            s.write(frame);
            s.end();
          }
        });
        codes.set(code, (codes.get(code) ?? 0) + 1);
        assert.notEqual(code, grpc.status.DEADLINE_EXCEEDED, `garbage frame ${i} hung`);
      }
    } finally {
      done = true;
      raw.close();
    }
    await alongside;
    // Undecodable frames are errors; OK is only possible for a mutated frame that still decodes.
    assert.ok((codes.get(grpc.status.OK) ?? 0) < GARBAGE_CASES / 4, `codes ${JSON.stringify([...codes])}`);
    console.log(`      ${GARBAGE_CASES} garbage frames: statuses ${[...codes].map(([c, n]) => `${grpc.status[c]}x${n}`).join(' ')}`);
    // the server is up and exact afterwards
    const b = valid(rng(99), 5);
    const got = await client.dispatch(0, b.hidden, b.T, b.rows, b.experts, b.weights);
    assert.ok(maxAbsDiff(got, await reference.weightedSum(0, b.hidden, b.T, { tokens: b.rows, experts: b.experts, weights: b.weights })) <= 1e-6);
    assert.equal((await client.info()).workerId, 'w-fuzz');
  });
});
