// POST /tokenize and /detokenize in vLLM's shapes, beside (not under) /v1 as vLLM serves them: the
// ids a prompt or a chat becomes, and the text of ids.
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from '../../common/errors.js';
import { renderConversation } from '../../common/harmony/index.js';
import type { ServingContext } from './generation.js';
import { checkModel, parseDetokenizeRequest, parseTokenizeRequest, type DetokenizeResponse, type TokenizeResponse } from './protocol.js';

export function registerTokenize(app: FastifyInstance, ctx: ServingContext): void {
  const { engine, tokenizer } = ctx;
  app.post('/tokenize', async (request): Promise<TokenizeResponse> => {
    const req = parseTokenizeRequest(request.body);
    checkModel(req.model, engine.modelId);
    const tokens = 'prompt' in req ? tokenizer.encodeWithSpecials(req.prompt) : renderConversation(req.messages, { tools: req.tools, tokenizer });
    return { count: tokens.length, max_model_len: engine.contextLength, tokens };
  });
  app.post('/detokenize', async (request): Promise<DetokenizeResponse> => {
    const req = parseDetokenizeRequest(request.body);
    checkModel(req.model, engine.modelId);
    const outside = req.tokens.findIndex((id) => id >= engine.vocabSize);
    if (outside >= 0) throw new InvalidRequestError(`Token id ${req.tokens[outside]} is outside the vocabulary of ${engine.vocabSize} tokens.`, `tokens[${outside}]`);
    return { prompt: tokenizer.decode(req.tokens) };
  });
}
