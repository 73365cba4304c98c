// The one place a control-plane NATS connection is opened: reconnect forever, wait for the first
// server, log every status change. Also opens the placement KV bucket with the one set of options
// both the coordinator and the workers use.
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { ConfigError } from '../errors.js';
import { silentLog, type ClusterLog } from './events.js';
import type { ClusterSubjects } from './subjects.js';

export type NatsTlsOptions = NonNullable<NodeConnectionOptions['tls']>;

export interface NatsConnectOptions {
  /** nats:// URL or host:port, one or several. Default "nats://127.0.0.1:4222". */
  readonly servers: string | readonly string[];
  /** Client name shown in the server's monitoring. Default "gptoss". */
  readonly name: string;
  /** User and password; both or neither. */
  readonly user?: string;
  readonly pass?: string;
  /** Token authentication; exclusive with user/pass. */
  readonly token?: string;
  /** TLS options passed to the client as they are. */
  readonly tls?: NatsTlsOptions;
  /** Milliseconds between reconnect attempts. Default 1000. */
  readonly reconnectTimeWaitMs: number;
  /** Milliseconds for one connection handshake. Default 5000. */
  readonly timeoutMs: number;
  /** Milliseconds between client pings (a dead server is noticed after 2 missed). Default 10000. */
  readonly pingIntervalMs: number;
}

export const NATS_CONNECT_DEFAULTS = {
  servers: 'nats://127.0.0.1:4222',
  name: 'gptoss',
  reconnectTimeWaitMs: 1000,
  timeoutMs: 5000,
  pingIntervalMs: 10_000,
} as const;

/** Fills defaults and validates; a bad value is a ConfigError naming the field. */
export function parseNatsConnectOptions(raw: Partial<NatsConnectOptions>): NatsConnectOptions {
  const o = { ...NATS_CONNECT_DEFAULTS, ...raw };
  const servers = typeof o.servers === 'string' ? [o.servers] : [...o.servers];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new ConfigError('servers must be one or more non-empty server URLs', 'servers');
  }
  if (typeof o.name !== 'string' || o.name === '') throw new ConfigError('name must be a non-empty string', 'name');
  if ((o.user === undefined) !== (o.pass === undefined)) throw new ConfigError('user and pass must be given together', o.user === undefined ? 'user' : 'pass');
  if (o.token !== undefined && o.user !== undefined) throw new ConfigError('token and user/pass are exclusive', 'token');
  for (const field of ['reconnectTimeWaitMs', 'timeoutMs', 'pingIntervalMs'] as const) {
    const v = o[field];
    if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(`${field} must be a positive integer, got ${v}`, field);
  }
  return { ...o, servers };
}

/** An open connection; `close()` drains it once and is safe to call again. */
export class ClusterConnection {
  private closing: Promise<void> | null = null;

  constructor(
    readonly nc: NatsConnection,
    private readonly log: ClusterLog = silentLog,
  ) {
    void this.logStatus();
  }

  private async logStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') this.log.warn({ nats: s.type, server: s.server }, `nats ${s.type}`);
      else if (s.type === 'error') this.log.error({ nats: s.type, err: s.error.message }, 'nats error');
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.nc.isClosed()) return;
      try {
        await this.nc.drain();
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'nats drain failed; closing');
        await this.nc.close();
      }
    })();
    return this.closing;
  }
}

/** Connects with reconnect forever (maxReconnectAttempts -1) and waitOnFirstConnect. */
export async function connectNats(raw: Partial<NatsConnectOptions>, log: ClusterLog = silentLog): Promise<ClusterConnection> {
  const o = parseNatsConnectOptions(raw);
  const nc = await connect({
    servers: [...o.servers],
    name: o.name,
    ...(o.user !== undefined ? { user: o.user, pass: o.pass } : {}),
    ...(o.token !== undefined ? { token: o.token } : {}),
    ...(o.tls !== undefined ? { tls: o.tls } : {}),
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: o.reconnectTimeWaitMs,
    timeout: o.timeoutMs,
    pingInterval: o.pingIntervalMs,
  });
  log.info({ server: nc.getServer(), name: o.name }, 'nats connected');
  return new ClusterConnection(nc, log);
}

/**
 * Opens the placement writer's lease bucket, creating it (history 1, every key expiring ttlMs
 * after its last write: a holder that stops renewing loses the lease on the server's clock).
 */
export async function openLeaseKv(nc: NatsConnection, subjects: ClusterSubjects, ttlMs: number): Promise<KV> {
  return new Kvm(nc).create(subjects.leaderBucket, { history: 1, ttl: ttlMs });
}

/** Opens the placement bucket, creating it (history 1) if it is missing. */
export async function openPlacementKv(nc: NatsConnection, subjects: ClusterSubjects): Promise<KV> {
  return new Kvm(nc).create(subjects.placementBucket, { history: 1 });
}

/** True when a KV create/update was refused because the key's revision was not the expected one. */
export function isRevisionConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
