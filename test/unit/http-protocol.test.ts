// Request validation names the bad parameter; the error table; stop strings; context fitting.
import assert from 'node:assert/strict';
import { ExpertUnavailableError, InvalidRequestError, QueueFullError, RequestAbortedError } from '../../common/errors.js';
import { AuthenticationError, ModelNotFoundError, NotFoundError, toHttpError } from '../../coordinator/api/errors.js';
import { fitMaxTokens } from '../../coordinator/api/generation.js';
import { checkModel, parseChatCompletionRequest, parseCompletionRequest } from '../../coordinator/api/protocol.js';
import { parseResponsesRequest } from '../../coordinator/api/responses-protocol.js';
import { StopStringMatcher } from '../../coordinator/api/stop-strings.js';

const user = { role: 'user', content: 'hi' };

/** Asserts `fn` throws InvalidRequestError naming `param`. */
function rejects(fn: () => unknown, param: string | null, code?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidRequestError, `expected InvalidRequestError, got ${String(err)}`);
    assert.equal(err.param, param, err.message);
    if (code !== undefined) assert.equal(err.code, code);
    return true;
  });
}

describe('http protocol', () => {
  it('http - a minimal chat request gets OpenAI defaults', () => {
    const req = parseChatCompletionRequest({ model: 'm', messages: [user], unknown_field: { ignored: true } });
    assert.equal(req.model, 'm');
    assert.deepEqual(req.messages, [{ role: 'user', content: 'hi' }]);
    assert.deepEqual({ ...req.sampling, logitBias: [...req.sampling.logitBias] }, { temperature: 1, topP: 1, presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1, topK: 0, minP: 0, logitBias: [], stopTokenIds: [], n: 1 });
    assert.equal(req.maxTokens, undefined);
    assert.equal(req.stream, false);
    assert.equal(req.logprobs, false);
    assert.deepEqual(req.stop, []);
  });

  it('http - chat messages map to harmony chat messages (content parts, tool calls, tool results)', () => {
    const req = parseChatCompletionRequest({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'be ' }, { type: 'text', text: 'brief' }] },
        user,
        { role: 'assistant', content: null, reasoning_content: 'think', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '42' },
      ],
      max_completion_tokens: 7,
      max_tokens: 99,
      reasoning_effort: 'high',
      stop: 'END',
      seed: -3,
    });
    assert.deepEqual(req.messages, [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: null, reasoning: 'think', toolCalls: [{ id: 'call_1', name: 'f', arguments: '{}' }] },
      { role: 'tool', content: '42', toolCallId: 'call_1' },
    ]);
    assert.equal(req.maxTokens, 7, 'max_completion_tokens wins over max_tokens');
    assert.equal(req.reasoningEffort, 'high');
    assert.deepEqual(req.stop, ['END']);
    assert.equal(req.sampling.seed, -3);
  });

  it('http - bad chat parameters are rejected naming the parameter', () => {
    const chat = (extra: Record<string, unknown>, messages: unknown[] = [user]) => () => parseChatCompletionRequest({ messages, ...extra });
    rejects(() => parseChatCompletionRequest([]), null);
    rejects(() => parseChatCompletionRequest({}), 'messages', 'missing_required_parameter');
    rejects(chat({}, []), 'messages');
    rejects(chat({}, [user, { role: 'bot', content: 'x' }]), 'messages[1].role');
    rejects(chat({}, [user, { role: 'user' }]), 'messages[1].content', 'missing_required_parameter');
    rejects(chat({}, [user, { role: 'user', content: 5 }]), 'messages[1].content');
    rejects(chat({}, [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }]), 'messages[0].content[0].type');
    rejects(chat({}, [{ role: 'assistant', tool_calls: [{ type: 'function', function: { arguments: '{}' } }] }]), 'messages[0].tool_calls[0].function.name');
    rejects(chat({}, [{ role: 'tool', content: 'x' }]), 'messages[0].tool_call_id');
    rejects(chat({ temperature: 2.5 }), 'temperature');
    rejects(chat({ temperature: '1' }), 'temperature');
    rejects(chat({ top_p: 0 }), 'top_p');
    rejects(chat({ top_p: 1.1 }), 'top_p');
    rejects(chat({ max_tokens: 0 }), 'max_tokens');
    rejects(chat({ max_tokens: 1.5 }), 'max_tokens');
    rejects(chat({ max_completion_tokens: -1 }), 'max_completion_tokens');
    rejects(chat({ n: 0 }), 'n');
    rejects(chat({ n: 17 }), 'n');
    rejects(chat({ top_k: -2 }), 'top_k');
    rejects(chat({ min_p: 1.5 }), 'min_p');
    rejects(chat({ repetition_penalty: 0 }), 'repetition_penalty');
    rejects(chat({ frequency_penalty: 2.5 }), 'frequency_penalty');
    rejects(chat({ logit_bias: { x: 1 } }), 'logit_bias.x');
    rejects(chat({ logit_bias: { 5: 101 } }), 'logit_bias.5');
    rejects(chat({ stop_token_ids: [1, -1] }), 'stop_token_ids[1]');
    rejects(chat({ seed: 0.5 }), 'seed');
    rejects(chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop');
    rejects(chat({ stop: ['a', 7] }), 'stop[1]');
    rejects(chat({ stop: [''] }), 'stop[0]');
    rejects(chat({ logprobs: true, top_logprobs: 21 }), 'top_logprobs');
    rejects(chat({ top_logprobs: 2 }), 'top_logprobs');
    rejects(chat({ reasoning_effort: 'extreme' }), 'reasoning_effort');
    rejects(chat({ stream: 'yes' }), 'stream');
    rejects(chat({ stream_options: { include_usage: true } }), 'stream_options');
    rejects(chat({ stream: true, stream_options: { include_usage: 1 } }), 'stream_options.include_usage');
    rejects(chat({ presence_penalty: 3 }), 'presence_penalty');
    rejects(chat({ response_format: { type: 'xml' } }), 'response_format.type');
    rejects(chat({ response_format: { type: 'json_schema' } }), 'response_format.json_schema');
    rejects(chat({ response_format: { type: 'json_schema', json_schema: { name: 'a b', schema: {} } } }), 'response_format.json_schema.name');
    rejects(chat({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema: 5 } } }), 'response_format.json_schema.schema');
    rejects(chat({ tools: [{ type: 'function', function: { name: 'bad name' } }] }), 'tools[0].function.name');
    rejects(chat({ tools: [{ type: 'web_search' }] }), 'tools[0].type');
    rejects(chat({ tool_choice: 'required' }), 'tool_choice');
    rejects(chat({ model: 7 }), 'model');
  });

  it('http - null counts as absent; sampling extras and response formats are parsed', () => {
    const req = parseChatCompletionRequest({ messages: [user], temperature: null, n: 1, presence_penalty: 0, logit_bias: {}, stop: null, tool_choice: 'none', tools: [{ type: 'function', function: { name: 'f' } }] });
    assert.equal(req.sampling.temperature, 1);
    assert.deepEqual(req.tools, [], 'tool_choice none leaves the tools out');
    assert.equal(req.responseFormat, null);
    const full = parseChatCompletionRequest({
      messages: [user],
      n: 3,
      top_k: -1,
      min_p: 0.1,
      repetition_penalty: 1.2,
      frequency_penalty: -1,
      logit_bias: { 7: -100 },
      stop_token_ids: [5],
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' }, strict: true } },
    });
    assert.deepEqual({ ...full.sampling, logitBias: [...full.sampling.logitBias] }, {
      temperature: 1,
      topP: 1,
      presencePenalty: 0,
      frequencyPenalty: -1,
      repetitionPenalty: 1.2,
      topK: 0,
      minP: 0.1,
      logitBias: [[7, -100]],
      stopTokenIds: [5],
      n: 3,
    });
    assert.deepEqual(full.responseFormat, { type: 'json_schema', name: 'x', schema: { type: 'object' }, strict: true });
    assert.deepEqual(parseCompletionRequest({ prompt: 'x', response_format: { type: 'json_object' } }).responseFormat, { type: 'json_object' });
    assert.deepEqual(parseResponsesRequest({ input: 'x', text: { format: { type: 'json_schema', name: 'r', schema: {} } } }).responseFormat, { type: 'json_schema', name: 'r', schema: {}, strict: false });
  });

  it('http - completion prompts: string, token ids, or one of either in an array', () => {
    assert.equal(parseCompletionRequest({ prompt: 'abc' }).prompt, 'abc');
    assert.deepEqual(parseCompletionRequest({ prompt: [1, 2, 3] }).prompt, [1, 2, 3]);
    assert.equal(parseCompletionRequest({ prompt: ['abc'] }).prompt, 'abc');
    assert.deepEqual(parseCompletionRequest({ prompt: [[4, 5]] }).prompt, [4, 5]);
    assert.equal(parseCompletionRequest({ prompt: 'x' }).maxTokens, 16);
    rejects(() => parseCompletionRequest({}), 'prompt');
    rejects(() => parseCompletionRequest({ prompt: '' }), 'prompt');
    rejects(() => parseCompletionRequest({ prompt: ['a', 'b'] }), 'prompt');
    rejects(() => parseCompletionRequest({ prompt: [1, -2] }), 'prompt[1]');
    rejects(() => parseCompletionRequest({ prompt: [[1, 'x']] }), 'prompt[0][1]');
    rejects(() => parseCompletionRequest({ prompt: 'x', echo: true }), 'echo');
    rejects(() => parseCompletionRequest({ prompt: 'x', logprobs: 21 }), 'logprobs');
    rejects(() => parseCompletionRequest({ prompt: 'x', logprobs: true }), 'logprobs');
    rejects(() => parseCompletionRequest({ prompt: 'x', best_of: 3 }), 'best_of');
  });

  it('http - responses input items are normalized and bad ones named', () => {
    const req = parseResponsesRequest({
      input: [
        { role: 'user', content: 'hi' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'hello' }] },
        { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'hm' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: '1' },
      ],
      reasoning: { effort: 'low' },
      max_output_tokens: 32,
      instructions: 'be nice',
    });
    assert.deepEqual(req.input, [
      { type: 'message', role: 'user', content: 'hi' },
      { type: 'message', role: 'assistant', content: 'hello' },
      { type: 'reasoning', text: 'hm' },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c1', output: '1' },
    ]);
    assert.equal(req.store, true);
    assert.equal(req.reasoningEffort, 'low');
    assert.deepEqual(parseResponsesRequest({ input: 'x' }).input, [{ type: 'message', role: 'user', content: 'x' }]);
    rejects(() => parseResponsesRequest({}), 'input');
    rejects(() => parseResponsesRequest({ input: 5 }), 'input');
    rejects(() => parseResponsesRequest({ input: [{ type: 'item_reference', id: 'x' }] }), 'input[0].type');
    rejects(() => parseResponsesRequest({ input: [{ role: 'robot', content: 'x' }] }), 'input[0].role');
    rejects(() => parseResponsesRequest({ input: [{ type: 'function_call', name: 'f', arguments: '' }] }), 'input[0].call_id');
    rejects(() => parseResponsesRequest({ input: 'x', reasoning: { effort: 'max' } }), 'reasoning.effort');
    rejects(() => parseResponsesRequest({ input: 'x', max_output_tokens: 0 }), 'max_output_tokens');
    rejects(() => parseResponsesRequest({ input: 'x', text: { format: { type: 'json_schema' } } }), 'text.format.name');
    rejects(() => parseResponsesRequest({ input: 'x', text: { format: { type: 'yaml' } } }), 'text.format.type');
    rejects(() => parseResponsesRequest({ input: 'x', tools: [{ type: 'function', name: 'a b' }] }), 'tools[0].name');
  });

  it('http - the model must be the served one', () => {
    checkModel(null, 'served');
    checkModel('served', 'served');
    assert.throws(() => checkModel('other', 'served'), ModelNotFoundError);
  });

  it('http - the error table maps classes to statuses and the OpenAI envelope', () => {
    const cases: Array<[unknown, number, string, string | null, string | null]> = [
      [new InvalidRequestError('bad', 'temperature'), 400, 'invalid_request_error', 'temperature', null],
      [new InvalidRequestError('long', 'max_tokens', 'context_length_exceeded'), 400, 'invalid_request_error', 'max_tokens', 'context_length_exceeded'],
      [new ModelNotFoundError('x'), 404, 'invalid_request_error', 'model', 'model_not_found'],
      [new NotFoundError('no such response', 'response_id'), 404, 'invalid_request_error', 'response_id', 'not_found'],
      [new AuthenticationError('no key'), 401, 'invalid_request_error', null, 'invalid_api_key'],
      [new QueueFullError('full'), 429, 'rate_limit_error', null, 'queue_full'],
      [new ExpertUnavailableError(3, 7), 503, 'server_error', null, 'expert_unavailable'],
      [new RequestAbortedError('gone'), 499, 'invalid_request_error', null, 'request_aborted'],
    ];
    for (const [err, status, type, param, code] of cases) {
      const mapped = toHttpError(err);
      assert.equal(mapped.status, status, String(err));
      assert.deepEqual(mapped.body, { error: { message: (err as Error).message, type, param, code } });
      assert.equal(mapped.unexpected, false);
    }
    const internal = toHttpError(new TypeError('secret detail'));
    assert.equal(internal.status, 500);
    assert.equal(internal.unexpected, true);
    assert.ok(!internal.body.error.message.includes('secret'), 'internal messages are not shown');
  });

  it('http - fitMaxTokens defaults to the rest of the context and rejects overflow', () => {
    assert.equal(fitMaxTokens(100, undefined, 1000, 'messages', 'max_tokens'), 900);
    assert.equal(fitMaxTokens(100, 900, 1000, 'messages', 'max_tokens'), 900);
    rejects(() => fitMaxTokens(100, 901, 1000, 'messages', 'max_tokens'), 'max_tokens', 'context_length_exceeded');
    rejects(() => fitMaxTokens(1000, undefined, 1000, 'messages', 'max_tokens'), 'messages', 'context_length_exceeded');
  });
});

describe('http stop strings', () => {
  function run(stops: string[], pieces: string[]): { text: string; items: number[]; stopped: boolean; offsets: number[] } {
    const m = new StopStringMatcher<number>(stops);
    let text = '';
    const items: number[] = [];
    const offsets: number[] = [];
    pieces.forEach((p, i) => {
      const r = m.push(p, [i]);
      text += r.text;
      for (const e of r.items) items.push(e.item), offsets.push(e.offset);
    });
    const r = m.flush();
    text += r.text;
    for (const e of r.items) items.push(e.item), offsets.push(e.offset);
    return { text, items, stopped: m.stopped, offsets };
  }

  it('http - without stop strings everything is released at once', () => {
    const m = new StopStringMatcher<number>([]);
    assert.deepEqual(m.push('abc', [0]), { text: 'abc', items: [{ item: 0, offset: 0 }] });
  });

  it('http - a stop string across pieces cuts the text before it and drops later tokens', () => {
    const r = run(['STOP'], ['Hello ', 'wo', 'rld S', 'TO', 'P and more']);
    assert.equal(r.text, 'Hello world ');
    assert.equal(r.stopped, true);
    assert.deepEqual(r.items, [0, 1, 2], 'the token holding the cut stays, the stop string tokens after it go');
    assert.deepEqual(r.offsets, [0, 6, 8]);
  });

  it('http - a possible stop prefix is held back, then released when it turns out not to be one', () => {
    const m = new StopStringMatcher<number>(['</end>']);
    assert.equal(m.push('abc</e', [0]).text, 'abc');
    assert.equal(m.push('x', [1]).text, '</ex');
    assert.equal(m.flush().text, '');
    assert.deepEqual(run(['</end>'], ['a', '</en']).text, 'a</en', 'flush releases a held tail');
  });

  it('http - the earliest of several stop strings wins', () => {
    assert.equal(run(['cd', 'b'], ['abcdef']).text, 'a');
  });

  it('http - tokens with no text yet (half a character) travel with the next text', () => {
    const r = run(['zz'], ['a', '', 'é', 'zz']);
    assert.equal(r.text, 'aé');
    assert.deepEqual(r.items, [0, 1, 2]);
    assert.deepEqual(r.offsets, [0, 1, 1]);
  });
});
