// `npm run bench -- leader`: how long the placement lease takes to change hands, against a real
// nats-server, three contenders (PlacementLease, each on its own connection). Scenarios:
//   crash      the leader's connection closes without releasing (SIGKILL): the key must expire
//   partition  a proxy cuts the leader off NATS: it steps down at once; the others wait for expiry
//   release    the leader closes cleanly (SIGTERM): it deletes the key, the next poll takes it
import net from 'node:net';
import { connectNats, type ClusterConnection } from '../common/cluster/nats-connection.js';
import { clusterSubjects } from '../common/cluster/subjects.js';
import { NatsServer } from '../common/local/nats-server-process.js';
import { PlacementLease } from '../coordinator/control-plane/placement-lease.js';
import { percentile, table } from './bench-util.js';

const ROUNDS = 6;
type Scenario = 'crash' | 'partition' | 'release';

async function waitFor(predicate: () => boolean, timeoutMs = 30_000): Promise<number> {
  const t0 = performance.now();
  while (!predicate()) {
    if (performance.now() - t0 > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

async function proxyTo(port: number): Promise<{ url: string; cut: () => void; close: () => void }> {
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = net.connect({ port, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cut = (): void => {
    open = false;
    for (const s of sockets) s.destroy();
  };
  return { url: `nats://127.0.0.1:${(server.address() as net.AddressInfo).port}`, cut, close: () => (cut(), server.close()) };
}

/** One round: ms until the old leader stops leading and until another one leads. */
async function round(nats: NatsServer, scenario: Scenario, prefix: string, lease: { ttlMs: number; renewMs: number }): Promise<{ stepDownMs: number; takeoverMs: number }> {
  const subjects = clusterSubjects(prefix);
  const proxy = await proxyTo(Number(new URL(nats.url).port));
  const conns: ClusterConnection[] = [];
  const leases: PlacementLease[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await connectNats({ servers: i === 0 ? proxy.url : nats.url, name: `bench-${i}`, reconnectTimeWaitMs: 100 });
      conns.push(conn);
      const l = new PlacementLease(conn.nc, subjects, { id: `c${i}`, ...lease });
      leases.push(l);
      await l.start();
    }
    const [leader, ...others] = leases as [PlacementLease, ...PlacementLease[]];
    await waitFor(() => leader.isLeader());
    // Let a few renewals happen so the lease is in steady state.
    await new Promise((r) => setTimeout(r, lease.renewMs * 2));
    const t0 = performance.now();
    if (scenario === 'crash') await conns[0]!.nc.close();
    else if (scenario === 'partition') proxy.cut();
    else await leader.close();
    const stepDownMs = scenario === 'crash' ? 0 : await waitFor(() => !leader.isLeader());
    await waitFor(() => others.some((l) => l.isLeader()));
    return { stepDownMs, takeoverMs: performance.now() - t0 };
  } finally {
    for (const l of leases) await l.close().catch(() => {});
    for (const c of conns) await c.close().catch(() => {});
    proxy.close();
  }
}

export async function runLeaderBench(): Promise<void> {
  const nats = await NatsServer.start();
  let seq = 0;
  try {
    for (const lease of [{ ttlMs: 3000, renewMs: 1000 }, { ttlMs: 1500, renewMs: 500 }]) {
      const rows: string[][] = [];
      for (const scenario of ['crash', 'partition', 'release'] as const) {
        const take: number[] = [];
        const down: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          const r = await round(nats, scenario, `bench${++seq}`, lease);
          take.push(r.takeoverMs);
          down.push(r.stepDownMs);
        }
        take.sort((a, b) => a - b);
        down.sort((a, b) => a - b);
        rows.push([scenario, scenario === 'crash' ? '-' : percentile(down, 50).toFixed(0), percentile(take, 50).toFixed(0), take[0]!.toFixed(0), take.at(-1)!.toFixed(0)]);
      }
      process.stdout.write(`\n### Placement lease takeover (ttl ${lease.ttlMs} ms, renew ${lease.renewMs} ms; 3 contenders, ${ROUNDS} rounds each)\n\n`);
      process.stdout.write(table(['scenario', 'old leader steps down, ms (median)', 'new leader, ms (median)', 'min', 'max'], rows) + '\n');
    }
  } finally {
    await nats.stop();
  }
}
