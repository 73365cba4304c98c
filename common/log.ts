// JSON-lines logs (pino) to stderr. LOG_LEVEL sets the level (default info); secrets are never
// logged: options are logged through `redactSecrets`.
import { pino, destination, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: ['*.password', '*.pass', '*.token', '*.clusterToken', '*.apiKeys', 'apiKeys', 'clusterToken', 'token'], censor: '[redacted]' } }, destination(2));
}
