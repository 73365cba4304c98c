// The latency proxy (latency-proxy.ts) as a throwaway child process in front of one worker.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './free-port.js';
import { ServerProcess } from './server-process.js';

const PROXY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'latency-proxy.js');

export class LatencyProxyProcess extends ServerProcess {
  protected readonly killSignal = 'SIGKILL';

  private constructor(
    port: number,
    readonly target: string,
    readonly delayMs: number,
  ) {
    super(port, process.execPath, 10_000);
  }

  /** A proxy on a free port forwarding each connection to `target` ('host:port', which may start later). */
  static async start(target: string, delayMs: number): Promise<LatencyProxyProcess> {
    return ServerProcess.launch(new LatencyProxyProcess(await freePort(), target, delayMs));
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  protected args(): string[] {
    return [PROXY, '--listen', String(this.port), '--target', this.target, '--delay-ms', String(this.delayMs)];
  }

  protected waitUntilServing(): Promise<void> {
    return waitForPort(this.port, '127.0.0.1', this.startTimeoutMs);
  }
}
