// `npm run bench -- fairness`: one worker shared by two coordinators' Dispatch streams. Stream A
// is busy with back-to-back prefill-sized requests; stream B sends one-token decode requests. B's
// latency alone and beside A shows whether a busy coordinator starves another (head-of-line
// blocking); A's rows/s shows what the chunking costs. Fair sharing (row chunks on per-stream
// turns) against the old behaviour (chunkRows 0: a request is one job).
import { Checkpoint } from '../common/checkpoint/checkpoint.js';
import { DEFAULT_CHECKPOINT_SPEC } from '../common/checkpoint/checkpoint-writer.js';
import { ExpertClient } from '../coordinator/experts/expert-client.js';
import { ExpertPool } from '../common/experts/expert-pool.js';
import { startExpertServer } from '../worker/expert-service.js';
import { benchModel, percentile, table } from './bench-util.js';

const SPEC = { ...DEFAULT_CHECKPOINT_SPEC, layers: 1, hidden: 768, intermediate: 768, experts: 8, topK: 4, vocab: 4096, shards: 1 };
const PREFILL_ROWS = 512;
const DECODES = 100;

function request(T: number, E: number, k: number, H: number, seed: number) {
  const hidden = new Float32Array(T * H).map((_, i) => Math.sin(i + seed) * 0.5);
  const rows = Int32Array.from({ length: T * k }, (_, i) => Math.floor(i / k));
  const experts = Int32Array.from({ length: T * k }, (_, i) => (Math.floor(i / k) + (i % k) * 2 + seed) % E);
  const weights = new Float32Array(T * k).fill(1 / k);
  return { hidden, T, rows, experts, weights };
}

export async function runFairnessBench(): Promise<void> {
  const model = await benchModel('fairness', SPEC);
  const ckpt = await Checkpoint.open(model);
  const c = ckpt.config;
  const rows: string[][] = [];
  const variants = [
    ['one job per request (chunkRows 0)', 0, 2],
    ['64-row chunks, 2 in flight (default)', 64, 2],
    ['32-row chunks, 1 in flight', 32, 1],
  ] as const;
  for (const [label, chunkRows, maxInFlight] of variants) {
    const pool = await ExpertPool.create({ checkpointDir: model, threads: 2 });
    for (let e = 0; e < c.numExperts; e++) await pool.load(0, e);
    const server = await startExpertServer({ listen: '127.0.0.1:0', pool, fingerprint: ckpt.fingerprint, workerId: 'fair', chunkRows, maxInFlight });
    const client = (id: string) => new ExpertClient({ address: `127.0.0.1:${server.port}`, workerId: id, fingerprint: ckpt.fingerprint });
    const a = client('coordinator-a');
    const b = client('coordinator-b');
    const big = request(PREFILL_ROWS, c.numExperts, c.expertsPerToken, c.hiddenSize, 1);
    const small = request(1, c.numExperts, c.expertsPerToken, c.hiddenSize, 2);
    const decode = () => b.dispatch(0, small.hidden, 1, small.rows, small.experts, small.weights);
    const prefill = () => a.dispatch(0, big.hidden, big.T, big.rows, big.experts, big.weights);
    for (let i = 0; i < 3; i++) await Promise.all([decode(), prefill()]);
    const decodeLatencies = async (): Promise<number[]> => {
      const ms: number[] = [];
      for (let i = 0; i < DECODES; i++) {
        const t0 = performance.now();
        await decode();
        ms.push(performance.now() - t0);
      }
      return ms.sort((x, y) => x - y);
    };
    const alone = await decodeLatencies();
    // A keeps its stream busy (one request in flight, like a coordinator's forward step).
    let busy = true;
    let prefillRows = 0;
    const t0 = performance.now();
    const aLoop = (async () => {
      while (busy) {
        await prefill();
        prefillRows += PREFILL_ROWS;
      }
    })();
    const beside = await decodeLatencies();
    busy = false;
    await aLoop;
    const aRate = prefillRows / ((performance.now() - t0) / 1000);
    const t1 = performance.now();
    for (let i = 0; i < 4; i++) await prefill();
    const aAlone = (4 * PREFILL_ROWS) / ((performance.now() - t1) / 1000);
    const mean = beside.reduce((x, y) => x + y, 0) / beside.length;
    rows.push([label, percentile(alone, 50).toFixed(1), percentile(beside, 50).toFixed(1), mean.toFixed(1), percentile(beside, 90).toFixed(1), percentile(beside, 99).toFixed(1), aAlone.toFixed(0), aRate.toFixed(0)]);
    await a.close();
    await b.close();
    await server.close();
    await pool.close();
  }
  process.stdout.write(`\n### Fair worker sharing (one worker, 2 threads; hidden ${SPEC.hidden}, ${SPEC.experts} experts, top-${SPEC.topK}; A: ${PREFILL_ROWS}-row requests back to back, B: 1-row requests)\n\n`);
  process.stdout.write(
    table(['worker', 'B ms p50 alone', 'B ms p50 beside busy A', 'mean', 'p90', 'p99', 'A rows/s alone', 'A rows/s beside B'], rows) + '\n',
  );
}
