// Runs in its own process so each configuration's memory is returned to the OS when it ends:
//   node dist/bench/decode-probe.js MODEL single|WORKERS  -> one JSON line {"1": tok/s, "32": tok/s}
import { Engine } from '../common/engine/engine.js';
import type { KvCache } from '../common/engine/kv-cache.js';
import { startLocalCluster } from '../cli/local-cluster.js';
import { timeIt } from './bench-util.js';

export async function decodeTokensPerSecond(engine: Engine, batch: number): Promise<number> {
  const caches: KvCache[] = Array.from({ length: batch }, () => engine.newCache());
  await engine.forward.step(caches.map((cache, b) => ({ cache, tokens: Array.from({ length: 16 }, (_, i) => (i * 7919 + b * 131) % 200000), wantLogits: false })));
  let t = 0;
  const ms = await timeIt(() => engine.forward.step(caches.map((cache) => ({ cache, tokens: [1000 + (t++ % 5000)], wantLogits: true }))), 1, 4);
  return (batch * 1000) / ms;
}

async function main(): Promise<void> {
  const [model, mode] = process.argv.slice(2);
  if (!model || !mode) throw new Error('usage: decode-probe MODEL single|WORKERS');
  const rates: Record<string, number> = {};
  if (mode === 'single') {
    const engine = await Engine.loadLocal(model, { denseThreads: 2, experts: { precision: 'fp32' } });
    for (const b of [1, 32]) rates[b] = await decodeTokensPerSecond(engine, b);
    await engine.close();
  } else {
    const cluster = await startLocalCluster({ model, workers: Number(mode), replication: 1, expertPrecision: 'fp32', quiet: true, denseThreads: 2 });
    for (const b of [1, 32]) rates[b] = await decodeTokensPerSecond(cluster.engine, b);
    await cluster.stop();
  }
  process.stdout.write(JSON.stringify(rates) + '\n');
}

if (process.argv[1]?.endsWith('decode-probe.js')) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(String(err instanceof Error ? err.stack : err) + '\n');
      process.exit(1);
    },
  );
}
