// The one place proto/expert.proto is loaded and its messages are typed. Both sides (the worker's
// server, the coordinator's client) use these declarations; nothing else sees wire types.
//
// proto-loader options, chosen once: camelCase field names (keepCase false), uint64 as Number
// (request ids are counters, far below 2^53), bytes as Buffer (zero-copy views into the received
// frame), enums as their numbers (an unknown dtype arrives as its number and is rejected by
// validation rather than silently mapped), defaults and empty arrays filled in (a missing field
// reads as its proto3 default, never `undefined`).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

/** Bumped on any change to proto/expert.proto that an old peer would misread. */
export const PROTOCOL_VERSION = 1;

/** Handshake metadata keys (lower case: gRPC metadata keys are case-insensitive and stored lower). */
export const METADATA_PROTOCOL = 'x-gptoss-protocol';
export const METADATA_FINGERPRINT = 'x-gptoss-fingerprint';
export const METADATA_AUTHORIZATION = 'authorization';

/** proto enum gptoss.v1.DType. */
export const DType = { UNSPECIFIED: 0, FLOAT32: 1, FLOAT16: 2 } as const;
export type DTypeCode = (typeof DType)[keyof typeof DType];

/** Largest message either side sends or accepts (a [8192, 2880] fp32 hidden batch is 90 MiB). */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

// Bytes fields are typed Uint8Array: what we send may be any view, what we receive is a Buffer
// (a Uint8Array subclass) that may share memory with the rest of the frame.

export interface TensorMessage {
  dtype: number;
  shape: number[];
  data: Uint8Array;
}

export interface ExpertRequestMessage {
  requestId: number;
  layer: number;
  hidden: TensorMessage | null;
  rows: Uint8Array;
  experts: Uint8Array;
  weights: Uint8Array;
  replyDtype: number;
}

export interface ExpertReplyMessage {
  requestId: number;
  output: TensorMessage | null;
  statusCode: number;
  error: string;
  computeMs: number;
}

export type InfoRequestMessage = Record<string, never>;

export interface WorkerInfoMessage {
  workerId: string;
  modelFingerprint: string;
  protocolVersion: number;
  held: number[];
  numLayers: number;
  numExperts: number;
  hiddenSize: number;
  capacity: number;
  draining: boolean;
}

export interface EchoMessage {
  requestId: number;
  payload: Uint8Array;
}

export interface ExpertServiceDefinition extends ServiceDefinition {
  Dispatch: MethodDefinition<ExpertRequestMessage, ExpertReplyMessage>;
  Compute: MethodDefinition<ExpertRequestMessage, ExpertReplyMessage>;
  Info: MethodDefinition<InfoRequestMessage, WorkerInfoMessage>;
  Echo: MethodDefinition<EchoMessage, EchoMessage>;
}

/** The folder holding proto/expert.proto: walked up to from this file, so src and dist/ both work. */
function protoFile(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'proto', 'expert.proto');
    if (existsSync(candidate) && existsSync(path.join(dir, 'package.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`proto/expert.proto not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

let loaded: ExpertServiceDefinition | null = null;

/** The gptoss.v1.ExpertService definition, loaded on first use and shared afterwards. */
export function expertServiceDefinition(): ExpertServiceDefinition {
  if (!loaded) {
    const pkg = loadSync(protoFile(), { keepCase: false, longs: Number, bytes: Buffer, defaults: true, arrays: true, oneofs: false });
    const service = pkg['gptoss.v1.ExpertService'];
    if (!service || !('Dispatch' in service)) throw new Error('proto/expert.proto does not define gptoss.v1.ExpertService');
    // proto-loader's definitions are untyped; the interfaces above are checked against the file
    // by the wire tests, not by the compiler.
    loaded = service as unknown as ExpertServiceDefinition;
  }
  return loaded;
}
