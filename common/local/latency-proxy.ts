// A TCP proxy that delays every byte by a fixed one-way latency in each direction, so a cluster on
// one machine can be measured as if its workers sat on other machines (`npm run bench -- overlap`,
// and tests that check equivalence under delay). It runs as its own process so that nothing in the
// coordinator (a blocking onnxruntime run) holds bytes back.
//
// Node's timers have 1 ms granularity, too coarse for 0.25 ms. The delay line is therefore a FIFO
// (one delay for every chunk, so due times are ordered) whose head is timed by a helper thread
// sleeping in Atomics.wait, which takes fractional milliseconds, and posting a tick when the head
// is due, with no busy polling. Waking the thread and then the event loop takes 0.1-0.3 ms on a
// busy machine, so the line fires early by its own measured lateness (a running average).
//   node latency-proxy.js --listen PORT --target HOST:PORT --delay-ms D
import net from 'node:net';
import { Worker } from 'node:worker_threads';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

// The helper thread: sleeps until `due[0]` (hrtime ms) or until told that it changed, then ticks.
const TIMER_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const generation = new Int32Array(workerData, 0, 1);
const due = new Float64Array(workerData, 8, 1);
const now = () => Number(process.hrtime.bigint()) / 1e6;
// Fires once per arming: the main thread bumps the generation whenever it sets a new due time.
let firedGeneration = -1;
for (;;) {
  const gen = Atomics.load(generation, 0);
  const at = due[0];
  if (at === -1) break;
  const armed = gen !== firedGeneration && Number.isFinite(at);
  if (armed && at <= now()) {
    firedGeneration = gen;
    parentPort.postMessage(0);
    continue;
  }
  Atomics.wait(generation, 0, gen, armed ? Math.max(0, at - now()) : Infinity);
}
`;

interface Pending {
  readonly due: number;
  /** null: the sender half-closed; end `to` once everything queued before has been written. */
  readonly chunk: Buffer | null;
  readonly to: net.Socket;
}

export class DelayLine {
  private readonly queue: Pending[] = [];
  private head = 0;
  private readonly shared = new SharedArrayBuffer(16);
  private readonly generation = new Int32Array(this.shared, 0, 1);
  private readonly due = new Float64Array(this.shared, 8, 1);
  private readonly timer: Worker | null;
  /** How early the helper is asked to tick: the running average of how late ticks arrive. */
  private leadMs = 0;

  constructor(readonly delayMs: number) {
    this.due[0] = Infinity;
    this.timer = delayMs > 0 ? new Worker(TIMER_THREAD, { eval: true, workerData: this.shared }) : null;
    this.timer?.on('message', () => this.flush());
    this.timer?.unref();
  }

  /** Queues `chunk` for `to`; null queues the end of the stream, delivered after the data before it. */
  send(chunk: Buffer | null, to: net.Socket): void {
    if (!this.timer) return void deliver(chunk, to);
    const wasEmpty = this.head === this.queue.length;
    this.queue.push({ due: nowMs() + this.delayMs, chunk, to });
    if (wasEmpty) this.arm();
  }

  close(): void {
    this.due[0] = -1;
    this.wake();
  }

  private flush(): void {
    const now = nowMs();
    if (this.head < this.queue.length) {
      const lateness = now - this.queue[this.head]!.due;
      this.leadMs = Math.min(this.delayMs, Math.max(0, this.leadMs + 0.2 * lateness));
    }
    while (this.head < this.queue.length && this.queue[this.head]!.due - this.leadMs <= now) {
      const p = this.queue[this.head++]!;
      deliver(p.chunk, p.to);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.arm();
  }

  private arm(): void {
    this.due[0] = this.head < this.queue.length ? this.queue[this.head]!.due - this.leadMs : Infinity;
    this.wake();
  }

  private wake(): void {
    Atomics.add(this.generation, 0, 1);
    Atomics.notify(this.generation, 0);
  }
}

function deliver(chunk: Buffer | null, to: net.Socket): void {
  if (to.destroyed) return;
  if (chunk === null) to.end();
  else to.write(chunk);
}

export interface LatencyProxyOptions {
  readonly listenPort: number;
  readonly listenHost?: string;
  readonly targetHost: string;
  readonly targetPort: number;
  readonly delayMs: number;
}

/** Serves until the process ends; every accepted connection is paired with one to the target. */
export function startLatencyProxy(o: LatencyProxyOptions): Promise<net.Server> {
  const line = new DelayLine(o.delayMs);
  // Half-open sockets: a peer's end is a FIN that travels the delay line behind the data sent
  // before it (closing at once would drop the data still in the line); each socket closes once both
  // of its directions have ended. Resets and errors travel at once and tear down both sides.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: o.targetHost, port: o.targetPort, allowHalfOpen: true });
    for (const s of [client, upstream]) s.setNoDelay(true);
    client.on('data', (chunk) => line.send(chunk, upstream));
    upstream.on('data', (chunk) => line.send(chunk, client));
    client.on('end', () => line.send(null, upstream));
    upstream.on('end', () => line.send(null, client));
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', destroyBoth);
      s.on('close', (hadError) => {
        if (hadError) destroyBoth();
      });
    }
  });
  server.on('close', () => line.close());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listenPort, o.listenHost ?? '127.0.0.1', () => resolve(server));
  });
}

function parseArgs(argv: string[]): LatencyProxyOptions {
  const get = (flag: string): string => {
    const i = argv.indexOf(flag);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`latency-proxy: ${flag} is required`);
    return argv[i + 1]!;
  };
  const listenPort = Number(get('--listen'));
  const [targetHost, targetPortText] = get('--target').split(/:(?=\d+$)/);
  const targetPort = Number(targetPortText);
  const delayMs = Number(get('--delay-ms'));
  if (!Number.isInteger(listenPort) || listenPort <= 0 || listenPort > 65535) throw new Error('latency-proxy: --listen must be a port');
  if (!targetHost || !Number.isInteger(targetPort) || targetPort <= 0 || targetPort > 65535) throw new Error('latency-proxy: --target must be HOST:PORT');
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error('latency-proxy: --delay-ms must be a number >= 0');
  return { listenPort, targetHost, targetPort, delayMs };
}

if (process.argv[1]?.endsWith('latency-proxy.js')) {
  try {
    await startLatencyProxy(parseArgs(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
}
