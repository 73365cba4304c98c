// Expert worker processes of a local cluster: spawned from this package's own CLI, each reporting
// its address on stdout, stopped with SIGTERM (then SIGKILL) and killed if this process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

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
    const args = [CLI, 'worker', '--model', o.model, '--listen', o.listen ?? '127.0.0.1:0', '--nats', o.natsUrl, '--worker-id', o.workerId, '--threads', String(o.threads), '--expert-precision', o.precision, '--exit-with-parent'];
    if (o.heartbeatMs) args.push('--heartbeat-ms', String(o.heartbeatMs));
    if (o.capacity) args.push('--capacity', String(o.capacity));
    if (o.advertise) args.push('--advertise', o.advertise);
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'warn', ...o.env } });
    live.add(child);
    child.once('exit', () => live.delete(child));
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-8192);
      if (o.logLevel && o.logLevel !== 'silent') process.stderr.write(d);
    });
    return new Promise((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line) as { event?: string; address?: string };
          if (msg.event === 'worker-ready' && msg.address) resolve(new WorkerProcess(o.workerId, msg.address, child));
        } catch {
          // not a control line
        }
      });
      child.once('exit', (code, signal) => reject(new Error(`worker ${o.workerId} exited (${code ?? signal}) before it was ready:\n${stderr}`)));
      child.once('error', reject);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** SIGINT: finish what is in flight and leave now (the whole cluster is stopping); SIGKILL after graceMs. */
  stop(graceMs = 10_000): Promise<void> {
    return this.signalAndWait('SIGINT', graceMs);
  }

  /** SIGTERM, as Kubernetes sends: hand the experts over to other workers first, then leave. */
  drain(graceMs = 60_000): Promise<void> {
    return this.signalAndWait('SIGTERM', graceMs);
  }

  private async signalAndWait(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}
