// A throwaway redis-server (local clusters and integration tests):
//   redis-server --port <free port> --save "" --appendonly no --bind 127.0.0.1
// Nothing is persisted: `restart()` brings back an empty server on the same port.
import net from 'node:net';
import { freePort } from './free-port.js';
import { ServerProcess } from './server-process.js';

export { killServersOnSignals } from './server-process.js';

export interface RedisServerOptions {
  /** The binary. Default $REDIS_SERVER or "redis-server" on PATH. */
  readonly binary?: string;
  /** Milliseconds to wait for the server to answer PING. Default 10000. */
  readonly startTimeoutMs?: number;
}

export class RedisServer extends ServerProcess {
  readonly url: string;
  protected readonly killSignal = 'SIGKILL';

  private constructor(port: number, binary: string, startTimeoutMs: number) {
    super(port, binary, startTimeoutMs);
    this.url = `redis://127.0.0.1:${port}`;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const binary = options.binary ?? process.env['REDIS_SERVER'] ?? 'redis-server';
    return ServerProcess.launch(new RedisServer(await freePort(), binary, options.startTimeoutMs ?? 10_000));
  }

  protected args(): string[] {
    return ['--port', String(this.port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'];
  }

  protected waitUntilServing(): Promise<void> {
    return waitForPing(this.port, this.startTimeoutMs);
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
