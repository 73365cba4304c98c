// tool_choice as OpenAI defines it (issue 19 item 10): "none", "auto", "required" and a named
// function force (or forbid) a tool call, and a forced call's arguments follow the tool's
// parameters, strict or not (LangChain's withStructuredOutput(..., {method: 'functionCalling'})
// and bindTools(..., {tool_choice}) send these). Through the official openai client against the
// random demo-size model, which never chooses to call a tool by itself: any call it makes, with
// arguments valid against the schema, is the server's doing.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { apiError } from '../helpers/api-error.js';
import { startDemoApi, type DemoApi } from '../helpers/demo-api.js';
import { assertValidJson } from '../helpers/structured-checks.js';

const MODEL = 'demo';
type Schema = Record<string, unknown>;

const WEATHER: Schema = {
  type: 'object',
  properties: { city: { enum: ['Paris', 'Oslo', 'Lima'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
  required: ['city', 'days'],
  additionalProperties: false,
};
const TIME: Schema = { type: 'object', properties: { zone: { type: 'string', maxLength: 6 } }, required: ['zone'], additionalProperties: false };
const SCHEMAS: Record<string, Schema> = { get_weather: WEATHER, get_time: TIME };

/** Neither tool is strict: forcing a call is what constrains its arguments. */
const chatTools: OpenAI.Chat.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather forecast', parameters: WEATHER } },
  { type: 'function', function: { name: 'get_time', parameters: TIME } },
];
const responseTools: OpenAI.Responses.FunctionTool[] = [
  { type: 'function', name: 'get_weather', description: 'Weather forecast', parameters: WEATHER, strict: false },
  { type: 'function', name: 'get_time', parameters: TIME, strict: false },
];
const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Oslo?' }];

describe('tool_choice (openai client, random demo-size model)', () => {
  let api: DemoApi;

  before(async () => {
    api = await startDemoApi(MODEL);
  });
  after(async () => api?.close());

  function checkCall(name: string, args: string, allowed: readonly string[], label: string): void {
    assert.ok(allowed.includes(name), `${label}: called ${name}`);
    assertValidJson(args, SCHEMAS[name]!, `${label}: ${name} arguments`);
  }

  it('tool_choice - chat "required": every choice calls a tool, arguments valid against its parameters', async () => {
    const r = await api.client.chat.completions.create({ model: MODEL, messages, tools: chatTools, tool_choice: 'required', max_tokens: 96, n: 6, seed: 7 });
    for (const c of r.choices) {
      assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c.message));
      assert.equal(c.message.tool_calls?.length, 1);
      const call = c.message.tool_calls![0]!;
      assert.ok(call.type === 'function');
      checkCall(call.function.name, call.function.arguments, ['get_weather', 'get_time'], `choice ${c.index}`);
    }
  });

  it('tool_choice - chat named function: every choice calls that tool; streaming assembles the same kind of call', async () => {
    const tool_choice = { type: 'function' as const, function: { name: 'get_time' } };
    const r = await api.client.chat.completions.create({ model: MODEL, messages, tools: chatTools, tool_choice, max_tokens: 96, n: 4, seed: 3 });
    for (const c of r.choices) {
      assert.equal(c.finish_reason, 'tool_calls');
      const call = c.message.tool_calls![0]!;
      assert.ok(call.type === 'function');
      checkCall(call.function.name, call.function.arguments, ['get_time'], `choice ${c.index}`);
    }
    const stream = await api.client.chat.completions.create({ model: MODEL, messages, tools: chatTools, tool_choice, max_tokens: 96, seed: 3, stream: true });
    let name = '';
    let args = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        name += call.function?.name ?? '';
        args += call.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    checkCall(name, args, ['get_time'], 'stream');
    // The same seed streamed and not: the same call.
    const first = r.choices[0]!.message.tool_calls![0]!;
    assert.ok(first.type === 'function');
    assert.equal(args, first.function.arguments);
  });

  it('tool_choice - responses named function and "required", streaming and not: a function_call item valid against the schema', async () => {
    const named = await api.client.responses.create({ model: MODEL, input: 'Weather in Lima?', tools: responseTools, tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 96, store: false });
    const call = named.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call', JSON.stringify(named.output));
    checkCall(call.name, call.arguments, ['get_weather'], 'named');
    assert.deepEqual(named.tool_choice, { type: 'function', name: 'get_weather' });
    const stream = await api.client.responses.create({ model: MODEL, input: 'Time?', tools: responseTools, tool_choice: 'required', max_output_tokens: 96, store: false, stream: true });
    let done: OpenAI.Responses.ResponseFunctionToolCall | null = null;
    for await (const event of stream) if (event.type === 'response.output_item.done' && event.item.type === 'function_call') done = event.item;
    assert.ok(done, 'a function_call item was streamed');
    checkCall(done.name, done.arguments, ['get_weather', 'get_time'], 'required, streamed');
  });

  it('tool_choice - "none" and "auto" are served; unknown names, "required" without tools and other types are 400s naming the parameter', async () => {
    for (const tool_choice of ['none', 'auto'] as const) {
      const r = await api.client.chat.completions.create({ model: MODEL, messages, tools: chatTools, tool_choice, max_tokens: 4 });
      assert.equal(r.choices.length, 1);
    }
    const unknown = await apiError(api.client.chat.completions.create({ model: MODEL, messages, tools: chatTools, tool_choice: { type: 'function', function: { name: 'get_mood' } }, max_tokens: 4 }));
    assert.equal(unknown.status, 400);
    assert.equal(unknown.param, 'tool_choice.function.name');
    assert.match(unknown.message, /get_mood/);
    const noTools = await apiError(api.client.chat.completions.create({ model: MODEL, messages, tool_choice: 'required', max_tokens: 4 }));
    assert.equal(noTools.param, 'tool_choice');
    const responsesUnknown = await apiError(api.client.responses.create({ model: MODEL, input: 'x', tools: responseTools, tool_choice: { type: 'function', name: 'nope' }, max_output_tokens: 4 }));
    assert.equal(responsesUnknown.param, 'tool_choice.name');
    const other = await apiError(api.client.responses.create({ model: MODEL, input: 'x', tools: responseTools, tool_choice: { type: 'file_search' }, max_output_tokens: 4 }));
    assert.equal(other.param, 'tool_choice.type');
  });
});
