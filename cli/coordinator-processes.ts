// Coordinator processes of a local cluster (`npm start -- --coordinators M`, the multi-coordinator
// tests): each is `gptoss coordinator` spawned from this package's own CLI, reports its URL on
// stdout when it serves, is stopped with SIGTERM (then SIGKILL) and is killed if this process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface CoordinatorProcessOptions {
  readonly model: string;
  readonly natsUrl: string;
  /** Redis URL, or null for none. */
  readonly redisUrl: string | null;
  /** HTTP port; 0 picks a free one. */
  readonly port: number;
  readonly host?: string;
  readonly replication?: number;
  readonly servedModelName?: string;
  readonly threads?: number;
  readonly minWorkers?: number;
  readonly coordinatorId?: string;
  readonly leaseTtlMs?: number;
  readonly leaseRenewMs?: number;
  readonly heartbeatTimeoutMs?: number;
  readonly logLevel?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export class CoordinatorProcess {
  private constructor(
    readonly url: string,
    readonly coordinatorId: string,
    readonly child: ChildProcess,
  ) {}

  /** The command line `start` would run (also what the banner and tests name). */
  static args(o: CoordinatorProcessOptions): string[] {
    const args = ['coordinator', '--model', o.model, '--nats', o.natsUrl, '--redis', o.redisUrl ?? 'none', '--host', o.host ?? '127.0.0.1', '--port', String(o.port), '--exit-with-parent'];
    const optional: [string, string | number | undefined][] = [
      ['--replication', o.replication],
      ['--served-model-name', o.servedModelName],
      ['--threads', o.threads],
      ['--min-workers', o.minWorkers],
      ['--coordinator-id', o.coordinatorId],
      ['--lease-ttl-ms', o.leaseTtlMs],
      ['--lease-renew-ms', o.leaseRenewMs],
      ['--heartbeat-timeout-ms', o.heartbeatTimeoutMs],
    ];
    for (const [flag, value] of optional) if (value !== undefined) args.push(flag, String(value));
    return args;
  }

  static start(o: CoordinatorProcessOptions): Promise<CoordinatorProcess> {
    const child = spawn(process.execPath, [CLI, ...CoordinatorProcess.args(o)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'warn', ...o.env } });
    live.add(child);
    child.once('exit', () => live.delete(child));
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-8192);
      if (o.logLevel && o.logLevel !== 'silent') process.stderr.write(d);
    });
    return new Promise((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          const msg = JSON.parse(line) as { event?: string; url?: string; coordinatorId?: string };
          if (msg.event === 'coordinator-ready' && msg.url && msg.coordinatorId) resolve(new CoordinatorProcess(msg.url, msg.coordinatorId, child));
        } catch {
          // not a control line
        }
      });
      child.once('exit', (code, signal) => reject(new Error(`coordinator exited (${code ?? signal}) before it was ready:\n${stderr}`)));
      child.once('error', reject);
    });
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** SIGTERM: finish the requests in flight, release the placement lease, exit; SIGKILL after graceMs. */
  async stop(graceMs = 10_000): Promise<void> {
    const c = this.child;
    if (this.exited) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }

  /** SIGKILL (a crash); resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGKILL');
    await gone;
  }
}
