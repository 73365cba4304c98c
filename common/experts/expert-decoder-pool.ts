// Decoding experts on other cores while this thread hands decoded ones to onnxruntime (whose
// session creation blocks the thread it runs on). Each decoder thread opens the checkpoint itself
// (headers only), reads one expert's byte ranges, decodes them for the chosen precision and
// transfers the buffers back: nothing is copied between threads.
import { Worker } from 'node:worker_threads';
import { ExpertComputeError } from '../errors.js';
import type { DecodedExpert } from './expert-decode.js';
import type { ExpertPrecision } from './expert-precision.js';

export interface DecoderThreadData {
  readonly checkpointDir: string;
  readonly precision: ExpertPrecision;
}
export interface DecodeRequest {
  readonly id: number;
  readonly layer: number;
  readonly expert: number;
}
export type DecodeResponse = { readonly id: number; readonly decoded: DecodedExpert } | { readonly id: number; readonly error: string };

interface Waiting {
  resolve(d: DecodedExpert): void;
  reject(err: Error): void;
}

export class ExpertDecoderPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private next = 0;

  constructor(checkpointDir: string, precision: ExpertPrecision, threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`ExpertDecoderPool: threads must be a positive integer, got ${threads}`);
    const data: DecoderThreadData = { checkpointDir, precision };
    this.workers = Array.from({ length: threads }, (_, i) => {
      const w = new Worker(new URL('./expert-decoder-thread.js', import.meta.url), { workerData: data });
      w.on('message', (m: DecodeResponse) => {
        const waiting = this.waiting.get(m.id);
        if (!waiting) return;
        this.waiting.delete(m.id);
        if ('error' in m) waiting.reject(new ExpertComputeError(`expert decoder thread ${i}: ${m.error}`));
        else waiting.resolve(m.decoded);
      });
      w.on('error', (err) => this.failAll(new ExpertComputeError(`expert decoder thread ${i} crashed: ${err.message}`, null, { cause: err })));
      return w;
    });
  }

  /** Reads and decodes one expert on the next thread in turn. */
  decode(layer: number, expert: number): Promise<DecodedExpert> {
    const id = this.nextId++;
    const worker = this.workers[this.next++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, layer, expert } satisfies DecodeRequest);
    });
  }

  async close(): Promise<void> {
    this.failAll(new ExpertComputeError('expert decoder pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
