// A throwaway nats-server with JetStream (local clusters and integration tests):
//   nats-server -js -a 127.0.0.1 -p <free port> -sd <tmpdir>
// `restart()` brings it back on the same port with the same store dir (KV state survives);
// `stop()` kills it and removes the dir. Every server still running when the process exits
// (a failed test, Ctrl-C) is killed and its dir removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './free-port.js';

export interface NatsServerOptions {
  /** The binary. Default $NATS_SERVER or "nats-server" on PATH. */
  readonly binary?: string;
  /** Milliseconds to wait for the server to accept connections. Default 10000. */
  readonly startTimeoutMs?: number;
}

const live = new Set<NatsServer>();
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
export function killServersOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const server of live) server.killNow();
      process.kill(process.pid, signal);
    });
  }
}

export class NatsServer {
  readonly url: string;
  private child: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly port: number,
    readonly storeDir: string,
    private readonly binary: string,
    private readonly startTimeoutMs: number,
  ) {
    this.url = `nats://127.0.0.1:${port}`;
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    installExitHook();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gptoss-nats-'));
    const server = new NatsServer(await freePort(), dir, options.binary ?? process.env['NATS_SERVER'] ?? 'nats-server', options.startTimeoutMs ?? 10_000);
    live.add(server);
    try {
      await server.spawn();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** The server's recent stderr, for assertion messages. */
  logTail(): string {
    return this.log;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Kills the server (SIGTERM, then SIGKILL) and starts it again on the same port and store dir. */
  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.spawn();
  }

  /** Kills the server and removes its store dir. Idempotent. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
    live.delete(this);
  }

  /** Synchronous last-resort cleanup for process exit. */
  killNow(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
    rmSync(this.storeDir, { recursive: true, force: true });
  }

  private async spawn(): Promise<void> {
    const args = ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.log = (this.log + chunk).slice(-16_384);
    });
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot run ${this.binary}: ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`nats-server exited with ${code} before accepting connections:\n${this.log}`)));
    });
    exited.catch(() => {});
    await Promise.race([waitForPort(this.port, '127.0.0.1', this.startTimeoutMs), exited]);
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}
