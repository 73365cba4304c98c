// One thread of an ExpertDecoderPool: reads and decodes experts in arrival order.
import { parentPort, workerData } from 'node:worker_threads';
import { Checkpoint } from '../checkpoint/checkpoint.js';
import { loadExpertWeights } from '../checkpoint/weights.js';
import { decodedBuffers, decodeExpert } from './expert-decode.js';
import type { DecodeRequest, DecodeResponse, DecoderThreadData } from './expert-decoder-pool.js';

const port = parentPort;
if (!port) throw new Error('expert-decoder-thread.js runs only as a worker thread of ExpertDecoderPool');
const data = workerData as DecoderThreadData;
const opened = Checkpoint.open(data.checkpointDir);
// A rejected open is reported per request, not as an unhandled rejection.
opened.catch(() => undefined);

let queue = Promise.resolve();
port.on('message', (req: DecodeRequest) => {
  queue = queue.then(async () => {
    try {
      const ckpt = await opened;
      const decoded = decodeExpert(ckpt.config, await loadExpertWeights(ckpt, req.layer, req.expert), data.precision);
      port.postMessage({ id: req.id, decoded } satisfies DecodeResponse, decodedBuffers(decoded));
    } catch (err) {
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies DecodeResponse);
    }
  });
});
