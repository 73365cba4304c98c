// The lifecycle every Redis-backed session store shares (BullMQ style): the base class owns the
// ioredis client, `waitUntilReady`, an idempotent `close`, and the outage bookkeeping.
//
// Redis is a cache here, never a dependency a request may wait on: the client is set up to fail
// fast while Redis is away (no offline queue, short connect and command timeouts, one retry) and
// to keep reconnecting in the background. Subclasses run every operation through `guard`, which
// answers a fallback (a miss, a no-op) when Redis is unreachable. One warning is logged when an
// outage starts and one info line when it ends, not one per request.
import { Redis, ReplyError } from 'ioredis';
import { SessionStoreError } from '../../common/errors.js';

/** The log sink the session stores write to; a pino Logger fits. */
export interface SessionLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const noop = (): void => {};
export const silentSessionLog: SessionLog = { debug: noop, info: noop, warn: noop, error: noop };

export interface StoreHealth {
  readonly ok: boolean;
  readonly detail: string;
}

export interface RedisConnectionOptions {
  /** redis:// URL. */
  readonly url: string;
  /** Give up one connection attempt after this long. */
  readonly connectTimeoutMs: number;
  /** Fail a command that has no reply after this long (a hung, not a dead, server). */
  readonly commandTimeoutMs: number;
  /** Reconnect backoff cap; the client never stops reconnecting. */
  readonly reconnectMaxDelayMs: number;
  readonly logger: SessionLog;
}

export abstract class RedisBackedStore {
  protected readonly redis: Redis;
  protected readonly log: SessionLog;
  private outage: string | null = null;
  private closing: Promise<void> | null = null;
  /** The URL with any password masked, for logs and errors. */
  private readonly where: string;

  protected constructor(
    /** Names the store in logs and health details. */
    protected readonly component: string,
    connection: RedisConnectionOptions,
  ) {
    this.log = connection.logger;
    this.where = redactUrl(connection.url);
    this.redis = new Redis(connection.url, {
      enableOfflineQueue: false,
      connectTimeout: connection.connectTimeoutMs,
      commandTimeout: connection.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), connection.reconnectMaxDelayMs),
      connectionName: `gptoss-${component}`,
    });
    this.redis.on('ready', () => this.markUp());
    this.redis.on('error', (err: Error) => this.markDown(err.message));
    this.redis.on('close', () => this.markDown('connection closed'));
  }

  /** Resolves once connected; rejects with SessionStoreError after `timeoutMs` or on close. */
  async waitUntilReady(timeoutMs = 10_000): Promise<void> {
    if (this.closing) throw new SessionStoreError(`${this.component}: closed`);
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        this.redis.off('end', onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onReady = (): void => done();
      const onEnd = (): void => done(new SessionStoreError(`${this.component}: closed before Redis was ready`));
      const timer = setTimeout(
        () => done(new SessionStoreError(`${this.component}: Redis at ${this.where} not ready within ${timeoutMs} ms (${this.outage ?? this.redis.status})`)),
        timeoutMs,
      );
      this.redis.on('ready', onReady);
      this.redis.once('end', onEnd);
    });
  }

  /** Whether Redis answered last time; never waits. */
  health(): StoreHealth {
    if (this.closing) return { ok: false, detail: 'closed' };
    if (this.outage !== null) return { ok: false, detail: `redis unreachable: ${this.outage}` };
    if (this.redis.status !== 'ready') return { ok: false, detail: `redis ${this.redis.status}` };
    return { ok: true, detail: 'redis ok' };
  }

  /** Idempotent; waits for the connection to close. */
  close(): Promise<void> {
    this.closing ??= this.redis.quit().then(
      () => undefined,
      () => this.redis.disconnect(),
    );
    return this.closing;
  }

  /** Whether an operation may be sent now (connected and not closed). */
  protected get available(): boolean {
    return this.closing === null && this.redis.status === 'ready';
  }

  /**
   * Runs `operation` if Redis is reachable, else answers `fallback` at once. A failure answers
   * `fallback` too: a lost connection marks an outage, a Redis error reply is logged as a bug.
   */
  protected async guard<T>(op: string, fallback: T, operation: () => Promise<T>): Promise<T> {
    if (!this.available) {
      this.onUnavailable(op);
      return fallback;
    }
    try {
      const result = await operation();
      this.markUp();
      return result;
    } catch (err) {
      if (err instanceof ReplyError) {
        this.log.error({ component: this.component, op, err: String(err) }, 'redis rejected a session store command');
      } else {
        this.markDown(err instanceof Error ? err.message : String(err));
      }
      this.onUnavailable(op);
      return fallback;
    }
  }

  /** Hook for stats: an operation was answered with its fallback. */
  protected onUnavailable(_op: string): void {}

  private markDown(reason: string): void {
    if (this.closing) return;
    if (this.outage !== null) return;
    this.outage = reason;
    this.log.warn({ component: this.component, url: this.where, reason }, 'redis unreachable; session store answers misses until it returns');
  }

  private markUp(): void {
    if (this.outage === null) return;
    this.log.info({ component: this.component, url: this.where, after: this.outage }, 'redis reachable again');
    this.outage = null;
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
