// The OpenAI-compatible HTTP API: public entry point.
export { buildHttpServer, HTTP_DEFAULTS, type HttpServerOptions } from './server.js';
export { InMemoryResponseStore, type InMemoryResponseStoreOptions, type ResponseStore, type StoredResponse } from './response-store.js';
export { AuthenticationError, ModelNotFoundError, NotFoundError, toHttpError, type HttpError } from './errors.js';
export type * from './protocol.js';
export type * from './responses-protocol.js';
