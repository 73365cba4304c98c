// A throwaway redis-server (local clusters and integration tests):
//   redis-server --port <free port> --save "" --appendonly no --bind 127.0.0.1
// Nothing is persisted: `restart()` brings back an empty server on the same port. Every server
// still running when the process exits (a failed test, Ctrl-C) is killed.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './free-port.js';

export interface RedisServerOptions {
  /** The binary. Default $REDIS_SERVER or "redis-server" on PATH. */
  readonly binary?: string;
  /** Milliseconds to wait for the server to answer PING. Default 10000. */
  readonly startTimeoutMs?: number;
}

const live = new Set<RedisServer>();
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

export class RedisServer {
  readonly url: string;
  private child: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly port: number,
    private readonly binary: string,
    private readonly startTimeoutMs: number,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    installExitHook();
    const binary = options.binary ?? process.env['REDIS_SERVER'] ?? 'redis-server';
    const server = new RedisServer(await freePort(), binary, options.startTimeoutMs ?? 10_000);
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

  /** Kills the server (SIGKILL: no goodbye to clients) without forgetting it; `restart()` revives it. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }

  /** Kills the server if running and starts an empty one on the same port. */
  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.spawn();
  }

  /** Kills the server. Idempotent. */
  async stop(): Promise<void> {
    await this.kill();
    live.delete(this);
  }

  /** Synchronous last-resort cleanup for process exit. */
  killNow(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }

  private async spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        this.log = (this.log + chunk).slice(-16_384);
      });
    }
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot run ${this.binary}: ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before answering PING:\n${this.log}`)));
    });
    exited.catch(() => {});
    await Promise.race([waitForPing(this.port, this.startTimeoutMs), exited]);
  }
}

/** Resolves once 127.0.0.1:port answers PING with +PONG; rejects after timeoutMs. */
async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pingOnce(port)) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}
