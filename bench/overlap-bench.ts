// Micro-batch overlap and dispatch overhead on the serving bench's small model (4 layers, hidden
// 256, 16 experts, vocab 201,088), where expert compute is negligible and every decode step is a
// chain of per-layer round trips. Two worker processes sit behind latency proxies adding a fixed
// one-way delay per direction, as if on other machines. Ends with one summary line:
//   overlap: speedup=S retained=R dispatch=D
// S = batch-32 tok/s with overlap / without at 0.5 ms; R = with-overlap tok/s at 1 ms / at 0 ms;
// D = one-token dispatch round trip, less the compute time the worker reports, / a bare echo of
// the same bytes on the same kind of stream (no proxy): the dispatch bench's overhead / floor.
import { Engine } from '../common/engine/engine.js';
import { ForwardPass, type OverlapPolicy } from '../common/engine/forward-pass.js';
import { encodeTensor, float32Bytes, int32Bytes } from '../common/wire/tensor-codec.js';
import { expertServiceDefinition } from '../common/wire/expert-proto.js';
import { ExpertClient } from '../coordinator/experts/expert-client.js';
import { startLocalCluster, type LocalCluster } from '../cli/local-cluster.js';
import { benchModel, table, timeIt } from './bench-util.js';
import { SERVING_SPEC } from './serving-bench.js';

const DELAYS_MS = [0, 0.25, 0.5, 1];
const BATCH = 32;

/** Decode tokens/s of `forward` at `batch` sequences (16-token prompts, then one token each). */
async function decodeRate(forward: ForwardPass, newCache: () => ReturnType<Engine['newCache']>, batch: number, steps: number): Promise<number> {
  const caches = Array.from({ length: batch }, () => newCache());
  await forward.step(caches.map((cache, b) => ({ cache, tokens: Array.from({ length: 16 }, (_, i) => (i * 7919 + b * 131) % 200000), wantLogits: false })));
  let t = 0;
  const ms = await timeIt(() => forward.step(caches.map((cache) => ({ cache, tokens: [1000 + (t++ % 5000)], wantLogits: true }))), 2, steps);
  return (batch * 1000) / ms;
}

/** Median ms of a one-worker dispatch of T tokens x k held experts, and of an echo of the same bytes. */
async function dispatchVsEcho(cluster: LocalCluster, T: number): Promise<{ dispatchMs: number; computeMs: number; overheadMs: number; echoMs: number }> {
  const config = cluster.engine.config;
  const H = config.hiddenSize;
  const w = cluster.experts.membership.workers()[0]!;
  const direct = cluster.workers.find((p) => p.workerId === w.workerId)!.address;
  const held = w.held.filter((s) => s < config.numExperts).slice(0, config.expertsPerToken);
  const client = new ExpertClient({ address: direct, workerId: w.workerId, fingerprint: cluster.engine.checkpoint.fingerprint });
  try {
    const hidden = new Float32Array(T * H).map((_, i) => Math.sin(i) * 0.5);
    const rows = Int32Array.from({ length: T * held.length }, (_, i) => Math.floor(i / held.length));
    const experts = Int32Array.from({ length: T * held.length }, (_, i) => held[i % held.length]!);
    const weights = new Float32Array(T * held.length).fill(1 / held.length);
    const request = { requestId: 1, layer: 0, hidden: encodeTensor(hidden, [T, H]), rows: int32Bytes(rows), experts: int32Bytes(experts), weights: float32Bytes(weights), replyDtype: 1 };
    const payload = new Uint8Array(expertServiceDefinition().Dispatch.requestSerialize(request as never).length);
    const trips: number[] = [];
    const overheads: number[] = [];
    const computes: number[] = [];
    for (let i = 0; i < 220; i++) {
      const s0 = client.stats();
      const t0 = performance.now();
      await client.dispatch(0, hidden, T, rows, experts, weights);
      const trip = performance.now() - t0;
      const compute = client.stats().workerComputeMs - s0.workerComputeMs;
      if (i < 20) continue;
      trips.push(trip);
      computes.push(compute);
      overheads.push(trip - compute);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const dispatchMs = median(trips);
    const computeMs = median(computes);
    const overheadMs = median(overheads);
    const echoMs = await timeIt(() => client.echo(payload), 20, 200);
    return { dispatchMs, computeMs, overheadMs, echoMs };
  } finally {
    await client.close();
  }
}

export async function runOverlapBench(): Promise<void> {
  const model = await benchModel('serving', SERVING_SPEC);
  console.log(
    `\n## Overlap (2 worker processes behind latency proxies; model: ${SERVING_SPEC.layers} layers, hidden ${SERVING_SPEC.hidden}, ` +
      `${SERVING_SPEC.experts} experts, vocab ${SERVING_SPEC.vocab}; decode after 16-token prompts)\n`,
  );
  const single = await Engine.loadLocal(model, { denseThreads: 1 });
  const singleMsPerToken = 1000 / (await decodeRate(single.forward, () => single.newCache(), 1, 20));
  await single.close();

  const rows: string[][] = [];
  const rate: Record<string, number> = {};
  let dispatch: string[][] = [];
  let clusterMsPerToken = NaN;
  for (const delay of DELAYS_MS) {
    const cluster = await startLocalCluster({ model, workers: 2, replication: 1, expertPrecision: 'fp32', quiet: true, linkDelayMs: delay });
    try {
      const { model: dense, experts } = cluster.engine.forward;
      const pass = (overlap: OverlapPolicy) => new ForwardPass(dense, experts, { overlap });
      const newCache = () => cluster.engine.newCache();
      const without = await decodeRate(pass('never'), newCache, BATCH, 10);
      const withOverlap = await decodeRate(pass('always'), newCache, BATCH, 10);
      const auto = pass('auto');
      const automatic = await decodeRate(auto, newCache, BATCH, 10);
      const chosen = `${auto.counters.overlappedSteps}/${auto.counters.steps}`;
      const batch1 = 1000 / (await decodeRate(pass('auto'), newCache, 1, 20));
      rate[`${delay}/on`] = withOverlap;
      rate[`${delay}/off`] = without;
      rows.push([String(delay), without.toFixed(1), withOverlap.toFixed(1), (withOverlap / without).toFixed(2), `${automatic.toFixed(1)} (${chosen} split)`, batch1.toFixed(1)]);
      if (delay === 0) {
        clusterMsPerToken = batch1;
        for (const T of [1, 32]) {
          const d = await dispatchVsEcho(cluster, T);
          dispatch.push([String(T), d.dispatchMs.toFixed(3), d.computeMs.toFixed(3), d.echoMs.toFixed(3), (d.dispatchMs / d.echoMs).toFixed(2), (d.overheadMs / d.echoMs).toFixed(2)]);
        }
      }
    } finally {
      await cluster.stop();
    }
  }
  console.log(table(['one-way delay ms', `batch ${BATCH} tok/s, whole steps`, `batch ${BATCH} tok/s, 2 micro-batches`, 'speedup', `batch ${BATCH} tok/s, auto policy`, 'batch 1 ms/token'], rows));
  console.log(`\nbatch 1, no proxy: single process ${singleMsPerToken.toFixed(1)} ms/token, cluster of 2 workers ${clusterMsPerToken.toFixed(1)} ms/token (${(clusterMsPerToken / singleMsPerToken).toFixed(2)}x)\n`);
  console.log(table(['tokens', 'dispatch ms', 'worker compute ms', 'echo ms (floor)', 'dispatch / echo', '(dispatch - compute) / echo, median'], dispatch));
  dispatch = dispatch.filter((r) => r[0] === '1');
  const S = rate['0.5/on']! / rate['0.5/off']!;
  const R = rate['1/on']! / rate['0/on']!;
  console.log(`\noverlap: speedup=${S.toFixed(2)} retained=${R.toFixed(2)} dispatch=${dispatch[0]![5]}`);
}
