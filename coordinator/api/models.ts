// GET /v1/models and GET /v1/models/:id: the one served model. Ids may hold a slash
// ("openai/gpt-oss-120b"), which clients send as %2F or as a path, so the id is the rest of the path.
import type { FastifyInstance } from 'fastify';
import type { EngineClient } from '../engine-core/engine-client.js';
import { ModelNotFoundError } from './errors.js';
import type { ModelCard, ModelList } from './protocol.js';

export function modelCard(engine: EngineClient, created: number): ModelCard {
  return { id: engine.modelId, object: 'model', created, owned_by: 'gptoss-cluster', max_model_len: engine.contextLength };
}

export function registerModels(app: FastifyInstance, engine: EngineClient, created: number): void {
  app.get('/v1/models', async (): Promise<ModelList> => ({ object: 'list', data: [modelCard(engine, created)] }));
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request): Promise<ModelCard> => {
    const id = decodeURIComponent(request.params['*']);
    if (id !== engine.modelId) throw new ModelNotFoundError(id);
    return modelCard(engine, created);
  });
}
