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
  override readonly name = 'WorkerDispatchError';
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
