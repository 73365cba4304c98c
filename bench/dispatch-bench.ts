// Dispatch benchmark: the per-layer round trip of a real expert dispatch against a bare echo of the
// same payload over the same kind of gRPC stream (the floor), bytes on the wire per token per
// layer against the minimum, and cluster decode throughput beside the single-process engine.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { expertServiceDefinition } from '../common/wire/expert-proto.js';
import { encodeTensor, float32Bytes, int32Bytes } from '../common/wire/tensor-codec.js';
import { ExpertClient } from '../coordinator/experts/expert-client.js';
import { startLocalCluster } from '../cli/local-cluster.js';
import { benchModel, table, timeIt, REAL_20B_LAYER_SPEC } from './bench-util.js';

/** Decode tokens/s at batch 1 and 32, measured in a child process of its own. */
function probe(model: string, mode: string): Record<string, number> {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('./decode-probe.js', import.meta.url)), model, mode], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`decode probe ${mode} failed`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

export async function runDispatchBench(): Promise<void> {
  const model = await benchModel('20b-layers', REAL_20B_LAYER_SPEC);
  console.log('\n## Dispatch (2 layers of gpt-oss-20b size; real worker processes, gRPC over loopback)\n');
  const config = (await Checkpoint.open(model)).config;
  const H = config.hiddenSize;
  const k = config.expertsPerToken;
  const single = probe(model, 'single');

  const rttRows: string[][] = [];
  const wireRows: string[][] = [];
  const decodeRows: string[][] = [[`single process`, single['1']!.toFixed(2), single['32']!.toFixed(2), '']];
  for (const workers of [2, 4]) {
    const rates = probe(model, String(workers));
    decodeRows.push([`cluster, ${workers} workers`, rates['1']!.toFixed(2), rates['32']!.toFixed(2), `${((rates['32']! / single['32']!) * 100).toFixed(0)}%`]);
  }
  // Per-layer round trip against one worker of a 2-worker cluster: T tokens x k experts it holds, vs echo.
  const cluster = await startLocalCluster({ model, workers: 2, replication: 1, expertPrecision: 'fp32', quiet: true });
  try {
    const w = cluster.experts.membership.workers()[0]!;
    const held = w.held.filter((s) => s < config.numExperts).slice(0, k);
    const client = new ExpertClient({ address: w.address, workerId: w.workerId, fingerprint: cluster.engine.checkpoint.fingerprint });
    const def = expertServiceDefinition();
    for (const T of [1, 32]) {
      const hidden = new Float32Array(T * H).map((_, i) => Math.sin(i) * 0.5);
      const rowsA = Int32Array.from({ length: T * held.length }, (_, i) => Math.floor(i / held.length));
      const expertsA = Int32Array.from({ length: T * held.length }, (_, i) => held[i % held.length]!);
      const weightsA = new Float32Array(T * held.length).fill(1 / held.length);
      const request = { requestId: 1, layer: 0, hidden: encodeTensor(hidden, [T, H]), rows: int32Bytes(rowsA), experts: int32Bytes(expertsA), weights: float32Bytes(weightsA), replyDtype: 1 };
      const reply = { requestId: 1, output: encodeTensor(hidden, [T, H]), statusCode: 0, error: '', computeMs: 1.5 };
      const reqBytes = def.Dispatch.requestSerialize(request as never).length;
      const repBytes = def.Dispatch.responseSerialize(reply as never).length;
      // Per call: the round trip, and the worker's own compute time for it (from its reply).
      for (let i = 0; i < 2; i++) await client.dispatch(0, hidden, T, rowsA, expertsA, weightsA);
      const trips: number[] = [];
      const computes: number[] = [];
      for (let i = 0; i < 10; i++) {
        const s0 = client.stats();
        const t0 = performance.now();
        await client.dispatch(0, hidden, T, rowsA, expertsA, weightsA);
        trips.push(performance.now() - t0);
        computes.push(client.stats().workerComputeMs - s0.workerComputeMs);
      }
      const overheads = trips.map((t, i) => t - computes[i]!).sort((a, b) => a - b);
      const dispatchMs = [...trips].sort((a, b) => a - b)[5]!;
      const computeMs = [...computes].sort((a, b) => a - b)[5]!;
      const payload = new Uint8Array(reqBytes);
      const echoMs = await timeIt(() => client.echo(payload), 2, 10);
      const overhead = overheads[5]!;
      rttRows.push([String(T), String(held.length), dispatchMs.toFixed(3), computeMs.toFixed(3), overhead.toFixed(3), echoMs.toFixed(3), (overhead / echoMs).toFixed(2)]);
      const minimum = 2 * H * 4 + k * 8;
      wireRows.push([String(T), ((reqBytes + repBytes) / T).toFixed(0), String(minimum), ((reqBytes + repBytes) / T / minimum).toFixed(3)]);
    }
    await client.close();
  } finally {
    await cluster.stop();
  }
  console.log(table(['tokens', 'experts', 'dispatch ms', 'worker compute ms', 'dispatch - compute (median)', 'echo ms (floor)', 'overhead / floor'], rttRows));
  console.log('\nBytes on the wire per token per layer, one worker holding all k of its experts (minimum: the activation out and back, fp32, plus k expert ids and weights):\n');
  console.log(table(['tokens', 'bytes / token', 'minimum', 'ratio'], wireRows));
  console.log('\nDecode tokens/s, same model, same run:\n');
  console.log(table(['engine', 'batch 1', 'batch 32', 'batch 32 vs single'], decodeRows));
}
