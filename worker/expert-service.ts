// The worker's side of proto/expert.proto over an ExpertPool. Like llama.cpp's RPC server it
// trusts nothing: the handshake is checked before any work, every field of every request is
// validated (an error names the field), a bad message is answered and the stream keeps serving,
// and no handler throws or lets a failure escape into the process.
import { createHash, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { ModelConfig } from '../common/model/model-config.js';
import type { ExpertAssignments } from '../common/experts/expert-set.js';
import { ConfigError, ExpertUnavailableError, WireFormatError } from '../common/errors.js';
import {
  DType,
  MAX_MESSAGE_BYTES,
  METADATA_AUTHORIZATION,
  METADATA_FINGERPRINT,
  METADATA_PROTOCOL,
  PROTOCOL_VERSION,
  expertServiceDefinition,
  type EchoMessage,
  type ExpertReplyMessage,
  type ExpertRequestMessage,
  type InfoRequestMessage,
  type WorkerInfoMessage,
} from '../common/wire/expert-proto.js';
import { decodeFloat32, decodeInt32, decodeTensor, dtypeSize, encodeTensor, type WireDtype } from '../common/wire/tensor-codec.js';
import { FairScheduler } from './fair-scheduler.js';

/** What the service needs of the experts it serves (ExpertPool is the implementation). */
export interface ExpertCompute {
  readonly config: ModelConfig;
  has(layer: number, expert: number): boolean;
  held(): { layer: number; expert: number }[];
  weightedSum(layer: number, hidden: Float32Array, tokenCount: number, a: ExpertAssignments): Promise<Float32Array>;
}

export interface ExpertServerOptions {
  /** 'host:port'; port 0 picks a free one (see the returned `port`). */
  readonly listen: string;
  readonly pool: ExpertCompute;
  /** The checkpoint fingerprint callers must present. */
  readonly fingerprint: string;
  readonly workerId: string;
  /** When set, every call must carry `authorization: Bearer <clusterToken>`. */
  readonly clusterToken?: string;
  /** Default: insecure (plaintext) — pass ServerCredentials.createSsl(...) for TLS. */
  readonly credentials?: grpc.ServerCredentials;
  /** Largest T (token rows) one request may carry. Default 8192. */
  readonly maxTokens?: number;
  /** Experts this worker may be asked to hold, reported by Info. Default num_layers x num_experts. */
  readonly capacity?: number;
  /**
   * Fair sharing between callers: requests of more token rows than this are computed in chunks of
   * this many rows, each chunk queued on the caller's own turn. Default 64; 0 turns chunking off.
   */
  readonly chunkRows?: number;
  /** Chunks computed at once over all callers (FairScheduler). Default 2. */
  readonly maxInFlight?: number;
  /** Sees every valid request's layer and per-pair experts before compute (the load counter). */
  readonly onAssignments?: (layer: number, experts: Int32Array) => void;
}

export interface ExpertServer {
  readonly port: number;
  readonly server: grpc.Server;
  /** Refuses new work (UNAVAILABLE "draining") and resolves when the work in flight is answered. */
  drain(): Promise<void>;
  /** Stops serving (idempotent): gives calls a moment to finish, then cuts them. The pool stays open. */
  close(): Promise<void>;
}

const DEFAULT_MAX_TOKENS = 8192;
const DEFAULT_CHUNK_ROWS = 64;
const CLOSE_GRACE_MS = 2_000;
const Status = grpc.status;

interface ValidRequest {
  readonly layer: number;
  readonly tokenCount: number;
  readonly hidden: Float32Array;
  readonly assignments: ExpertAssignments;
  readonly replyDtype: WireDtype;
}

class ExpertService {
  private inFlight = 0;
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  private readonly tokenDigest: Buffer | null;
  private readonly fair: FairScheduler;
  private readonly chunkRows: number;

  constructor(private readonly o: ExpertServerOptions) {
    this.tokenDigest = o.clusterToken === undefined ? null : sha256(o.clusterToken);
    this.fair = new FairScheduler(o.maxInFlight === undefined ? {} : { maxInFlight: o.maxInFlight });
    this.chunkRows = o.chunkRows ?? DEFAULT_CHUNK_ROWS;
    if (!Number.isSafeInteger(this.chunkRows) || this.chunkRows < 0) throw new ConfigError(`chunkRows must be an integer >= 0, got ${this.chunkRows}`, 'chunkRows');
  }

  readonly handlers: grpc.UntypedServiceImplementation = {
    Dispatch: (call: grpc.ServerDuplexStream<ExpertRequestMessage, ExpertReplyMessage>) => this.dispatch(call),
    Compute: (call: grpc.ServerUnaryCall<ExpertRequestMessage, ExpertReplyMessage>, cb: grpc.sendUnaryData<ExpertReplyMessage>) => this.compute(call, cb),
    Info: (call: grpc.ServerUnaryCall<InfoRequestMessage, WorkerInfoMessage>, cb: grpc.sendUnaryData<WorkerInfoMessage>) => this.info(call, cb),
    Echo: (call: grpc.ServerDuplexStream<EchoMessage, EchoMessage>) => this.echo(call),
  };

  drain(): Promise<void> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private dispatch(call: grpc.ServerDuplexStream<ExpertRequestMessage, ExpertReplyMessage>): void {
    call.on('error', () => undefined); // the caller went away; there is no one left to tell
    const refusal = this.handshake(call.metadata);
    if (refusal) return void call.emit('error', refusal);
    let open = 0;
    let ended = false;
    const finish = (): void => {
      if (ended && open === 0 && !call.cancelled) call.end();
    };
    call.on('data', (req: ExpertRequestMessage) => {
      open++;
      void this.answer(req, call).then((reply) => {
        open--;
        guarded(() => {
          if (!call.cancelled && call.writable) call.write(reply);
          finish();
        });
      });
    });
    call.on('end', () => {
      ended = true;
      guarded(finish);
    });
  }

  private compute(call: grpc.ServerUnaryCall<ExpertRequestMessage, ExpertReplyMessage>, cb: grpc.sendUnaryData<ExpertReplyMessage>): void {
    const refusal = this.handshake(call.metadata);
    if (refusal) return cb(refusal);
    void this.answer(call.request, call).then((reply) =>
      guarded(() => (reply.statusCode === Status.OK ? cb(null, reply) : cb({ code: reply.statusCode, details: reply.error }))),
    );
  }

  private info(call: grpc.ServerUnaryCall<InfoRequestMessage, WorkerInfoMessage>, cb: grpc.sendUnaryData<WorkerInfoMessage>): void {
    const refusal = this.handshake(call.metadata);
    if (refusal) return cb(refusal);
    try {
      const c = this.o.pool.config;
      cb(null, {
        workerId: this.o.workerId,
        modelFingerprint: this.o.fingerprint,
        protocolVersion: PROTOCOL_VERSION,
        held: this.o.pool.held().map((h) => h.layer * c.numExperts + h.expert),
        numLayers: c.numLayers,
        numExperts: c.numExperts,
        hiddenSize: c.hiddenSize,
        capacity: this.o.capacity ?? c.numLayers * c.numExperts,
        draining: this.draining,
      });
    } catch (err) {
      cb({ code: Status.INTERNAL, details: `info: ${(err as Error).message}` });
    }
  }

  private echo(call: grpc.ServerDuplexStream<EchoMessage, EchoMessage>): void {
    call.on('error', () => undefined);
    const refusal = this.handshake(call.metadata);
    if (refusal) return void call.emit('error', refusal);
    call.on('data', (m: EchoMessage) =>
      guarded(() => {
        if (!call.cancelled && call.writable) call.write({ requestId: m.requestId, payload: m.payload });
      }),
    );
    call.on('end', () =>
      guarded(() => {
        if (!call.cancelled) call.end();
      }),
    );
  }

  /** A refusal status, or null when the caller may proceed. The token is checked first so that an
   *  unauthenticated caller learns nothing about the model. */
  private handshake(md: grpc.Metadata): grpc.StatusObject | null {
    const refuse = (code: grpc.status, details: string): grpc.StatusObject => ({ code, details, metadata: new grpc.Metadata() });
    if (this.tokenDigest) {
      const auth = String(md.get(METADATA_AUTHORIZATION)[0] ?? '');
      const m = /^Bearer (.+)$/.exec(auth);
      if (!m) return refuse(Status.UNAUTHENTICATED, 'missing "authorization: Bearer <cluster token>"');
      if (!timingSafeEqual(sha256(m[1]!), this.tokenDigest)) return refuse(Status.UNAUTHENTICATED, 'wrong cluster token');
    }
    const version = String(md.get(METADATA_PROTOCOL)[0] ?? '');
    if (version !== String(PROTOCOL_VERSION)) {
      return refuse(Status.FAILED_PRECONDITION, `${METADATA_PROTOCOL}: worker speaks protocol ${PROTOCOL_VERSION}, caller sent ${JSON.stringify(version)}`);
    }
    const fingerprint = String(md.get(METADATA_FINGERPRINT)[0] ?? '');
    if (fingerprint !== this.o.fingerprint) {
      return refuse(Status.FAILED_PRECONDITION, `${METADATA_FINGERPRINT}: worker serves model ${this.o.fingerprint}, caller sent ${JSON.stringify(fingerprint)}`);
    }
    return null;
  }

  /** The reply to one request; never rejects. */
  private async answer(req: ExpertRequestMessage, caller: object): Promise<ExpertReplyMessage> {
    const requestId = Number.isSafeInteger(req.requestId) ? req.requestId : 0;
    const fail = (statusCode: grpc.status, error: string): ExpertReplyMessage => ({ requestId, output: null, statusCode, error, computeMs: 0 });
    if (this.draining) return fail(Status.UNAVAILABLE, 'draining: this worker accepts no new work');
    let v: ValidRequest;
    try {
      v = this.validate(req);
    } catch (err) {
      if (err instanceof WireFormatError) return fail(Status.INVALID_ARGUMENT, err.message);
      return fail(Status.INTERNAL, `validation failed: ${(err as Error).message}`);
    }
    this.inFlight++;
    this.o.onAssignments?.(v.layer, v.assignments.experts);
    try {
      const { out, computeMs } = await this.computeFairly(caller, v);
      const output = encodeTensor(out, [v.tokenCount, this.o.pool.config.hiddenSize], v.replyDtype);
      return { requestId, output, statusCode: Status.OK, error: '', computeMs };
    } catch (err) {
      // Dropped between validation and the split: the same answer validation would have given.
      if (err instanceof ExpertUnavailableError) return fail(Status.INVALID_ARGUMENT, `experts: layer ${err.layer} expert ${err.expert} is not held by this worker`);
      return fail(Status.INTERNAL, `compute failed: ${(err as Error).message}`);
    } finally {
      if (--this.inFlight === 0 && this.draining) {
        for (const wake of this.idleWaiters.splice(0)) wake();
      }
    }
  }

  /**
   * The request's weighted sums, computed in chunks of at most chunkRows token rows, each chunk on
   * the caller's turn of the FairScheduler. computeMs counts the chunks' compute, not their wait.
   */
  private async computeFairly(caller: object, v: ValidRequest): Promise<{ out: Float32Array; computeMs: number }> {
    let computeMs = 0;
    const timed = (fn: () => Promise<Float32Array>) => async (): Promise<Float32Array> => {
      const t0 = performance.now();
      try {
        return await fn();
      } finally {
        computeMs += performance.now() - t0;
      }
    };
    const T = v.tokenCount;
    if (this.chunkRows === 0 || T <= this.chunkRows) {
      const out = await this.fair.run(caller, timed(() => this.o.pool.weightedSum(v.layer, v.hidden, T, v.assignments)));
      return { out, computeMs };
    }
    const H = this.o.pool.config.hiddenSize;
    const out = new Float32Array(T * H);
    const chunks: Promise<void>[] = [];
    for (let r0 = 0; r0 < T; r0 += this.chunkRows) {
      const r1 = Math.min(T, r0 + this.chunkRows);
      const part = chunkAssignments(v.assignments, r0, r1);
      const hidden = v.hidden.subarray(r0 * H, r1 * H);
      chunks.push(this.fair.run(caller, timed(() => this.o.pool.weightedSum(v.layer, hidden, r1 - r0, part))).then((o) => out.set(o, r0 * H)));
    }
    await Promise.all(chunks);
    return { out, computeMs };
  }

  private validate(req: ExpertRequestMessage): ValidRequest {
    const c = this.o.pool.config;
    const H = c.hiddenSize;
    const maxTokens = this.o.maxTokens ?? DEFAULT_MAX_TOKENS;
    const layer = req.layer;
    if (!Number.isInteger(layer) || layer < 0 || layer >= c.numLayers) bad('layer', `layer: ${layer} is outside [0, ${c.numLayers})`);
    const t = req.hidden;
    if (!t) bad('hidden', 'hidden: missing');
    dtypeSize(t.dtype, 'hidden.dtype');
    const [T, h, ...extra] = t.shape;
    if (T === undefined || h === undefined || extra.length > 0 || h !== H) bad('hidden.shape', `hidden.shape: [${t.shape.join(', ')}], expected [T, ${H}]`);
    if (T < 1 || T > maxTokens) bad('hidden.shape', `hidden.shape: T = ${T} is outside [1, ${maxTokens}]`);
    const hidden = decodeTensor(t, 'hidden').values;
    for (let i = 0; i < hidden.length; i++) {
      if (!Number.isFinite(hidden[i]!)) bad('hidden.data', `hidden.data: value at [${Math.floor(i / H)}, ${i % H}] is ${hidden[i]}`);
    }
    const replyDtype = req.replyDtype === DType.UNSPECIFIED ? 'fp32' : dtypeSize(req.replyDtype, 'reply_dtype') === 2 ? 'fp16' : 'fp32';
    const tokens = decodeInt32(req.rows, 'rows');
    const experts = decodeInt32(req.experts, 'experts');
    const weights = decodeFloat32(req.weights, 'weights');
    const A = tokens.length;
    if (experts.length !== A) bad('experts', `experts: ${experts.length} entries, but rows has ${A}`);
    if (weights.length !== A) bad('weights', `weights: ${weights.length} entries, but rows has ${A}`);
    const k = c.expertsPerToken;
    if (A > T * k) bad('rows', `rows: ${A} assignments for ${T} rows exceeds ${k} per row`);
    checkAssignments(tokens, experts, weights, T, layer, c, (l, e) => this.o.pool.has(l, e));
    return { layer, tokenCount: T, hidden, assignments: { tokens, experts, weights }, replyDtype };
  }
}

/** The assignments of token rows [r0, r1), renumbered from 0. */
function chunkAssignments(a: ExpertAssignments, r0: number, r1: number): ExpertAssignments {
  let n = 0;
  for (let i = 0; i < a.tokens.length; i++) if (a.tokens[i]! >= r0 && a.tokens[i]! < r1) n++;
  const tokens = new Int32Array(n);
  const experts = new Int32Array(n);
  const weights = new Float32Array(n);
  let j = 0;
  for (let i = 0; i < a.tokens.length; i++) {
    const t = a.tokens[i]!;
    if (t < r0 || t >= r1) continue;
    tokens[j] = t - r0;
    experts[j] = a.experts[i]!;
    weights[j++] = a.weights[i]!;
  }
  return { tokens, experts, weights };
}

function checkAssignments(
  rows: Int32Array,
  experts: Int32Array,
  weights: Float32Array,
  T: number,
  layer: number,
  c: ModelConfig,
  held: (layer: number, expert: number) => boolean,
): void {
  const E = c.numExperts;
  const perRow = new Uint16Array(T);
  const seen = new Uint8Array(T * E);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const e = experts[i]!;
    const w = weights[i]!;
    if (r < 0 || r >= T) bad('rows', `rows[${i}]: row ${r} is outside [0, ${T})`);
    if (e < 0 || e >= E) bad('experts', `experts[${i}]: expert ${e} is outside [0, ${E})`);
    if (!held(layer, e)) bad('experts', `experts[${i}]: layer ${layer} expert ${e} is not held by this worker`);
    if (!Number.isFinite(w)) bad('weights', `weights[${i}]: ${w} is not finite`);
    if (seen[r * E + e]) bad('experts', `experts[${i}]: row ${r} is assigned expert ${e} twice`);
    seen[r * E + e] = 1;
    if (++perRow[r]! > c.expertsPerToken) bad('rows', `rows[${i}]: row ${r} has more than ${c.expertsPerToken} assignments`);
  }
}

/** Runs a write to a call that may have gone away meanwhile; a throw here must not reach the process. */
function guarded(write: () => void): void {
  try {
    write();
  } catch {
    // The call ended under us (cancelled, connection lost): its caller is gone, nothing to answer.
  }
}

function bad(field: string, message: string): never {
  throw new WireFormatError(message, field);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Starts the gRPC server for `options.pool` and resolves once it listens. */
export async function startExpertServer(options: ExpertServerOptions): Promise<ExpertServer> {
  const service = new ExpertService(options);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    // Notices a coordinator that vanished without closing, so its stream's state is freed.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  server.addService(expertServiceDefinition(), service.handlers);
  const credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.forceShutdown(), CLOSE_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }));
  return { port, server, drain: () => service.drain(), close };
}
