// One compute thread of an ExpertPool: a private ExpertSet over its own Checkpoint handle (opening
// reads only headers). Requests are served strictly in arrival order: a drop queued behind a run
// never pulls the expert out from under it, and onnxruntime's run() blocks this thread anyway, so
// serving two at once would gain nothing.
import { parentPort, workerData } from 'node:worker_threads';
import { Checkpoint } from '../checkpoint/checkpoint.js';
import { ExpertSet } from './expert-set.js';
import type { PoolRequest, PoolResponse, PoolThreadData } from './expert-pool.js';

const port = parentPort;
if (!port) throw new Error('expert-pool-thread.js runs only as a worker thread of ExpertPool');
const data = workerData as PoolThreadData;

function post(m: PoolResponse, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

async function open(): Promise<ExpertSet | null> {
  try {
    const checkpoint = await Checkpoint.open(data.checkpointDir);
    const set = new ExpertSet(checkpoint.config, checkpoint, data.runtime);
    post({ kind: 'ready', fingerprint: checkpoint.fingerprint });
    return set;
  } catch (err) {
    post({ kind: 'fatal', message: (err as Error).message });
    port!.close();
    return null;
  }
}

async function serve(set: ExpertSet, req: PoolRequest): Promise<void> {
  try {
    switch (req.op) {
      case 'load':
        await set.load(req.layer, req.expert);
        return post({ kind: 'done', id: req.id });
      case 'drop':
        await set.drop(req.layer, req.expert);
        return post({ kind: 'done', id: req.id });
      case 'run': {
        const output = await set.weightedSum(req.layer, req.hidden, req.tokenCount, { tokens: req.tokens, experts: req.experts, weights: req.weights });
        return post({ kind: 'done', id: req.id, output }, [output.buffer as ArrayBuffer]);
      }
      case 'close':
        await set.close();
        post({ kind: 'done', id: req.id });
        port!.close();
        return;
    }
  } catch (err) {
    post({ kind: 'failed', id: req.id, message: (err as Error).message ?? String(err) });
  }
}

let queue: Promise<ExpertSet | null> = open();
port.on('message', (req: PoolRequest) => {
  queue = queue.then(async (set) => {
    if (set) await serve(set, req);
    return set;
  });
});
