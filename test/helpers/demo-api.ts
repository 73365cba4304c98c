// The OpenAI API over the real scheduler and a random demo-size engine (real vocabulary), with the
// official openai client pointed at it: what the API-level integration tests talk to.
import OpenAI from 'openai';
import { Engine } from '../../common/engine/engine.js';
import { buildHttpServer, InMemoryResponseStore } from '../../coordinator/api/index.js';
import { ObservedEngineClient } from './engine-client-adapter.js';
import { freePort } from './free-port.js';
import { tinyModel } from './tiny-model.js';

export interface DemoApi {
  readonly client: OpenAI;
  close(): Promise<void>;
}

export async function startDemoApi(modelId: string): Promise<DemoApi> {
  const engine = await Engine.loadLocal(await tinyModel({ vocab: 201088 }));
  const app = buildHttpServer({ engine: new ObservedEngineClient(engine, { modelId, contextLength: 4096 }), responses: new InMemoryResponseStore(), logger: false });
  const port = await freePort();
  await app.listen({ port, host: '127.0.0.1' });
  return {
    client: new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 }),
    close: async () => {
      await app.close();
      await engine.close();
    },
  };
}
