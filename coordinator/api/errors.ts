// The one table from error to HTTP status and OpenAI error envelope
// (`{"error": {"message", "type", "param", "code"}}`), the HTTP layer's own error classes, and the
// Fastify hooks that send every failure, Fastify's own included, in that envelope.
import type { FastifyError, FastifyInstance } from 'fastify';
import {
  ExpertUnavailableError,
  GptOssError,
  InvalidRequestError,
  QueueFullError,
  RequestAbortedError,
} from '../../common/errors.js';
import type { ErrorEnvelope } from './protocol.js';

/** The model named in a request is not served here (404, code model_not_found). */
export class ModelNotFoundError extends InvalidRequestError {
  constructor(readonly model: string) {
    super(`The model \`${model}\` does not exist or you do not have access to it.`, 'model', 'model_not_found');
  }
}

/** A route or a stored object (a response id) that does not exist. */
export class NotFoundError extends GptOssError {
  override readonly name = 'NotFoundError';
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** Missing or wrong API key. */
export class AuthenticationError extends GptOssError {
  override readonly name = 'AuthenticationError';
}

export interface HttpError {
  readonly status: number;
  readonly body: ErrorEnvelope;
  /** Not a client's fault nor a known server condition: log it with its stack. */
  readonly unexpected: boolean;
}

type ErrorClass = abstract new (...args: never[]) => Error;

interface Rule {
  readonly match: ErrorClass;
  readonly status: number;
  readonly type: string;
  /** Used when the error carries no code of its own. */
  readonly code: string | null;
}

// First match wins, so subclasses come before their base classes.
const RULES: readonly Rule[] = [
  { match: ModelNotFoundError, status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  { match: NotFoundError, status: 404, type: 'invalid_request_error', code: 'not_found' },
  { match: AuthenticationError, status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  // Includes HarmonyRenderError and context overflow (code context_length_exceeded).
  { match: InvalidRequestError, status: 400, type: 'invalid_request_error', code: null },
  { match: QueueFullError, status: 429, type: 'rate_limit_error', code: 'queue_full' },
  { match: ExpertUnavailableError, status: 503, type: 'server_error', code: 'expert_unavailable' },
  // nginx's "client closed request": nobody reads it, but logs and metrics tell it apart.
  { match: RequestAbortedError, status: 499, type: 'invalid_request_error', code: 'request_aborted' },
];

const GENERIC_MESSAGE = 'The server had an error while processing your request.';

export function envelope(message: string, type: string, param: string | null = null, code: string | null = null): ErrorEnvelope {
  return { error: { message, type, param, code } };
}

function ownString(err: Error, key: 'param' | 'code'): string | null {
  const value: unknown = (err as unknown as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : null;
}

/** Fastify's own 4xx errors: bad JSON (400), body too large (413), unsupported media type (415). */
function isFastifyClientError(err: unknown): err is FastifyError & { statusCode: number } {
  if (!(err instanceof Error)) return false;
  const e = err as Partial<FastifyError>;
  return typeof e.code === 'string' && e.code.startsWith('FST_') && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500;
}

export function toHttpError(err: unknown): HttpError {
  if (err instanceof Error) {
    const rule = RULES.find((r) => err instanceof r.match);
    if (rule) {
      const body = envelope(err.message, rule.type, ownString(err, 'param'), ownString(err, 'code') ?? rule.code);
      return { status: rule.status, body, unexpected: false };
    }
  }
  if (isFastifyClientError(err)) {
    const code = err.statusCode === 413 ? 'request_too_large' : err.statusCode === 415 ? 'unsupported_media_type' : null;
    // Fastify's 415 names only the type it got; say what it wants (a form post is the usual slip).
    const message = err.statusCode === 415 ? `${err.message}. Request bodies must be JSON: send them with Content-Type: application/json.` : err.message;
    return { status: err.statusCode, body: envelope(message, 'invalid_request_error', null, code), unexpected: false };
  }
  return { status: 500, body: envelope(GENERIC_MESSAGE, 'server_error'), unexpected: true };
}

/** Sends every error (thrown by a handler, or raised by Fastify) and unknown routes in the envelope. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const mapped = toHttpError(err);
    if (mapped.unexpected) request.log.error({ err }, 'request failed');
    else if (mapped.status >= 500) request.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'request failed');
    return reply.code(mapped.status).send(mapped.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    return reply.code(404).send(envelope(`Unknown request URL: ${request.method} ${path}.`, 'invalid_request_error', null, 'unknown_url'));
  });
}
