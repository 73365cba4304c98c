// The OpenAI-compatible API driven by the official `openai` client against a listening server over
// the real single-process engine behind the continuous-batching scheduler (a random checkpoint with
// gpt-oss's real vocabulary). The model is random, so the assertions are on structure and on
// consistency between equivalent requests.
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { Engine } from '../../common/engine/engine.js';
import { getHarmonyTokenizer } from '../../common/harmony/index.js';
import { buildHttpServer, InMemoryResponseStore } from '../../coordinator/api/index.js';
import { ObservedEngineClient } from '../helpers/engine-client-adapter.js';
import { freePort } from '../helpers/free-port.js';
import { tinyModel } from '../helpers/tiny-model.js';

// A slash in the id, as in "openai/gpt-oss-120b", so that models.retrieve sends %2F.
const MODEL = 'openai/gpt-oss-test';
const KEY = 'sk-test-key';
const CONTEXT = 2048;
const messages = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Name a color.' },
];

/** The APIError a call rejects with. */
async function apiError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  assert.fail('expected the call to fail');
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Middle two characters of a text (a stop string that certainly occurs in it). */
function middle(text: string): string {
  const chars = Array.from(text);
  assert.ok(chars.length >= 4, `text too short for a stop string: ${JSON.stringify(text)}`);
  const mid = Math.floor(chars.length / 2);
  return chars.slice(mid, mid + 2).join('');
}

describe('http api (openai client, real engine)', () => {
  let engine: Engine;
  let adapter: ObservedEngineClient;
  let app: FastifyInstance;
  let baseURL: string;
  let client: OpenAI;

  before(async () => {
    engine = await Engine.loadLocal(await tinyModel({ vocab: 201088 }));
    adapter = new ObservedEngineClient(engine, { modelId: MODEL, contextLength: CONTEXT });
    app = buildHttpServer({ engine: adapter, responses: new InMemoryResponseStore(), logger: false, apiKeys: [KEY] });
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    baseURL = `http://127.0.0.1:${port}/v1`;
    client = new OpenAI({ baseURL, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await app?.close();
    await engine?.close();
  });

  it('http - chat completion: one assistant message, a finish reason and consistent usage', async () => {
    const { data, response } = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0 }).withResponse();
    assert.match(data.id, /^chatcmpl-/);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, MODEL);
    assert.equal(data.choices.length, 1);
    const choice = data.choices[0]!;
    assert.equal(choice.message.role, 'assistant');
    assert.ok(['stop', 'length', 'tool_calls'].includes(choice.finish_reason), choice.finish_reason);
    const usage = data.usage!;
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens >= 1 && usage.completion_tokens <= 12);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(usage.prompt_tokens_details?.cached_tokens, 0);
    assert.ok('reasoning_content' in choice.message && 'reasoning' in choice.message, 'both reasoning fields, like vLLM');
    assert.ok(response.headers.get('x-request-id'), 'a request id comes back');
  });

  for (const sampling of [{ temperature: 0 }, { temperature: 0.9, top_p: 0.95, seed: 1234 }]) {
    it(`http - streamed chat deltas concatenate to the non-streamed result (${JSON.stringify(sampling)})`, async () => {
      const request = { model: MODEL, messages, max_tokens: 16, ...sampling };
      const whole = await client.chat.completions.create(request);
      const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
      let content = '';
      let reasoning = '';
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | null | undefined;
      let first = true;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'chat.completion.chunk');
        if (first) assert.equal(chunk.choices[0]!.delta.role, 'assistant', 'the role comes first');
        first = false;
        if (chunk.choices.length === 0) {
          usage = chunk.usage;
          continue;
        }
        const delta = chunk.choices[0]!.delta as { content?: string; reasoning_content?: string };
        content += delta.content ?? '';
        reasoning += delta.reasoning_content ?? '';
        finish = chunk.choices[0]!.finish_reason ?? finish;
      }
      const message = whole.choices[0]!.message as { content: string | null; reasoning_content?: string | null };
      assert.equal(content, message.content ?? '');
      assert.equal(reasoning, message.reasoning_content ?? '');
      assert.equal(finish, whole.choices[0]!.finish_reason);
      assert.deepEqual(usage, whole.usage);
    });
  }

  it('http - chat logprobs: token text, logprob, bytes and top_logprobs per final-channel token', async () => {
    const res = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = res.choices[0]!.message.content ?? '';
    const tokens = res.choices[0]!.logprobs!.content!;
    assert.ok(tokens.length > 0 && tokens.length <= 10);
    const bytes: number[] = [];
    for (const t of tokens) {
      assert.equal(typeof t.token, 'string');
      assert.ok(t.logprob <= 0);
      assert.ok(Array.isArray(t.bytes) && t.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
      assert.equal(t.top_logprobs.length, 3);
      assert.deepEqual(t.top_logprobs[0], { token: t.token, logprob: t.logprob, bytes: t.bytes }, 'greedy: the best alternative is the token');
      for (let i = 1; i < 3; i++) assert.ok(t.top_logprobs[i]!.logprob <= t.top_logprobs[i - 1]!.logprob);
      bytes.push(...t.bytes!);
    }
    assert.equal(new TextDecoder().decode(Uint8Array.from(bytes)), content, 'the tokens spell the content');
  });

  it('http - a stop string truncates the chat content and finishes with stop, streamed or not', async () => {
    const request = { model: MODEL, messages, max_tokens: 24, temperature: 0 };
    const full = (await client.chat.completions.create(request)).choices[0]!.message.content ?? '';
    const stop = middle(full);
    const expected = full.slice(0, full.indexOf(stop));
    const cut = await client.chat.completions.create({ ...request, stop: [stop, 'never-appears'] });
    assert.equal(cut.choices[0]!.message.content ?? '', expected);
    assert.equal(cut.choices[0]!.finish_reason, 'stop');
    let streamed = '';
    let finish: string | null = null;
    for await (const chunk of await client.chat.completions.create({ ...request, stop, stream: true })) {
      streamed += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(streamed, expected);
    assert.equal(finish, 'stop');
  });

  it('http - chat with tools and tool-call history renders and answers', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const history: OpenAI.ChatCompletionMessageParam[] = [
      ...messages,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_abc', content: '{"sky":"blue"}' },
    ];
    const plain = await client.chat.completions.create({ model: MODEL, messages: history, max_tokens: 2, temperature: 0 });
    const withTools = await client.chat.completions.create({ model: MODEL, messages: history, tools, max_tokens: 2, temperature: 0, reasoning_effort: 'low' });
    assert.ok(withTools.usage!.prompt_tokens > plain.usage!.prompt_tokens + 10, 'the tool declarations are in the prompt');
  });

  it('http - /tokenize and /detokenize answer in vLLM\'s shapes and round-trip', async () => {
    const root = baseURL.replace(/\/v1$/, '');
    const post = async (path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(root + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const text = 'Hello <|start|>world';
    const t = await post('/tokenize', { model: MODEL, prompt: text });
    assert.equal(t.status, 200);
    assert.deepEqual(t.json, { count: (t.json['tokens'] as number[]).length, max_model_len: CONTEXT, tokens: getHarmonyTokenizer().encodeWithSpecials(text) });
    assert.deepEqual((await post('/detokenize', { model: MODEL, tokens: t.json['tokens'] })).json, { prompt: text });
    const chat = await post('/tokenize', { model: MODEL, messages });
    const completion = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 1 });
    assert.equal(chat.json['count'], completion.usage!.prompt_tokens);
    const bad = await post('/detokenize', { model: MODEL, tokens: [1, 999_999] });
    assert.equal(bad.status, 400);
    assert.equal((bad.json['error'] as Record<string, unknown>)['param'], 'tokens[1]');
    assert.equal((await post('/tokenize', { model: 'other', prompt: 'x' })).status, 404);
  });

  it('http - completions with a string prompt equal those with its token ids', async () => {
    const text = 'The quick brown fox';
    const ids = getHarmonyTokenizer().encode(text);
    const fromText = await client.completions.create({ model: MODEL, prompt: text, max_tokens: 8, temperature: 0 });
    const fromIds = await client.completions.create({ model: MODEL, prompt: ids, max_tokens: 8, temperature: 0 });
    const fromNested = await client.completions.create({ model: MODEL, prompt: [ids], max_tokens: 8, temperature: 0 });
    assert.equal(fromText.object, 'text_completion');
    assert.equal(fromText.usage!.prompt_tokens, ids.length);
    assert.equal(fromIds.usage!.prompt_tokens, ids.length);
    assert.equal(fromIds.choices[0]!.text, fromText.choices[0]!.text);
    assert.equal(fromNested.choices[0]!.text, fromText.choices[0]!.text);
    assert.ok(['stop', 'length'].includes(fromText.choices[0]!.finish_reason));

    let streamed = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of await client.completions.create({ model: MODEL, prompt: text, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } })) {
      streamed += chunk.choices[0]?.text ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(streamed, fromText.choices[0]!.text);
    assert.deepEqual(usage, fromText.usage);
  });

  it('http - completions logprobs in the legacy shape, and stop strings', async () => {
    const res = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 16, temperature: 0, logprobs: 2 });
    const lp = res.choices[0]!.logprobs!;
    const n = res.usage!.completion_tokens;
    for (const list of [lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset]) assert.equal(list!.length, n);
    lp.top_logprobs!.forEach((alts) => assert.ok(Object.keys(alts).length >= 1 && Object.keys(alts).length <= 2));
    lp.text_offset!.forEach((o, i) => assert.ok(i === 0 ? o === 0 : o >= lp.text_offset![i - 1]!));

    const text = res.choices[0]!.text;
    const stop = middle(text);
    const cut = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 16, temperature: 0, stop });
    assert.equal(cut.choices[0]!.text, text.slice(0, text.indexOf(stop)));
    assert.equal(cut.choices[0]!.finish_reason, 'stop');
    assert.ok(cut.usage!.completion_tokens < 16, 'the generation ended at the stop string');
  });

  it('http - models lists and retrieves the served model', async () => {
    const list = await client.models.list();
    assert.deepEqual(
      list.data.map((m) => m.id),
      [MODEL],
    );
    const card = await client.models.retrieve(MODEL);
    assert.equal(card.id, MODEL);
    assert.equal((card as unknown as { max_model_len: number }).max_model_len, CONTEXT);
    const missing = await apiError(client.models.retrieve('gpt-4o'));
    assert.equal(missing.status, 404);
    assert.equal(missing.code, 'model_not_found');
  });

  it('http - responses: output items, usage, output_text, and retrieval by id', async () => {
    const res = await client.responses.create({ model: MODEL, input: 'Say hi.', instructions: 'Be kind.', max_output_tokens: 10, temperature: 0, reasoning: { effort: 'low' } });
    assert.match(res.id, /^resp_/);
    assert.equal(res.object, 'response');
    assert.ok(res.status === 'completed' || res.status === 'incomplete');
    assert.ok(res.output.length >= 1);
    for (const item of res.output) assert.ok(['reasoning', 'message', 'function_call'].includes(item.type), item.type);
    const messageText = res.output.flatMap((o) => (o.type === 'message' ? o.content.map((c) => (c.type === 'output_text' ? c.text : '')) : [])).join('');
    assert.equal(res.output_text, messageText);
    assert.equal(res.usage!.total_tokens, res.usage!.input_tokens + res.usage!.output_tokens);
    assert.ok(res.usage!.output_tokens <= 10);
    const again = await client.responses.retrieve(res.id);
    assert.deepEqual(again.output, res.output);
    assert.deepEqual(again.usage, res.usage);
    const missing = await apiError(client.responses.retrieve('resp_nope'));
    assert.equal(missing.status, 404);
  });

  it('http - responses stream: event sequence, sequence numbers, and the same result as non-streamed', async () => {
    const request = { model: MODEL, input: 'Count to three.', max_output_tokens: 12, temperature: 0 };
    const whole = await client.responses.create(request);
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of await client.responses.create({ ...request, stream: true })) events.push(event);
    assert.equal(events[0]!.type, 'response.created');
    assert.equal(events[1]!.type, 'response.in_progress');
    const last = events.at(-1)!;
    assert.ok(last.type === 'response.completed' || last.type === 'response.incomplete', last.type);
    events.forEach((e, i) => assert.equal(e.sequence_number, i));
    const added = events.filter((e) => e.type === 'response.output_item.added');
    const done = events.filter((e) => e.type === 'response.output_item.done');
    assert.deepEqual(
      added.map((e) => e.output_index),
      done.map((e) => e.output_index),
    );
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    const texts = events.filter((e) => e.type === 'response.output_text.done').map((e) => e.text).join('');
    assert.equal(deltas, texts);
    const final = (last as OpenAI.Responses.ResponseCompletedEvent).response;
    assert.deepEqual(
      final.output.map((o) => (o.type === 'message' ? o.content : o.type)),
      whole.output.map((o) => (o.type === 'message' ? o.content : o.type)),
    );
    assert.deepEqual(final.usage, whole.usage);
  });

  it('http - previous_response_id continues the stored conversation', async () => {
    const first = await client.responses.create({ model: MODEL, input: 'Hello.', max_output_tokens: 6, temperature: 0 });
    const next = await client.responses.create({ model: MODEL, input: 'And then?', previous_response_id: first.id, max_output_tokens: 6, temperature: 0 });
    assert.equal(next.previous_response_id, first.id);
    // The same conversation sent in full gives the same prompt and the same greedy answer.
    const explicit = await client.responses.create({
      model: MODEL,
      input: [{ role: 'user', content: 'Hello.' }, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { role: 'user', content: 'And then?' }],
      max_output_tokens: 6,
      temperature: 0,
    });
    assert.equal(next.usage!.input_tokens, explicit.usage!.input_tokens);
    assert.ok(next.usage!.input_tokens > first.usage!.input_tokens);
    assert.equal(next.output_text, explicit.output_text);
    const unknown = await apiError(client.responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_unknown' }));
    assert.equal(unknown.status, 400);
    assert.equal(unknown.param, 'previous_response_id');
  });

  it('http - bad parameters are 400s naming the parameter', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ temperature: 2.5 }, 'temperature'],
      [{ top_p: 0 }, 'top_p'],
      [{ max_tokens: 0 }, 'max_tokens'],
      [{ n: 0 }, 'n'],
      [{ seed: 1.5 }, 'seed'],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ logprobs: true, top_logprobs: 25 }, 'top_logprobs'],
      [{ reasoning_effort: 'extreme' }, 'reasoning_effort'],
      [{ messages: [...messages, { role: 'robot', content: 'x' }] }, 'messages[2].role'],
    ];
    const before = adapter.started;
    for (const [extra, param] of cases) {
      const err = await apiError(client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, ...extra } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming));
      assert.equal(err.status, 400, param);
      assert.equal(err.param, param);
      assert.equal(err.type, 'invalid_request_error');
    }
    assert.equal(adapter.started, before, 'no invalid request reached the engine');
  });

  it('http - unknown model 404, context overflow 400, out-of-vocabulary ids 400', async () => {
    const model = await apiError(client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 4 }));
    assert.equal(model.status, 404);
    assert.equal(model.code, 'model_not_found');
    assert.equal(model.type, 'invalid_request_error');
    const overflow = await apiError(client.chat.completions.create({ model: MODEL, messages, max_tokens: CONTEXT }));
    assert.equal(overflow.status, 400);
    assert.equal(overflow.code, 'context_length_exceeded');
    assert.equal(overflow.param, 'max_tokens');
    const longPrompt = await apiError(client.completions.create({ model: MODEL, prompt: new Array(CONTEXT).fill(42), max_tokens: 1 }));
    assert.equal(longPrompt.code, 'context_length_exceeded');
    assert.equal(longPrompt.param, 'prompt');
    const vocab = await apiError(client.completions.create({ model: MODEL, prompt: [1, 2, 999_999] }));
    assert.equal(vocab.status, 400);
    assert.equal(vocab.param, 'prompt');
  });

  it('http - malformed JSON 400, unknown route 404, too large 413, all in the error envelope', async () => {
    const post = (path: string, body: string) => fetch(`${baseURL}${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } });
    const badJson = await post('/chat/completions', '{"model": ');
    assert.equal(badJson.status, 400);
    const badBody = (await badJson.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(badBody.error).sort(), ['code', 'message', 'param', 'type']);
    const route = await post('/embeddings', '{}');
    assert.equal(route.status, 404);
    assert.equal(((await route.json()) as { error: { code: string } }).error.code, 'unknown_url');
    const big = await post('/completions', JSON.stringify({ model: MODEL, prompt: 'x'.repeat(5 * 1024 * 1024) }));
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  });

  it('http - a wrong or missing API key is 401; /health stays open', async () => {
    const wrong = await apiError(new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).models.list());
    assert.equal(wrong.status, 401);
    assert.equal(wrong.code, 'invalid_api_key');
    const missing = await fetch(`${baseURL}/models`);
    assert.equal(missing.status, 401);
    const health = await fetch(`${baseURL.replace(/\/v1$/, '')}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok', checks: { engine: { ok: true, detail: 'single-process test engine' } } });
  });

  it('http - /health is 503 with the checks when the engine is not ready; /metrics counts requests', async () => {
    const root = baseURL.replace(/\/v1$/, '');
    adapter.ready = false;
    try {
      const res = await fetch(`${root}/health`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable', checks: { engine: { ok: false, detail: 'single-process test engine' } } });
    } finally {
      adapter.ready = true;
    }
    const metrics = await (await fetch(`${root}/metrics`)).text();
    assert.match(metrics, /gptoss_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} [1-9]/);
    assert.match(metrics, /gptoss_completion_tokens_total [1-9]/);
  });

  it('http - a client that disconnects mid-stream aborts its generation', async () => {
    const seen = adapter.finished.length;
    const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 1500, temperature: 0, stream: true });
    for await (const chunk of stream) {
      assert.equal(chunk.choices[0]!.delta.role, 'assistant');
      break; // the client aborts its request on break
    }
    await waitFor(() => adapter.finished.length > seen, 20_000);
    const ended = adapter.finished[seen]!;
    assert.equal(ended.finishReason, 'abort');
    assert.ok(ended.completionTokens < 1500, `${ended.completionTokens} tokens`);
    // The server goes on serving.
    const after = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 2, temperature: 0 });
    assert.equal(after.choices.length, 1);
  });
});
