// TLS for the coordinator <-> worker gRPC data plane, from PEM files. A worker serves TLS with its
// certificate and key; with `requireClientCert` it also demands a client certificate signed by the
// given CA (mutual TLS). A coordinator trusts the CA that signed the workers' certificates and,
// for mutual TLS, presents its own certificate and key.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '../errors.js';

export interface ServerTlsFiles {
  /** PEM certificate (chain) this server presents. */
  readonly cert: string;
  /** PEM private key of `cert`. */
  readonly key: string;
  /** PEM CA bundle client certificates are checked against (needed for `requireClientCert`). */
  readonly ca?: string;
  /** Mutual TLS: refuse clients that present no certificate signed by `ca`. */
  readonly requireClientCert?: boolean;
}

export interface ClientTlsFiles {
  /** PEM CA bundle the server certificate must chain to. */
  readonly ca: string;
  /** PEM client certificate for mutual TLS; together with `key` or not at all. */
  readonly cert?: string;
  readonly key?: string;
  /** Name the server certificate is checked for, when it differs from the dialled host. */
  readonly serverName?: string;
}

function readPem(file: string, field: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${field}: cannot read ${file}: ${(err as Error).message}`, field);
  }
  if (!data.toString('latin1').includes('-----BEGIN ')) throw new ConfigError(`${field}: ${file} is not a PEM file`, field);
  return data;
}

export function serverCredentials(f: ServerTlsFiles): grpc.ServerCredentials {
  if (f.requireClientCert && !f.ca) throw new ConfigError('requiring client certificates needs a CA to check them against', 'ca');
  const ca = f.ca ? readPem(f.ca, 'ca') : null;
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: readPem(f.cert, 'cert'), private_key: readPem(f.key, 'key') }], f.requireClientCert ?? false);
}

export function channelCredentials(f: ClientTlsFiles): grpc.ChannelCredentials {
  if ((f.cert === undefined) !== (f.key === undefined)) throw new ConfigError('client cert and key must be given together', f.cert === undefined ? 'cert' : 'key');
  const creds = grpc.credentials.createSsl(readPem(f.ca, 'ca'), f.key ? readPem(f.key, 'key') : null, f.cert ? readPem(f.cert, 'cert') : null);
  return creds;
}

/** Channel options for `serverName` (grpc.ssl_target_name_override), or none. */
export function tlsChannelOptions(f: ClientTlsFiles | undefined): grpc.ChannelOptions {
  return f?.serverName ? { 'grpc.ssl_target_name_override': f.serverName, 'grpc.default_authority': f.serverName } : {};
}

/** Server TLS files from worker flags; undefined (plaintext) when no cert is given. */
export function serverTlsFromFlags(f: { cert?: string; key?: string; ca?: string; requireClientCert?: boolean }): ServerTlsFiles | undefined {
  if (!f.cert && !f.key && !f.ca && !f.requireClientCert) return undefined;
  if (!f.cert || !f.key) throw new ConfigError('--tls-cert and --tls-key must be given together', f.cert ? 'tls-key' : 'tls-cert');
  return { cert: f.cert, key: f.key, ca: f.ca, requireClientCert: f.requireClientCert };
}

/** Client TLS files from coordinator flags; undefined (plaintext) when no CA is given. */
export function clientTlsFromFlags(f: { ca?: string; cert?: string; key?: string; serverName?: string }): ClientTlsFiles | undefined {
  if (!f.ca) {
    if (f.cert || f.key) throw new ConfigError('--worker-tls-cert/--worker-tls-key need --worker-tls-ca', 'worker-tls-ca');
    return undefined;
  }
  if ((f.cert === undefined) !== (f.key === undefined)) throw new ConfigError('--worker-tls-cert and --worker-tls-key must be given together', f.cert ? 'worker-tls-key' : 'worker-tls-cert');
  return { ca: f.ca, cert: f.cert, key: f.key, serverName: f.serverName };
}
