// Expert worker processes of a local cluster: spawned from this package's own CLI, each reporting
// its address on stdout, stopped with SIGTERM (then SIGKILL) and killed if this process exits.
import type { ChildProcess } from 'node:child_process';
import { signalAndWait, startCliChild } from './cli-child.js';

export interface WorkerProcessOptions {
  readonly model: string;
  readonly natsUrl: string;
  readonly workerId: string;
  readonly threads: number;
  readonly precision: string;
  readonly heartbeatMs?: number;
  readonly capacity?: number;
  readonly logLevel?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** 'host:port' to listen on (default 127.0.0.1:0, a free port). */
  readonly listen?: string;
  /** 'host:port' the worker announces instead of its listen address (e.g. a proxy in front of it). */
  readonly advertise?: string;
}

export class WorkerProcess {
  private constructor(
    readonly workerId: string,
    readonly address: string,
    readonly child: ChildProcess,
  ) {}

  static start(o: WorkerProcessOptions): Promise<WorkerProcess> {
    const args = ['worker', '--model', o.model, '--listen', o.listen ?? '127.0.0.1:0', '--nats', o.natsUrl, '--worker-id', o.workerId, '--threads', String(o.threads), '--expert-precision', o.precision, '--exit-with-parent'];
    if (o.heartbeatMs) args.push('--heartbeat-ms', String(o.heartbeatMs));
    if (o.capacity) args.push('--capacity', String(o.capacity));
    if (o.advertise) args.push('--advertise', o.advertise);
    const ready = (msg: Record<string, unknown>, child: ChildProcess) =>
      msg['event'] === 'worker-ready' && typeof msg['address'] === 'string' && msg['address'] ? new WorkerProcess(o.workerId, msg['address'], child) : undefined;
    return startCliChild(args, o, `worker ${o.workerId}`, ready);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** SIGINT: finish what is in flight and leave now (the whole cluster is stopping); SIGKILL after graceMs. */
  stop(graceMs = 10_000): Promise<void> {
    return signalAndWait(this.child, 'SIGINT', graceMs);
  }

  /** SIGTERM, as Kubernetes sends: hand the experts over to other workers first, then leave. */
  drain(graceMs = 60_000): Promise<void> {
    return signalAndWait(this.child, 'SIGTERM', graceMs);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}
