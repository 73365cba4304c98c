// A throwaway nats-server with JetStream (local clusters and integration tests):
//   nats-server -js -a 127.0.0.1 -p <free port> -sd <tmpdir>
// `restart()` brings it back on the same port with the same store dir (KV state survives);
// `stop()` kills it and removes the dir.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './free-port.js';
import { ServerProcess } from './server-process.js';

export { killServersOnSignals } from './server-process.js';

export interface NatsServerOptions {
  /** The binary. Default $NATS_SERVER or "nats-server" on PATH. */
  readonly binary?: string;
  /** Milliseconds to wait for the server to accept connections. Default 10000. */
  readonly startTimeoutMs?: number;
}

export class NatsServer extends ServerProcess {
  readonly url: string;
  protected readonly killSignal = 'SIGTERM';

  private constructor(
    port: number,
    readonly storeDir: string,
    binary: string,
    startTimeoutMs: number,
  ) {
    super(port, binary, startTimeoutMs);
    this.url = `nats://127.0.0.1:${port}`;
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gptoss-nats-'));
    return ServerProcess.launch(new NatsServer(await freePort(), dir, options.binary ?? process.env['NATS_SERVER'] ?? 'nats-server', options.startTimeoutMs ?? 10_000));
  }

  protected args(): string[] {
    return ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir];
  }

  protected waitUntilServing(): Promise<void> {
    return waitForPort(this.port, '127.0.0.1', this.startTimeoutMs);
  }

  protected override cleanUp(): void {
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
