// Server-sent events: `data: {json}` messages (chat and completions; OpenAI's stream ends with
// `data: [DONE]`), or `event: <type>` + `data: {json}` (responses). The reply is taken over from
// Fastify once the first message is ready; writes wait for the socket to drain, and a client that
// goes away ends the loop (its generation is aborted by the request's AbortController).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toHttpError } from './errors.js';

export interface SseMessage {
  readonly event?: string;
  /** Serialized as JSON; the string '[DONE]' is written as it is. */
  readonly data: unknown;
}

export const DONE: SseMessage = { data: '[DONE]' };

/** After a `data:` stream began, an error can only be told in it: vLLM's `data: {"error": ...}`, then [DONE]. */
export function errorInStream(err: unknown): SseMessage[] {
  return [{ data: toHttpError(err).body }, DONE];
}

export interface SseOptions {
  /** Messages to send when `messages` throws after the stream began (the status is already 200). */
  readonly onError: (err: unknown) => SseMessage[];
}

function frame(message: SseMessage): string {
  const data = message.data === '[DONE]' ? '[DONE]' : JSON.stringify(message.data);
  return message.event !== undefined ? `event: ${message.event}\ndata: ${data}\n\n` : `data: ${data}\n\n`;
}

export async function sendSse(request: FastifyRequest, reply: FastifyReply, messages: AsyncIterable<SseMessage>, options: SseOptions): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
  });
  const write = async (message: SseMessage): Promise<boolean> => {
    if (res.destroyed || res.writableEnded) return false;
    if (!res.write(frame(message))) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    return !res.destroyed;
  };
  try {
    for await (const message of messages) {
      if (!(await write(message))) break;
    }
  } catch (err) {
    if (toHttpError(err).unexpected) request.log.error({ err }, 'stream failed after it began');
    else request.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'stream failed after it began');
    for (const message of options.onError(err)) if (!(await write(message))) break;
  } finally {
    if (!res.writableEnded) res.end();
  }
}

/** What a serving class answers: a JSON body, or a stream of events. */
export type ServingResult<T> = { readonly kind: 'json'; readonly body: T } | { readonly kind: 'stream'; readonly messages: AsyncIterable<SseMessage> };

/** Sends a serving result (the route's last step). */
export async function sendResult<T>(request: FastifyRequest, reply: FastifyReply, result: ServingResult<T>, options: SseOptions): Promise<T | undefined> {
  if (result.kind === 'json') return result.body;
  await sendSse(request, reply, result.messages, options);
  return undefined;
}
