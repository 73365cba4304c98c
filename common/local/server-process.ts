// The lifecycle shared by the throwaway servers a local cluster or a test starts (nats-server,
// redis-server): spawn on a fixed port, wait until it serves, kill / restart on the same port,
// and kill whatever is still running when this process exits.
import { spawn, type ChildProcess } from 'node:child_process';

const live = new Set<ServerProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const server of live) server.killNow();
  });
}

/**
 * Also kill every server on SIGINT / SIGTERM and then die of that signal (test runners). A
 * program with its own shutdown on those signals (gptoss start) does not call this.
 */
let signalHookInstalled = false;

export function killServersOnSignals(): void {
  if (signalHookInstalled) return;
  signalHookInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const server of live) server.killNow();
      process.kill(process.pid, signal);
    });
  }
}

export abstract class ServerProcess {
  private child: ChildProcess | null = null;
  private log = '';

  protected constructor(
    readonly port: number,
    private readonly binary: string,
    protected readonly startTimeoutMs: number,
  ) {}

  /** Command-line arguments of the server. */
  protected abstract args(): string[];
  /** Resolves once the server serves; rejects after startTimeoutMs. */
  protected abstract waitUntilServing(): Promise<void>;
  /** How `kill()` ends the server: SIGKILL (no goodbye to clients) or SIGTERM first. */
  protected abstract readonly killSignal: 'SIGKILL' | 'SIGTERM';
  /** Removes what the server leaves behind on disk (after the last stop). */
  protected cleanUp(): void {}

  /** Registers, spawns and waits; a server that does not come up is stopped and the error thrown. */
  protected static async launch<T extends ServerProcess>(server: T): Promise<T> {
    installExitHook();
    live.add(server);
    try {
      await server.spawn();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** The server's recent output, for assertion messages. */
  logTail(): string {
    return this.log;
  }

  /** Ends the server without forgetting it; `restart()` revives it on the same port. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(this.killSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }

  /** Kills the server if running and starts it again on the same port. */
  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.spawn();
  }

  /** Kills the server and removes what it left behind. Idempotent. */
  async stop(): Promise<void> {
    await this.kill();
    this.cleanUp();
    live.delete(this);
  }

  /** Synchronous last-resort cleanup for process exit. */
  killNow(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
    this.cleanUp();
  }

  private async spawn(): Promise<void> {
    const child = spawn(this.binary, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        this.log = (this.log + chunk).slice(-16_384);
      });
    }
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot run ${this.binary}: ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`${this.binary} exited with ${code} before it served:\n${this.log}`)));
    });
    exited.catch(() => {});
    await Promise.race([this.waitUntilServing(), exited]);
  }
}
