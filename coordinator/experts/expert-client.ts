// The coordinator's side of proto/expert.proto for one worker address: one long-lived Dispatch
// stream (opened on first use, reopened on the first use after it breaks), replies matched to
// calls by request_id, a deadline per call, and the one table from gRPC status to error class.
import * as grpc from '@grpc/grpc-js';
import { WorkerDispatchError, WorkerHandshakeError, WorkerRejectedError } from '../../common/errors.js';
import {
  MAX_MESSAGE_BYTES,
  METADATA_AUTHORIZATION,
  METADATA_FINGERPRINT,
  METADATA_PROTOCOL,
  PROTOCOL_VERSION,
  expertServiceDefinition,
  type EchoMessage,
  type ExpertReplyMessage,
  type ExpertRequestMessage,
  type WorkerInfoMessage,
} from '../../common/wire/expert-proto.js';
import { decodeTensor, encodeTensor, float32Bytes, int32Bytes, wireDtypeCode, type WireDtype } from '../../common/wire/tensor-codec.js';

export interface ExpertClientOptions {
  /** 'host:port' of the worker. */
  readonly address: string;
  /** Names the worker in errors. Default: the address. */
  readonly workerId?: string;
  /** The checkpoint fingerprint sent in the handshake. */
  readonly fingerprint: string;
  /** Sent as `authorization: Bearer <clusterToken>` when set. */
  readonly clusterToken?: string;
  /** Default: insecure (plaintext). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Deadline of a dispatch that names none. Default 30 000 ms. */
  readonly deadlineMs?: number;
  /** Extra channel options, applied over the defaults (message sizes, keepalive, reconnect backoff). */
  readonly channelOptions?: grpc.ChannelOptions;
}

export interface DispatchOptions {
  /** Default: the client's deadlineMs. */
  readonly deadlineMs?: number;
  /** Dtype of hidden on the wire and of the reply. Default 'fp32' (exact); 'fp16' halves the bytes. */
  readonly wireDtype?: WireDtype;
}

/** What a worker says about itself (Info), in internal form. */
export interface ExpertWorkerInfo {
  readonly workerId: string;
  readonly modelFingerprint: string;
  readonly protocolVersion: number;
  readonly held: readonly { layer: number; expert: number }[];
  readonly numLayers: number;
  readonly numExperts: number;
  readonly hiddenSize: number;
  readonly capacity: number;
  readonly draining: boolean;
}

const DEFAULT_DEADLINE_MS = 30_000;

const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // A worker that vanishes without a TCP reset (node lost, partition) is noticed within ~15 s.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // A restarted worker is reachable again within a second, not after grpc's 1-120 s backoff.
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/**
 * The one table from a gRPC status to an error class. INVALID_ARGUMENT condemns the request,
 * a refused handshake condemns the pairing; everything else (UNAVAILABLE, a draining worker,
 * DEADLINE_EXCEEDED, a broken connection, INTERNAL) may succeed elsewhere or later.
 */
export function errorForStatus(code: number, details: string, workerId: string, cause?: unknown): WorkerDispatchError {
  const name = grpc.status[code] ?? `status ${code}`;
  const message = `worker ${workerId}: ${name}: ${details}`;
  switch (code) {
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
      return new WorkerRejectedError(message, workerId, code, { cause });
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
    case grpc.status.UNIMPLEMENTED:
      return new WorkerHandshakeError(message, workerId, code, { cause });
    default:
      return new WorkerDispatchError(message, workerId, true, { cause });
  }
}

interface PendingDispatch {
  readonly tokenCount: number;
  readonly hiddenSize: number;
  readonly resolve: (out: Float32Array) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

type DispatchStream = grpc.ClientDuplexStream<ExpertRequestMessage, ExpertReplyMessage>;
type EchoStream = grpc.ClientDuplexStream<EchoMessage, EchoMessage>;

export class ExpertClient {
  readonly workerId: string;
  private readonly client: grpc.Client;
  private readonly def = expertServiceDefinition();
  private nextId = 1;
  private dispatchStream: DispatchStream | null = null;
  private readonly pending = new Map<number, PendingDispatch>();
  private echoStream: EchoStream | null = null;
  private readonly echoPending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  private closed = false;

  private readonly counters = { dispatches: 0, workerComputeMs: 0 };

  constructor(private readonly o: ExpertClientOptions) {
    this.workerId = o.workerId ?? o.address;
    this.client = new grpc.Client(o.address, o.credentials ?? grpc.credentials.createInsecure(), { ...DEFAULT_CHANNEL_OPTIONS, ...o.channelOptions });
  }

  /**
   * Layer `layer`'s experts on `hidden` ([tokenCount, H]) for the assignments (rows[i] needs
   * experts[i] with weights[i]); resolves with [tokenCount, H], per row the weighted sum.
   */
  dispatch(
    layer: number,
    hidden: Float32Array,
    tokenCount: number,
    rows: Int32Array,
    experts: Int32Array,
    weights: Float32Array,
    options: DispatchOptions = {},
  ): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new WorkerDispatchError(`worker ${this.workerId}: client closed`, this.workerId, false));
    let request: ExpertRequestMessage;
    try {
      request = this.request(layer, hidden, tokenCount, rows, experts, weights, options.wireDtype);
    } catch (err) {
      return Promise.reject(err);
    }
    const requestId = request.requestId;
    const hiddenSize = hidden.length / tokenCount;
    const deadlineMs = options.deadlineMs ?? this.o.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const stream = this.openDispatch();
    return new Promise<Float32Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(requestId)) return;
        reject(new WorkerDispatchError(`worker ${this.workerId}: dispatch ${requestId} (layer ${layer}) passed its ${deadlineMs} ms deadline`, this.workerId, true));
      }, deadlineMs);
      this.pending.set(requestId, { tokenCount, hiddenSize, resolve, reject, timer });
      stream.write(request);
    });
  }

  /** The same exchange as one unary Compute call (tests, fuzzing); a refusal is a real gRPC status. */
  compute(layer: number, hidden: Float32Array, tokenCount: number, rows: Int32Array, experts: Int32Array, weights: Float32Array, options: DispatchOptions = {}): Promise<Float32Array> {
    let request: ExpertRequestMessage;
    try {
      request = this.request(layer, hidden, tokenCount, rows, experts, weights, options.wireDtype);
    } catch (err) {
      return Promise.reject(err);
    }
    const hiddenSize = hidden.length / tokenCount;
    const m = this.def.Compute;
    const deadline = Date.now() + (options.deadlineMs ?? this.o.deadlineMs ?? DEFAULT_DEADLINE_MS);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, this.metadata(), { deadline }, (err, reply) => {
        if (err) return reject(errorForStatus(err.code, err.details, this.workerId, err));
        try {
          resolve(this.readOutput(reply!, tokenCount, hiddenSize));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  info(deadlineMs = this.o.deadlineMs ?? DEFAULT_DEADLINE_MS): Promise<ExpertWorkerInfo> {
    const m = this.def.Info;
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, this.metadata(), { deadline: Date.now() + deadlineMs }, (err, w) => {
        if (err) return reject(errorForStatus(err.code, err.details, this.workerId, err));
        resolve(toWorkerInfo(w!));
      });
    });
  }

  /** Dispatches answered, and the compute time the worker reported for them (metrics, benchmark). */
  stats(): { dispatches: number; workerComputeMs: number } {
    return { ...this.counters };
  }

  /** Bounces `payload` off the worker on the long-lived Echo stream (the benchmark's floor). */
  echo(payload: Uint8Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new WorkerDispatchError(`worker ${this.workerId}: client closed`, this.workerId, false));
    const requestId = this.nextId++;
    const stream = this.openEcho();
    return new Promise((resolve, reject) => {
      this.echoPending.set(requestId, { resolve, reject });
      stream.write({ requestId, payload });
    });
  }

  /** Ends both streams and the channel (idempotent); calls still pending reject, not retryable. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new WorkerDispatchError(`worker ${this.workerId}: client closed`, this.workerId, false);
    this.breakDispatch(err);
    this.breakEcho(err);
    this.client.close();
  }

  /** The wire form of one call; RangeError for arguments that cannot describe a request. */
  private request(
    layer: number,
    hidden: Float32Array,
    tokenCount: number,
    rows: Int32Array,
    experts: Int32Array,
    weights: Float32Array,
    wire: WireDtype = 'fp32',
  ): ExpertRequestMessage {
    if (!Number.isInteger(tokenCount) || tokenCount < 1 || hidden.length % tokenCount !== 0) {
      throw new RangeError(`dispatch: hidden holds ${hidden.length} values, not a whole number of ${tokenCount} rows`);
    }
    if (experts.length !== rows.length || weights.length !== rows.length) {
      throw new RangeError(`dispatch: rows, experts and weights must have one entry per assignment (${rows.length}, ${experts.length}, ${weights.length})`);
    }
    return {
      requestId: this.nextId++,
      layer,
      hidden: encodeTensor(hidden, [tokenCount, hidden.length / tokenCount], wire),
      rows: int32Bytes(rows),
      experts: int32Bytes(experts),
      weights: float32Bytes(weights),
      replyDtype: wireDtypeCode(wire),
    };
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(METADATA_PROTOCOL, String(PROTOCOL_VERSION));
    md.set(METADATA_FINGERPRINT, this.o.fingerprint);
    if (this.o.clusterToken !== undefined) md.set(METADATA_AUTHORIZATION, `Bearer ${this.o.clusterToken}`);
    return md;
  }

  private openDispatch(): DispatchStream {
    if (this.dispatchStream) return this.dispatchStream;
    const m = this.def.Dispatch;
    const stream = this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, this.metadata());
    this.dispatchStream = stream;
    stream.on('data', (reply: ExpertReplyMessage) => this.onReply(reply));
    // Whatever ends the stream fails every call on it at once: they are retryable elsewhere,
    // unless the worker refused us (handshake), which no retry on this pairing can fix.
    stream.on('error', (err: grpc.ServiceError) => {
      if (this.dispatchStream === stream) this.breakDispatch(errorForStatus(err.code, err.details, this.workerId, err));
    });
    stream.on('end', () => {
      if (this.dispatchStream === stream) this.breakDispatch(new WorkerDispatchError(`worker ${this.workerId}: dispatch stream ended`, this.workerId, true));
    });
    return stream;
  }

  private onReply(reply: ExpertReplyMessage): void {
    const p = this.pending.get(reply.requestId);
    if (!p) return; // its deadline passed; the late answer is dropped
    this.pending.delete(reply.requestId);
    clearTimeout(p.timer);
    if (reply.statusCode !== grpc.status.OK) return p.reject(errorForStatus(reply.statusCode, reply.error, this.workerId));
    this.counters.dispatches++;
    if (Number.isFinite(reply.computeMs)) this.counters.workerComputeMs += reply.computeMs;
    try {
      p.resolve(this.readOutput(reply, p.tokenCount, p.hiddenSize));
    } catch (err) {
      p.reject(err as Error);
    }
  }

  /** The reply's output, checked against what was asked: a worker is trusted no more than a caller. */
  private readOutput(reply: ExpertReplyMessage, tokenCount: number, hiddenSize: number): Float32Array {
    try {
      const t = decodeTensor(reply.output, 'output');
      if (t.shape.length !== 2 || t.shape[0] !== tokenCount || t.shape[1] !== hiddenSize) {
        throw new Error(`output.shape: [${t.shape.join(', ')}], expected [${tokenCount}, ${hiddenSize}]`);
      }
      return t.values;
    } catch (err) {
      throw new WorkerDispatchError(`worker ${this.workerId}: malformed reply: ${(err as Error).message}`, this.workerId, false, { cause: err });
    }
  }

  private breakDispatch(err: WorkerDispatchError): void {
    const stream = this.dispatchStream;
    this.dispatchStream = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    stream?.cancel();
  }

  private openEcho(): EchoStream {
    if (this.echoStream) return this.echoStream;
    const m = this.def.Echo;
    const stream = this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, this.metadata());
    this.echoStream = stream;
    stream.on('data', (msg: EchoMessage) => {
      const p = this.echoPending.get(msg.requestId);
      if (!p) return;
      this.echoPending.delete(msg.requestId);
      p.resolve(msg.payload);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (this.echoStream === stream) this.breakEcho(errorForStatus(err.code, err.details, this.workerId, err));
    });
    stream.on('end', () => {
      if (this.echoStream === stream) this.breakEcho(new WorkerDispatchError(`worker ${this.workerId}: echo stream ended`, this.workerId, true));
    });
    return stream;
  }

  private breakEcho(err: WorkerDispatchError): void {
    const stream = this.echoStream;
    this.echoStream = null;
    for (const p of this.echoPending.values()) p.reject(err);
    this.echoPending.clear();
    stream?.cancel();
  }
}

function toWorkerInfo(w: WorkerInfoMessage): ExpertWorkerInfo {
  const E = w.numExperts;
  return {
    workerId: w.workerId,
    modelFingerprint: w.modelFingerprint,
    protocolVersion: w.protocolVersion,
    held: w.held.map((k) => ({ layer: E > 0 ? Math.floor(k / E) : 0, expert: E > 0 ? k % E : k })),
    numLayers: w.numLayers,
    numExperts: E,
    hiddenSize: w.hiddenSize,
    capacity: w.capacity,
    draining: w.draining,
  };
}
