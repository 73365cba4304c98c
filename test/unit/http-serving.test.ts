// The serving classes over a scripted EngineClient that "samples" a fixed harmony completion, so
// that reasoning, final answers and tool calls (which a random model never writes) are checked.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { ExpertUnavailableError, QueueFullError } from '../../common/errors.js';
import { getHarmonyTokenizer, type HarmonyTokenizer } from '../../common/harmony/index.js';
import { buildHttpServer, InMemoryResponseStore } from '../../coordinator/api/index.js';
import type { EngineClient, GenerationEvent, GenerationParams, HealthReport } from '../../coordinator/engine-core/engine-client.js';

const MODEL = 'gpt-oss-test';
const REASONING_THEN_CALL =
  '<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>';
const REASONING_THEN_ANSWER = '<|channel|>analysis<|message|>Think first.<|end|><|start|>assistant<|channel|>final<|message|>The answer is 42. Done<|return|>';
const TOOLS = [{ type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

class ScriptedEngine implements EngineClient {
  readonly modelId = MODEL;
  readonly contextLength = 4096;
  readonly vocabSize = 201088;
  script: number[] = [];
  /** Thrown by generate() itself (before any event). */
  refuse: Error | null = null;
  /** Thrown by the stream after this many tokens. */
  failAfter: { tokens: number; err: Error } | null = null;
  last: GenerationParams | null = null;

  generate(params: GenerationParams): AsyncIterable<GenerationEvent> {
    if (this.refuse) throw this.refuse;
    this.last = params;
    return this.run(params, [...this.script], this.failAfter);
  }

  health(): HealthReport {
    return { ready: true, checks: {} };
  }

  private async *run(params: GenerationParams, ids: number[], failAfter: ScriptedEngine['failAfter']): AsyncGenerator<GenerationEvent> {
    let n = 0;
    const done = (finishReason: 'stop' | 'length' | 'abort'): GenerationEvent => ({ type: 'done', finishReason, promptTokens: params.promptIds.length, completionTokens: n, cachedPromptTokens: 3 });
    for (const id of ids) {
      if (failAfter && n === failAfter.tokens) throw failAfter.err;
      if (params.signal?.aborted) return yield done('abort');
      n++;
      yield { type: 'token', token: { id, logprob: -0.25, top: [{ id, logprob: -0.25 }, { id: 15, logprob: -3 }] } };
      if (params.stopTokenIds.includes(id)) return yield done('stop');
      if (n >= params.maxTokens) return yield done('length');
    }
    yield done('stop');
  }
}

interface SseEvent {
  event: string | null;
  /** Parsed JSON, read freely by the assertions. */
  data: any;
}

function sse(payload: string): SseEvent[] {
  return payload
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? null;
      const data = /^data: (.*)$/m.exec(block)![1]!;
      return { event, data: data === '[DONE]' ? data : JSON.parse(data) };
    });
}

describe('http serving (scripted engine)', () => {
  let tok: HarmonyTokenizer;
  let engine: ScriptedEngine;
  let app: FastifyInstance;
  const post = async (url: string, body: object, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, payload: body, headers: { authorization: 'Bearer k1', ...headers } });

  before(async () => {
    tok = getHarmonyTokenizer();
    engine = new ScriptedEngine();
    app = buildHttpServer({ engine, responses: new InMemoryResponseStore(), logger: false, apiKeys: ['k0', 'k1'] });
    await app.ready();
  });
  after(async () => app.close());
  beforeEach(() => {
    engine.refuse = null;
    engine.failAfter = null;
    engine.script = tok.encodeWithSpecials(REASONING_THEN_ANSWER);
  });

  it('http - chat splits analysis into reasoning_content and reasoning, final into content', async () => {
    const res = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'q' }], reasoning_effort: 'high' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(body.choices[0].message, { role: 'assistant', content: 'The answer is 42. Done', reasoning_content: 'Think first.', reasoning: 'Think first.', tool_calls: [] });
    assert.equal(body.choices[0].finish_reason, 'stop');
    assert.deepEqual(body.usage, { prompt_tokens: engine.last!.promptIds.length, completion_tokens: engine.script.length, total_tokens: engine.last!.promptIds.length + engine.script.length, prompt_tokens_details: { cached_tokens: 3 } });
    const prompt = tok.decode(engine.last!.promptIds);
    assert.ok(prompt.includes('Reasoning: high'), prompt);
    assert.ok(prompt.endsWith('<|start|>user<|message|>q<|end|><|start|>assistant'), prompt);
    assert.deepEqual([...engine.last!.stopTokenIds], [200002, 200012]);
  });

  it('http - chat logprobs cover exactly the final-channel tokens', async () => {
    const res = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'q' }], logprobs: true, top_logprobs: 1 });
    const { logprobs, message } = res.json().choices[0];
    assert.equal(logprobs.content.map((t: { token: string }) => t.token).join(''), message.content);
    for (const t of logprobs.content) {
      assert.equal(t.logprob, -0.25);
      assert.deepEqual(t.bytes, [...Buffer.from(t.token, 'utf8')]);
      assert.equal(t.top_logprobs.length, 1);
    }
  });

  it('http - chat tool calls come out as tool_calls with finish_reason tool_calls, streamed and not', async () => {
    engine.script = tok.encodeWithSpecials(REASONING_THEN_CALL);
    const req = { messages: [{ role: 'user', content: 'weather?' }], tools: TOOLS };
    const whole = (await post('/v1/chat/completions', req)).json();
    const { message, finish_reason } = whole.choices[0];
    assert.equal(finish_reason, 'tool_calls');
    assert.equal(message.content, null);
    assert.equal(message.reasoning_content, 'Need the weather.');
    assert.equal(message.tool_calls.length, 1);
    assert.match(message.tool_calls[0].id, /^call_/);
    assert.deepEqual({ ...message.tool_calls[0], id: 'x' }, { id: 'x', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    assert.ok(tok.decode(engine.last!.promptIds).includes('namespace functions'), 'tools are declared in the developer message');

    const events = sse((await post('/v1/chat/completions', { ...req, stream: true })).payload);
    assert.equal(events.at(-1)!.data, '[DONE]');
    const chunks = events.slice(0, -1).map((e) => e.data);
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const calls = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    assert.equal(calls[0].function.name, 'get_weather');
    assert.equal(calls.map((c: { function: { arguments: string } }) => c.function.arguments).join(''), '{"city":"Paris"}');
    assert.equal(chunks.map((c) => c.choices[0].delta.reasoning_content ?? '').join(''), 'Need the weather.');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
  });

  it('http - chat history with tool calls and tool results renders as harmony', async () => {
    await post('/v1/chat/completions', {
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      ],
      tools: TOOLS,
    });
    const prompt = tok.decode(engine.last!.promptIds);
    assert.ok(prompt.includes('# Instructions\n\nBe terse.'), prompt);
    assert.ok(prompt.includes('<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>'), prompt);
    assert.ok(prompt.includes('<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny<|end|>'), prompt);
    const bad = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'nope', content: 'r' }] });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.param, 'messages[1].name');
  });

  it('http - a stop string cuts the answer, drops its logprobs and ends with stop', async () => {
    for (const stream of [false, true]) {
      const res = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'q' }], stop: ['42', 'never'], logprobs: true, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) });
      let content: string;
      let tokens: string[];
      let finish: string;
      let usage: { completion_tokens: number };
      if (stream) {
        const chunks = sse(res.payload).slice(0, -1).map((e) => e.data);
        content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
        tokens = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []).map((t: { token: string }) => t.token);
        finish = chunks.at(-2).choices[0].finish_reason;
        usage = chunks.at(-1).usage;
      } else {
        const body = res.json();
        content = body.choices[0].message.content;
        tokens = body.choices[0].logprobs.content.map((t: { token: string }) => t.token);
        finish = body.choices[0].finish_reason;
        usage = body.usage;
      }
      assert.equal(content, 'The answer is ', `stream ${stream}`);
      assert.equal(finish, 'stop');
      assert.ok(tokens.join('').startsWith(content) && tokens.join('').length < 'The answer is 42. Done'.length, tokens.join('|'));
      assert.ok(usage.completion_tokens < engine.script.length, 'generation ended at the stop string');
    }
  });

  it('http - responses: reasoning item then message item, and the exact stream event sequence', async () => {
    const body = { model: MODEL, input: 'q', instructions: 'Answer well.' };
    const res = (await post('/v1/responses', body)).json();
    assert.equal(res.object, 'response');
    assert.equal(res.status, 'completed');
    assert.deepEqual(
      res.output.map((o: { type: string }) => o.type),
      ['reasoning', 'message'],
    );
    assert.deepEqual(res.output[0].content, [{ type: 'reasoning_text', text: 'Think first.' }]);
    assert.equal(res.output[1].content[0].text, 'The answer is 42. Done');
    assert.deepEqual(res.usage.input_tokens_details, { cached_tokens: 3 });
    assert.ok(res.usage.output_tokens_details.reasoning_tokens > 0);
    assert.ok(tok.decode(engine.last!.promptIds).includes('# Instructions\n\nAnswer well.'));

    const events = sse((await post('/v1/responses', { ...body, stream: true })).payload);
    const types = events.map((e) => e.event).filter((t, i, all) => !t!.endsWith('.delta') || all[i - 1] !== t);
    assert.deepEqual(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    events.forEach((e, i) => {
      assert.equal(e.data.type, e.event);
      assert.equal(e.data.sequence_number, i);
    });
    const final = events.at(-1)!.data.response;
    assert.equal(
      events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join(''),
      final.output[1].content[0].text,
    );
  });

  it('http - responses: a function call, then its output via previous_response_id', async () => {
    engine.script = tok.encodeWithSpecials(REASONING_THEN_CALL);
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const first = (await post('/v1/responses', { input: 'weather in Paris?', tools })).json();
    const call = first.output.find((o: { type: string }) => o.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.equal(call.arguments, '{"city":"Paris"}');
    assert.match(call.call_id, /^call_/);

    engine.script = tok.encodeWithSpecials(REASONING_THEN_ANSWER);
    const second = await post('/v1/responses', { input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny' }], tools, previous_response_id: first.id });
    assert.equal(second.statusCode, 200, second.payload);
    const prompt = tok.decode(engine.last!.promptIds);
    assert.ok(prompt.includes('<|start|>user<|message|>weather in Paris?<|end|>'), prompt);
    assert.ok(prompt.includes('Need the weather.'), 'the reasoning of the turn in progress is kept');
    assert.ok(prompt.includes('to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>'), prompt);
    assert.ok(prompt.includes('<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny<|end|>'), prompt);
    assert.equal(second.json().previous_response_id, first.id);

    const third = await post('/v1/responses', { input: 'and tomorrow?', previous_response_id: second.json().id });
    const prompt3 = tok.decode(engine.last!.promptIds);
    assert.equal(third.statusCode, 200);
    assert.ok(prompt3.includes('<|channel|>final<|message|>The answer is 42. Done<|end|>'), prompt3);
    assert.ok(!prompt3.includes('Think first.'), 'analysis of a finished turn is dropped');

    const orphan = await post('/v1/responses', { input: [{ type: 'function_call_output', call_id: 'call_nope', output: 'x' }] });
    assert.equal(orphan.statusCode, 400);
    assert.equal(orphan.json().error.param, 'input[0].call_id');
    const missing = await post('/v1/responses', { input: 'x', previous_response_id: 'resp_missing' });
    assert.equal(missing.statusCode, 400);
    assert.deepEqual(missing.json().error.param, 'previous_response_id');
    assert.equal(missing.json().error.code, 'previous_response_not_found');
  });

  it('http - responses with store false are not kept', async () => {
    const res = (await post('/v1/responses', { input: 'q', store: false })).json();
    const got = await app.inject({ method: 'GET', url: `/v1/responses/${res.id}`, headers: { authorization: 'Bearer k0' } });
    assert.equal(got.statusCode, 404);
    assert.equal(got.json().error.code, 'not_found');
  });

  it('http - engine refusals map to 429 and 503 before the stream starts', async () => {
    engine.refuse = new QueueFullError('queue is full');
    const full = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'q' }], stream: true });
    assert.equal(full.statusCode, 429);
    assert.deepEqual(full.json().error, { message: 'queue is full', type: 'rate_limit_error', param: null, code: 'queue_full' });
    engine.refuse = null;
    engine.failAfter = { tokens: 0, err: new ExpertUnavailableError(1, 2) };
    const down = await post('/v1/completions', { prompt: 'x', stream: true });
    assert.equal(down.statusCode, 503);
    assert.equal(down.json().error.code, 'expert_unavailable');
  });

  it('http - a failure after the stream began is told in the stream', async () => {
    engine.failAfter = { tokens: 5, err: new ExpertUnavailableError(1, 2) };
    const chat = sse((await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'q' }], stream: true })).payload);
    assert.equal(chat.at(-2)!.data.error.code, 'expert_unavailable');
    assert.equal(chat.at(-1)!.data, '[DONE]');
    const resp = sse((await post('/v1/responses', { input: 'q', stream: true })).payload);
    assert.equal(resp.at(-1)!.event, 'response.failed');
    assert.equal(resp.at(-1)!.data.response.status, 'failed');
    assert.equal(resp.at(-1)!.data.response.error.code, 'expert_unavailable');
  });

  it('http - completions decode raw output, special tokens as text, without the final stop token', async () => {
    engine.script = tok.encodeWithSpecials('<|channel|>final<|message|>hi<|return|>');
    const res = (await post('/v1/completions', { prompt: '<|start|>user<|message|>x<|end|><|start|>assistant', logprobs: 1 })).json();
    assert.equal(res.choices[0].text, '<|channel|>final<|message|>hi');
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.deepEqual(engine.last!.promptIds.slice(0, 1), [200006], 'special-token text in the prompt is the special token');
    const lp = res.choices[0].logprobs;
    assert.equal(lp.tokens.length, engine.script.length);
    assert.equal(lp.text_offset[0], 0);
    for (let i = 1; i < lp.tokens.length; i++) assert.equal(lp.text_offset[i], lp.text_offset[i - 1] + lp.tokens[i - 1].length);
    assert.equal(lp.tokens.at(-1), '<|return|>');
  });

  it('http - API keys guard /v1 but not /health; request ids are echoed', async () => {
    const none = await app.inject({ method: 'GET', url: '/v1/models' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().error.code, 'invalid_api_key');
    const wrong = await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer k2' } });
    assert.equal(wrong.statusCode, 401);
    const ok = await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer k0', 'x-request-id': 'req-123' } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['x-request-id'], 'req-123');
    const health = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(health.statusCode, 200);
    assert.match(String(health.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const stream = await post('/v1/completions', { prompt: 'x', stream: true }, { 'x-request-id': 'req-456' });
    assert.equal(stream.headers['x-request-id'], 'req-456');
    assert.equal(engine.last!.requestId, 'req-456');
  });

  it('http - Fastify errors come out in the envelope: bad JSON, too large, media type', async () => {
    const badJson = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: '{"messages": [', headers: { authorization: 'Bearer k1', 'content-type': 'application/json' } });
    assert.equal(badJson.statusCode, 400);
    assert.equal(badJson.json().error.type, 'invalid_request_error');
    const big = await app.inject({ method: 'POST', url: '/v1/completions', payload: JSON.stringify({ prompt: 'x'.repeat(5 * 1024 * 1024) }), headers: { authorization: 'Bearer k1', 'content-type': 'application/json' } });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().error.code, 'request_too_large');
    const form = await app.inject({ method: 'POST', url: '/v1/completions', payload: 'a=b', headers: { authorization: 'Bearer k1', 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.statusCode, 415);
    assert.match(form.json().error.message, /must be JSON: send them with Content-Type: application\/json/);
    assert.equal(form.json().error.code, 'unsupported_media_type');
    const text = await app.inject({ method: 'POST', url: '/v1/completions', payload: 'hello', headers: { authorization: 'Bearer k1', 'content-type': 'text/plain' } });
    assert.equal(text.statusCode, 400);
    const route = await app.inject({ method: 'GET', url: '/v2/anything' });
    assert.equal(route.statusCode, 404);
    assert.equal(route.json().error.code, 'unknown_url');
  });

  it('http - an unexpected error is a 500 with a generic message, logged with the request id', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const broken = new ScriptedEngine();
    broken.refuse = new TypeError('internal detail');
    const logged = buildHttpServer({ engine: broken, responses: new InMemoryResponseStore(), logger: pino({ level: 'info' }, sink) });
    try {
      const res = await logged.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content: 'q' }] }, headers: { 'x-request-id': 'r-500' } });
      assert.equal(res.statusCode, 500);
      assert.deepEqual(res.json(), { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } });
      const failure = lines.find((l) => l['msg'] === 'request failed');
      assert.ok(failure, JSON.stringify(lines));
      assert.equal(failure['reqId'], 'r-500');
      assert.equal(failure['level'], 50);
      assert.match(JSON.stringify(failure['err']), /internal detail/);
    } finally {
      await logged.close();
    }
  });
});
