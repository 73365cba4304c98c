// One module of error classes. Callers branch on `instanceof` and on the data fields, never on
// message text. Each class says whether it condemns one request or the whole process.

export class GptOssError extends Error {
  override readonly name: string = 'GptOssError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A config.json (or a flag / option value) that is missing a field or holds a wrong value. */
export class ConfigError extends GptOssError {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly field: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A checkpoint file that cannot be read as what it claims to be. */
export class CheckpointError extends GptOssError {
  override readonly name = 'CheckpointError';
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A request parameter that is invalid; names the parameter (OpenAI's `param`). */
export class InvalidRequestError extends GptOssError {
  override readonly name = 'InvalidRequestError';
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** A constrained generation reached a point where its grammar allows nothing that keeps the output
 *  JSON (a schema's pattern that needs a raw quote, backslash or control character there). */
export class UnsatisfiableGrammarError extends InvalidRequestError {
  constructor(param: string | null = null) {
    super('The response format cannot be met as valid JSON here: its grammar allows only characters that a JSON string must escape (a pattern with a literal quote, backslash or control character?).', param, 'unsatisfiable_grammar');
  }
}

/** No live worker holds an expert a token was routed to. */
export class ExpertUnavailableError extends GptOssError {
  override readonly name = 'ExpertUnavailableError';
  constructor(
    readonly layer: number,
    readonly expert: number,
    detail = 'no live worker holds it',
  ) {
    super(`layer ${layer} expert ${expert}: ${detail}`);
  }
}

/** A remote worker failed a dispatch (broken stream, deadline, refusal). */
export class WorkerDispatchError extends GptOssError {
  // Typed `string` so that subclasses (rejected request, refused handshake) can name themselves.
  override readonly name: string = 'WorkerDispatchError';
  constructor(
    message: string,
    readonly workerId: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class QueueFullError extends GptOssError {
  override readonly name = 'QueueFullError';
}

export class RequestAbortedError extends GptOssError {
  override readonly name = 'RequestAbortedError';
}

/** A control-plane message (NATS event or placement record) that fails validation; it is dropped. */
export class ClusterMessageError extends GptOssError {
  override readonly name = 'ClusterMessageError';
  constructor(
    message: string,
    readonly subject: string,
    readonly field: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A control-plane wait (membership predicate, placement coverage) that did not come true in time. */
export class ClusterTimeoutError extends GptOssError {
  override readonly name = 'ClusterTimeoutError';
  constructor(
    message: string,
    readonly waitedMs: number,
  ) {
    super(message);
  }
}

/** A wire message whose fields do not hold what they claim (dtype, shape, byte length, range). */
export class WireFormatError extends GptOssError {
  override readonly name = 'WireFormatError';
  constructor(
    message: string,
    /** The offending field, as named in proto/ (e.g. `hidden.shape`, `rows`). */
    readonly field: string,
  ) {
    super(message);
  }
}

/** A worker judged one dispatched request invalid (gRPC INVALID_ARGUMENT); resending it cannot help. */
export class WorkerRejectedError extends WorkerDispatchError {
  override readonly name = 'WorkerRejectedError';
  constructor(
    message: string,
    workerId: string,
    readonly grpcCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, workerId, false, options);
  }
}

/**
 * A worker refused the handshake: protocol version or model fingerprint differ (gRPC
 * FAILED_PRECONDITION), the cluster token is wrong (UNAUTHENTICATED, PERMISSION_DENIED), or it does
 * not know the method (UNIMPLEMENTED). Condemns the pairing, not the request.
 */
export class WorkerHandshakeError extends WorkerDispatchError {
  override readonly name = 'WorkerHandshakeError';
  constructor(
    message: string,
    workerId: string,
    readonly grpcCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, workerId, false, options);
  }
}

/** An expert computation failed inside this process (onnxruntime error, a compute thread that died). */
export class ExpertComputeError extends GptOssError {
  override readonly name = 'ExpertComputeError';
  constructor(
    message: string,
    readonly layer: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * An expert's checkpoint bytes cannot be re-encoded into the resident precision (a shape that does
 * not fit, a scale the precision has no value for): that expert cannot load.
 */
export class ExpertEncodingError extends GptOssError {
  override readonly name = 'ExpertEncodingError';
  constructor(
    message: string,
    /** The tensor, as "layer L expert E gate_up|down". */
    readonly tensor: string,
    /** The MXFP4 block at fault, when one is. */
    readonly block: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The session store (KV blocks, stored responses) was used wrongly: a cache whose layout differs
 * from the store's model, tokens that do not match the cache, a wait for Redis that timed out.
 * Redis being down is not this error: the store answers with a miss instead.
 */
export class SessionStoreError extends GptOssError {
  override readonly name = 'SessionStoreError';
  constructor(
    message: string,
    readonly field: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A placement write whose compare-and-set failed: the record's revision was no longer the one the
 * writer last saw (another coordinator wrote in between). The writer re-reads and recomputes.
 */
export class PlacementConflictError extends GptOssError {
  override readonly name = 'PlacementConflictError';
  constructor(
    message: string,
    readonly expectedRevision: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * An ONNX model that cannot be read back or reasoned about: malformed bytes, or a value whose
 * element type cannot be inferred (an op without a type rule); names the node when there is one.
 */
export class OnnxModelError extends GptOssError {
  override readonly name = 'OnnxModelError';
  constructor(
    message: string,
    readonly node: string | null = null,
    readonly opType: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One node the CUDA execution provider would not run, and why. */
export interface UncoveredCudaNode {
  readonly node: string;
  readonly domain: string;
  readonly opType: string;
  readonly opset: number;
  readonly inputTypes: readonly string[];
  readonly outputTypes: readonly string[];
  readonly reason: string;
}

/**
 * A graph meant for the CUDA provider with nodes onnxruntime's CUDA kernel list does not cover (or
 * that it would place on the CPU), found before a session is created: with CPU fallback disabled,
 * such a session would not start, and with it enabled it would run partly on the CPU unseen.
 */
export class CudaKernelMissingError extends GptOssError {
  override readonly name = 'CudaKernelMissingError';
  constructor(
    readonly graph: string,
    readonly nodes: readonly UncoveredCudaNode[],
  ) {
    const first = nodes.slice(0, 5).map((n) => `${n.node} (${n.domain || 'ai.onnx'}.${n.opType}-${n.opset}, inputs ${n.inputTypes.join(', ') || 'none'} -> ${n.outputTypes.join(', ')}): ${n.reason}`);
    super(`graph ${graph}: ${nodes.length} node(s) the CUDA execution provider cannot run: ${first.join('; ')}${nodes.length > 5 ? '; ...' : ''}`);
  }
}
