// Coordinator processes of a local cluster (`npm start -- --coordinators M`, the multi-coordinator
// tests): each is `gptoss coordinator` spawned from this package's own CLI (cli-child.ts), reports its URL on
// stdout when it serves, is stopped with SIGTERM (then SIGKILL) and is killed if this process exits.
import type { ChildProcess } from 'node:child_process';
import { hasExited, signalAndWait, startCliChild } from './cli-child.js';

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
    const ready = (msg: Record<string, unknown>, child: ChildProcess) =>
      msg['event'] === 'coordinator-ready' && typeof msg['url'] === 'string' && msg['url'] && typeof msg['coordinatorId'] === 'string' && msg['coordinatorId']
        ? new CoordinatorProcess(msg['url'], msg['coordinatorId'], child)
        : undefined;
    return startCliChild(CoordinatorProcess.args(o), o, 'coordinator', ready);
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  get exited(): boolean {
    return hasExited(this.child);
  }

  /** SIGTERM: finish the requests in flight, release the placement lease, exit; SIGKILL after graceMs. */
  stop(graceMs = 10_000): Promise<void> {
    return signalAndWait(this.child, 'SIGTERM', graceMs);
  }

  /** SIGKILL (a crash); resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGKILL');
    await gone;
  }
}
