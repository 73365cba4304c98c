// The coordinator's OpenAI-compatible HTTP API (what vLLM and SGLang users expect for gpt-oss):
// thin routes over serving classes over an EngineClient. Builds the Fastify instance; the caller
// listens and closes it.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { getHarmonyTokenizer, type HarmonyTokenizer } from '../../common/harmony/index.js';
import type { EngineClient } from '../engine-core/engine-client.js';
import { ChatCompletionsServing, registerChatCompletions } from './chat-completions.js';
import { CompletionsServing, registerCompletions } from './completions.js';
import { AuthenticationError, envelope, registerErrorHandling } from './errors.js';
import type { ServingContext } from './generation.js';
import { registerHealth } from './health.js';
import { HttpMetrics } from './metrics.js';
import { registerModels } from './models.js';
import type { ResponseStore } from './response-store.js';
import { registerResponses, ResponsesServing } from './responses.js';
import { StructuredOutputs } from './structured-output.js';
import { registerTokenize } from './tokenize.js';

export interface HttpServerOptions {
  readonly engine: EngineClient;
  /** Where POST /v1/responses keeps responses (InMemoryResponseStore for one process). */
  readonly responses: ResponseStore;
  /** A pino logger (request logs carry `reqId`), or false for none. */
  readonly logger: Logger | false;
  /** Bearer keys accepted on /v1/*; absent or empty: no authentication. /health and /metrics stay open. */
  readonly apiKeys?: readonly string[];
  /** Body of GET /metrics (Prometheus text); default: this server's request and token counters. */
  readonly metricsText?: () => Promise<string> | string;
  /** Largest request body (default 4 MiB); larger ones get 413. */
  readonly bodyLimitBytes?: number;
  /** How long stored responses live (default 86400 s, one day). */
  readonly responseTtlSeconds?: number;
  /** Default: the shared o200k_harmony tokenizer. */
  readonly tokenizer?: HarmonyTokenizer;
}

export const HTTP_DEFAULTS = { bodyLimitBytes: 4 * 1024 * 1024, responseTtlSeconds: 86_400 } as const;

// A client's x-request-id is kept when it is a sane token; anything else gets a fresh UUID.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** Checks `Authorization: Bearer <key>` in constant time per configured key. */
function bearerChecker(apiKeys: readonly string[]): (header: string | undefined) => boolean {
  const digests = apiKeys.map(digest);
  return (header) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) return false;
    const given = digest(match[1]!);
    return digests.reduce((ok, d) => timingSafeEqual(d, given) || ok, false);
  };
}

export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    ...(options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: options.bodyLimitBytes ?? HTTP_DEFAULTS.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: requestId,
    // Ids of any sane length reach the handlers (and their 404 in the OpenAI envelope) instead of
    // the router's own 414; anything the router still refuses is answered in the envelope too.
    routerOptions: { maxParamLength: 8192 },
    frameworkErrors: (err, _request, reply) => {
      void (reply as unknown as FastifyReply).code(err.statusCode ?? 400).send(envelope(err.message, 'invalid_request_error', null, err.code ?? null));
    },
  }) as unknown as FastifyInstance;

  const metrics = new HttpMetrics();
  app.addHook('onRequest', async (request, reply) => {
    metrics.started();
    reply.raw.once('close', () => metrics.finished(request.method, request.routeOptions.url ?? 'unmatched', reply.raw.statusCode));
    reply.header('x-request-id', request.id);
  });

  const apiKeys = options.apiKeys ?? [];
  if (apiKeys.length > 0) {
    const authorized = bearerChecker(apiKeys);
    app.addHook('onRequest', async (request) => {
      // The matched route decides (so no spelling of the path slips past); unmatched URLs by prefix.
      if (!(request.routeOptions.url ?? request.url).startsWith('/v1')) return;
      if (!authorized(request.headers.authorization)) {
        throw new AuthenticationError(request.headers.authorization ? 'Incorrect API key provided.' : 'Missing API key: send it as "Authorization: Bearer <key>".');
      }
    });
  }

  registerErrorHandling(app);
  const tokenizer = options.tokenizer ?? getHarmonyTokenizer();
  const structured = new StructuredOutputs(tokenizer, options.engine.vocabSize);
  const ctx: ServingContext = { engine: options.engine, tokenizer, metrics, structured };
  registerChatCompletions(app, new ChatCompletionsServing(ctx));
  registerCompletions(app, new CompletionsServing(ctx));
  registerResponses(app, new ResponsesServing(ctx, { store: options.responses, ttlSeconds: options.responseTtlSeconds ?? HTTP_DEFAULTS.responseTtlSeconds }));
  registerTokenize(app, ctx);
  registerModels(app, options.engine, Math.floor(Date.now() / 1000));
  registerHealth(app, options.engine, options.metricsText ?? (() => metrics.text()));
  return app;
}
