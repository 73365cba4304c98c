// Deeply nested JSON in request bodies (issue 19 item 9): schemas thousands of levels deep used to
// overflow the stack in whatever read them first (the prompt renderer, the tool checker, the
// grammar cache's key) and answer 500. Every entry point answers 400 naming the parameter, at
// 3,000 levels and at 100,000. Bodies are sent as raw text (JSON.stringify itself cannot write
// 100,000 levels) to the demo-size API.
import assert from 'node:assert/strict';
import { startDemoApi, type DemoApi } from '../helpers/demo-api.js';

/** A JSON schema nested `levels` JSON levels deep: `{"items": {"items": ... {"type": "integer"}}}`. */
function deepSchema(levels: number): string {
  return '{"items":'.repeat(levels - 1) + '{"type":"integer"}' + '}'.repeat(levels - 1);
}

/** A JSON value nested `levels` deep, as text. */
function deepArray(levels: number): string {
  return '['.repeat(levels) + ']'.repeat(levels);
}

const user = '[{"role":"user","content":"hi"}]';

/** [label, path, body with the schema text at $S, parameter the 400 must name]. */
const ENTRY_POINTS: Array<[string, string, (s: string) => string, string]> = [
  ['chat response_format', '/chat/completions', (s) => `{"messages":${user},"max_tokens":1,"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":${s}}}}`, 'response_format.json_schema.schema'],
  ['chat strict tool parameters', '/chat/completions', (s) => `{"messages":${user},"max_tokens":1,"tools":[{"type":"function","function":{"name":"f","strict":true,"parameters":${s}}}]}`, 'tools[0].function.parameters'],
  ['chat tool parameters (not strict)', '/chat/completions', (s) => `{"messages":${user},"max_tokens":1,"tools":[{"type":"function","function":{"name":"f","parameters":${s}}}]}`, 'tools[0].function.parameters'],
  ['completions response_format', '/completions', (s) => `{"prompt":"x","max_tokens":1,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${s}}}}`, 'response_format.json_schema.schema'],
  ['responses text.format', '/responses', (s) => `{"input":"hi","max_output_tokens":1,"store":false,"text":{"format":{"type":"json_schema","name":"x","strict":true,"schema":${s}}}}`, 'text.format.schema'],
  ['responses tool parameters', '/responses', (s) => `{"input":"hi","max_output_tokens":1,"store":false,"tools":[{"type":"function","name":"f","strict":true,"parameters":${s}}]}`, 'tools[0].parameters'],
  ['tokenize tools', '/../tokenize', (s) => `{"messages":${user},"tools":[{"type":"function","function":{"name":"f","parameters":${s}}}]}`, 'tools[0].function.parameters'],
];

describe('http api - deeply nested JSON (demo-size model)', () => {
  let api: DemoApi;

  before(async () => {
    api = await startDemoApi('demo');
  });
  after(async () => api?.close());

  async function post(path: string, body: string): Promise<{ status: number; body: { error?: { message: string; param: string | null; code: string | null } } }> {
    const res = await fetch(new URL(`.${path}`, `${api.client.baseURL}/`), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, body: (await res.json()) as { error?: { message: string; param: string | null; code: string | null } } };
  }

  for (const levels of [3_000, 100_000]) {
    for (const [label, path, body, param] of ENTRY_POINTS) {
      it(`depth - ${label}, ${levels.toLocaleString('en')} levels: 400 naming ${param}`, async () => {
        const r = await post(path, body(deepSchema(levels)));
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error?.param, param);
        assert.equal(r.body.error?.code, 'invalid_json_schema');
        assert.match(r.body.error!.message, new RegExp(`nested ${levels} levels deep; at most 64`));
      });
    }
  }

  it('depth - a schema of 64 levels is still served', async () => {
    const r = await post('/completions', ENTRY_POINTS[3]![2](deepSchema(64)));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it('depth - deep JSON where the API reads no structure (tool-call arguments, message content, unknown fields) is no 500', async () => {
    // Arguments are JSON text rendered verbatim: 100,000 levels are simply too many tokens.
    const args = JSON.stringify(deepArray(100_000));
    const history = `[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":${args}}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]`;
    const chat = await post('/chat/completions', `{"messages":${history},"tools":[{"type":"function","function":{"name":"f"}}],"max_tokens":1}`);
    assert.equal(chat.body.error?.code, 'context_length_exceeded', JSON.stringify(chat.body));
    const input = `[{"type":"function_call","call_id":"c1","name":"f","arguments":${args}},{"type":"function_call_output","call_id":"c1","output":"ok"}]`;
    const responses = await post('/responses', `{"input":${input},"tools":[{"type":"function","name":"f"}],"max_output_tokens":1,"store":false}`);
    assert.equal(responses.body.error?.code, 'context_length_exceeded', JSON.stringify(responses.body));
    const content = await post('/chat/completions', `{"messages":[{"role":"user","content":${deepArray(100_000)}}],"max_tokens":1}`);
    assert.equal(content.status, 400);
    assert.equal(content.body.error?.param, 'messages[0].content[0]');
    assert.equal((await post('/chat/completions', `{"messages":${user},"max_tokens":1,"extra":${deepArray(100_000)}}`)).status, 200);
  });
});
