// The analysis channel's token budget (issue 19 item 12): on a chat whose answer is constrained
// (a response format, a strict tool, a forced tool call) the analysis may take at most
// `thinking_token_budget` tokens, by default the smaller of the reasoning effort's budget and half
// of max_tokens; then the harmony envelope ends it (<|end|>) and the model answers in the final
// channel. The random demo model never ends its analysis by itself, so without the budget it
// spends every token there and the content is null (what made the AI SDK's generateObject fail).
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import { startDemoApi, type DemoApi } from '../helpers/demo-api.js';
import { assertValidJson } from '../helpers/structured-checks.js';

const MODEL = 'demo';
type Schema = Record<string, unknown>;

const CONTACT: Schema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 12 }, tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 }, ok: { type: 'boolean' } },
  required: ['name', 'tags', 'ok'],
  additionalProperties: false,
};
const format = { type: 'json_schema' as const, json_schema: { name: 'contact', schema: CONTACT, strict: true } };
const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Extract the person: Ada, 36, math.' }];

describe('analysis budget on constrained chats (openai client, random demo-size model)', () => {
  let api: DemoApi;

  before(async () => {
    api = await startDemoApi(MODEL);
  });
  after(async () => api?.close());

  it('budget - 16 of 16 chats at 128 tokens with a json_schema return schema-valid content, by default', async () => {
    const r = await api.client.chat.completions.create({ model: MODEL, messages, max_tokens: 128, n: 16, seed: 1, response_format: format });
    let reasoned = 0;
    for (const c of r.choices) {
      assert.equal(c.finish_reason, 'stop', `choice ${c.index}: ${JSON.stringify(c.message)}`);
      assertValidJson(c.message.content ?? '', CONTACT, `choice ${c.index}`);
      if (((c.message as { reasoning_content?: string | null }).reasoning_content ?? '') !== '') reasoned++;
    }
    // Most did think (and would have thought to the end), then were cut off.
    assert.ok(reasoned >= 8, `${reasoned} of 16 reasoned`);
  });

  it('budget - thinking_token_budget bounds the reasoning tokens (0: none); streaming too', async () => {
    for (const budget of [0, 9]) {
      const r = await api.client.responses.create({
        model: MODEL,
        input: 'Extract the person: Ada, 36, math.',
        max_output_tokens: 128,
        store: false,
        text: { format: { type: 'json_schema', name: 'contact', schema: CONTACT, strict: true } },
        ...{ thinking_token_budget: budget },
      } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
      assertValidJson(r.output_text, CONTACT, `budget ${budget}`);
      const items = r.output.filter((o) => o.type === 'reasoning').length;
      // Each analysis message also holds the <|end|> that closes it.
      assert.ok(r.usage!.output_tokens_details.reasoning_tokens <= budget + items, `budget ${budget}: ${r.usage!.output_tokens_details.reasoning_tokens} reasoning tokens in ${items} items`);
      if (budget === 0) assert.equal(items, 0);
    }
    // Unconstrained: bounded only when asked.
    const free = await api.client.responses.create({ model: MODEL, input: 'Extract the person: Ada, 36, math.', max_output_tokens: 40, store: false, ...{ thinking_token_budget: 6 } } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    const freeItems = free.output.filter((o) => o.type === 'reasoning').length;
    assert.ok(free.usage!.output_tokens_details.reasoning_tokens <= 6 + freeItems, `free: ${free.usage!.output_tokens_details.reasoning_tokens} reasoning tokens`);
    const stream = await api.client.chat.completions.create({ model: MODEL, messages, max_tokens: 128, seed: 4, response_format: format, stream: true });
    let content = '';
    for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
    assertValidJson(content, CONTACT, 'streamed');
  });

  it('budget - a thinking_token_budget that is not a non-negative integer is a 400 naming it', async () => {
    for (const bad of [-1, 1.5, 'many']) {
      await assert.rejects(
        api.client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, ...{ thinking_token_budget: bad } } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming),
        (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && err.param === 'thinking_token_budget',
      );
    }
  });
});
