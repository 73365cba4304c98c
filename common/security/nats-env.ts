// NATS credentials and TLS from the environment, shared by the coordinator and worker commands:
// NATS_USER + NATS_PASS or NATS_TOKEN for authentication; NATS_TLS_CA (server CA bundle),
// NATS_TLS_CERT + NATS_TLS_KEY (client certificate, when the server verifies clients) for TLS.
// Empty variables count as unset.
import type { NatsConnectOptions, NatsTlsOptions } from '../cluster/nats-connection.js';

export function natsOptionsFromEnv(servers: string, env: NodeJS.ProcessEnv = process.env): Partial<NatsConnectOptions> {
  const v = (name: string): string | undefined => env[name] || undefined;
  const tls: Record<string, string> = {};
  if (v('NATS_TLS_CA')) tls['caFile'] = v('NATS_TLS_CA')!;
  if (v('NATS_TLS_CERT')) tls['certFile'] = v('NATS_TLS_CERT')!;
  if (v('NATS_TLS_KEY')) tls['keyFile'] = v('NATS_TLS_KEY')!;
  return {
    servers: servers.split(','),
    user: v('NATS_USER'),
    pass: v('NATS_PASS'),
    token: v('NATS_TOKEN'),
    ...(Object.keys(tls).length > 0 ? { tls: tls as NatsTlsOptions } : {}),
  };
}
