// Serving benchmark: a local cluster (coordinator + 2 worker processes, nats, redis) under 1, 8
// and 32 concurrent streams: output tokens/s, time to first token and inter-token latency p50/p99;
// and time to first token of a continued conversation with and without its KV in Redis.
import { WorkerProcess } from '../cli/worker-processes.js';
import { DEFAULT_CHECKPOINT_SPEC } from '../common/checkpoint/checkpoint-writer.js';
import { NatsServer } from '../common/local/nats-server-process.js';
import { RedisServer } from '../common/local/redis-server-process.js';
import { createLogger } from '../common/log.js';
import { startCoordinator, type Coordinator } from '../coordinator/coordinator-service.js';
import { benchModel, percentile, table } from './bench-util.js';

export const SERVING_SPEC = { ...DEFAULT_CHECKPOINT_SPEC, layers: 4, hidden: 256, heads: 8, kvHeads: 2, headDim: 32, experts: 16, intermediate: 256, slidingWindow: 128 };

interface StreamTiming {
  ttftMs: number;
  gapsMs: number[];
  tokens: number;
}

/** One streamed completion; every SSE chunk carries one token. */
async function streamCompletion(url: string, prompt: number[], maxTokens: number): Promise<StreamTiming> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const arrivals: number[] = [];
  let tokens = 0;
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, i);
      buffered = buffered.slice(i + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const body = JSON.parse(event.slice(6)) as { choices: unknown[]; usage?: { completion_tokens: number } };
      if (body.usage) tokens = body.usage.completion_tokens;
      if (body.choices.length > 0) arrivals.push(performance.now());
    }
  }
  return { ttftMs: arrivals[0]! - t0, gapsMs: arrivals.slice(1).map((t, j) => t - arrivals[j]!), tokens };
}

function randomPrompt(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % 199_000);
}

export async function runServingBench(): Promise<void> {
  const model = await benchModel('serving', SERVING_SPEC);
  const log = createLogger('bench', 'silent');
  const nats = await NatsServer.start();
  const redis = await RedisServer.start();
  const workers = await Promise.all([1, 2].map((i) => WorkerProcess.start({ model, natsUrl: nats.url, workerId: `bench-${i}`, threads: 1, precision: 'fp32' })));
  let coordinator: Coordinator | null = null;
  const startCoord = async (): Promise<Coordinator> => {
    const c = await startCoordinator({ model, nats: { servers: nats.url }, redisUrl: redis.url, host: '127.0.0.1', port: 0, replication: 1, denseThreads: 1, initialWorkers: 2, maxBatchSize: 32 }, log);
    await c.experts.settled(2, 120_000);
    return c;
  };
  try {
    coordinator = await startCoord();
    console.log(`\n## Serving (local cluster: coordinator + 2 worker processes; model: ${SERVING_SPEC.layers} layers, hidden ${SERVING_SPEC.hidden}, ${SERVING_SPEC.experts} experts, vocab ${SERVING_SPEC.vocab}; prompts of 64 tokens, 64 output tokens, greedy)\n`);
    const rows: string[][] = [];
    for (const concurrency of [1, 8, 32]) {
      await streamCompletion(coordinator.url, randomPrompt(64, 999), 4); // warm-up
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: concurrency }, (_, i) => streamCompletion(coordinator!.url, randomPrompt(64, i), 64)));
      const seconds = (performance.now() - t0) / 1000;
      const tokens = runs.reduce((s, r) => s + r.tokens, 0);
      const ttft = runs.map((r) => r.ttftMs).sort((a, b) => a - b);
      const gaps = runs.flatMap((r) => r.gapsMs).sort((a, b) => a - b);
      rows.push([String(concurrency), (tokens / seconds).toFixed(1), percentile(ttft, 50).toFixed(0), percentile(ttft, 99).toFixed(0), percentile(gaps, 50).toFixed(1), percentile(gaps, 99).toFixed(1)]);
    }
    console.log(table(['streams', 'output tokens/s', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms'], rows));

    // A 1,500-token conversation's next turn: cold (nothing stored) vs after a coordinator restart
    // with its blocks in Redis (the new coordinator has nothing in memory).
    const history = randomPrompt(1500, 4242);
    const turn2 = [...history, ...randomPrompt(20, 4243)];
    const cold = await streamCompletion(coordinator.url, turn2, 1);
    await streamCompletion(coordinator.url, randomPrompt(1500, 5252), 1); // persists its blocks
    const stored = [...randomPrompt(1500, 5252), ...randomPrompt(20, 5253)];
    await new Promise((r) => setTimeout(r, 500));
    await coordinator.close();
    coordinator = await startCoord();
    const warm = await streamCompletion(coordinator.url, stored, 1);
    console.log('\nTime to first token of a continued 1,520-token conversation on a freshly started coordinator:\n');
    console.log(table(['KV of the first 1,500 tokens', 'TTFT ms'], [['not stored (full prefill)', cold.ttftMs.toFixed(0)], ['in Redis (loaded, 20-token prefill)', warm.ttftMs.toFixed(0)]]));
  } finally {
    await coordinator?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
    await nats.stop();
  }
}
