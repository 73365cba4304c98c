// Fuzzing the OpenAI-compatible API: a real coordinator HTTP server over the real single-process
// engine (random checkpoint, gpt-oss's real vocabulary) gets 1,200 malformed, oversized and
// mistyped requests from a seeded generator, spread over every endpoint. Each must be answered by a
// 4xx carrying the OpenAI error envelope, in time; the server must stay up; and greedy requests sent
// concurrently with the fuzzing must produce exactly the output they produced before it.
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { Engine } from '../../common/engine/engine.js';
import { buildHttpServer, InMemoryResponseStore } from '../../coordinator/api/index.js';
import { ObservedEngineClient } from '../helpers/engine-client-adapter.js';
import { freePort } from '../helpers/free-port.js';
import { tinyModel } from '../helpers/tiny-model.js';

const MODEL = 'openai/gpt-oss-test';
const KEY = 'sk-fuzz-key';
const CONTEXT = 2048;
const VOCAB = 201088;
const SEED = 0x5eed;
const CASES = 1200;
const CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 30_000;
const BODY_LIMIT = 4 * 1024 * 1024;

/** mulberry32: deterministic numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface FuzzCase {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Buffer;
}

const JSON_CT = { 'content-type': 'application/json' };
const auth = (): Record<string, string> => ({ authorization: `Bearer ${KEY}` });

class Gen {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  unicodeJunk(len: number): string {
    const pieces = ['\u0000', '\ud800', '\udfff', '\uffff', '\u202e', '\u200b', '😀', 'Ω', '\n', '"', '\\', '<|start|>', '<|end|>', '<|channel|>', 'é', '\u0007', '\u{10ffff}'];
    let s = '';
    while (s.length < len) s += this.r() < 0.5 ? this.pick(pieces) : String.fromCharCode(this.int(0xffff));
    return s;
  }
  deep(depth: number, kind: 'array' | 'object'): string {
    return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  }
  /** A JSON value of the wrong type for a field whose valid type is `kind`. */
  wrongFor(kind: Exclude<Kind, 'custom'>): unknown {
    const all: Record<string, unknown[]> = {
      string: [5, -1.5, true, false, [], ['x'], {}, { a: 1 }],
      number: ['1', 'NaN', 'Infinity', '-Infinity', '', true, [], [1], {}, { value: 1 }],
      int: ['1', 'NaN', true, [], {}, 1.5, -0.25, 1e-300, '7'],
      bool: ['true', 'false', 1, 0, [], {}, 'yes'],
      array: ['x', 5, true, {}, { 0: 'a' }],
      object: ['x', 5, true, [], [{}]],
    };
    return this.pick(all[kind]!);
  }
}

/** 'custom': only the listed bad values (the field takes several types, so no generic wrong type). */
type Kind = 'string' | 'number' | 'int' | 'bool' | 'array' | 'object' | 'custom';
/** Per endpoint: a valid body, and for each field the kind of value it takes plus values invalid for it. */
interface EndpointSpec {
  readonly path: string;
  readonly base: () => Record<string, unknown>;
  readonly fields: Record<string, { kind: Kind; bad: unknown[] }>;
}

const MESSAGES_BAD: unknown[] = [[], [{}], [{ role: 'wizard', content: 'x' }], [{ role: 'user' }], [{ role: 'user', content: 5 }], [{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }], [{ role: 'user', content: [{ type: 'text' }] }], [{ role: 'tool', content: 'x' }], [{ role: 'assistant' }], ['user'], [[]], [null]];
const TEMP_BAD = [-0.1, 2.5, 1e308, -1e308];
const CHAT: EndpointSpec = {
  path: '/v1/chat/completions',
  base: () => ({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1, temperature: 0 }),
  fields: {
    model: { kind: 'string', bad: ['no-such-model', '', 'x'.repeat(10_000)] },
    messages: { kind: 'array', bad: MESSAGES_BAD },
    max_tokens: { kind: 'int', bad: [0, -5, 1.25] },
    max_completion_tokens: { kind: 'int', bad: [0, -1, 0.5] },
    temperature: { kind: 'number', bad: TEMP_BAD },
    top_p: { kind: 'number', bad: [0, -1, 1.5] },
    n: { kind: 'int', bad: [17, 0, -1] },
    stream: { kind: 'bool', bad: [] },
    stream_options: { kind: 'object', bad: [{ include_usage: true }] },
    stop: { kind: 'custom', bad: [[1, 2], [{}], [[]], 5, true, { s: 'x' }] },
    seed: { kind: 'int', bad: [] },
    logprobs: { kind: 'bool', bad: [] },
    top_logprobs: { kind: 'int', bad: [1000, -1] },
    tools: { kind: 'array', bad: [[{}], [{ type: 'retrieval' }], [{ type: 'function' }], [{ type: 'function', function: {} }]] },
    tool_choice: { kind: 'string', bad: ['required', { type: 'function', function: { name: 'f' } }] },
    response_format: { kind: 'object', bad: [{ type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nope' } } }, { type: 5 }] },
    presence_penalty: { kind: 'number', bad: [2.5, -3] },
    frequency_penalty: { kind: 'number', bad: [2.1, -2.5] },
    logit_bias: { kind: 'custom', bad: [{ 5: 101 }, { [VOCAB]: 1 }, 'x', 5, true] },
    reasoning_effort: { kind: 'string', bad: ['extreme', ''] },
  },
};
const COMPLETIONS: EndpointSpec = {
  path: '/v1/completions',
  base: () => ({ model: MODEL, prompt: 'Hello', max_tokens: 1, temperature: 0 }),
  fields: {
    model: { kind: 'string', bad: ['no-such-model', ''] },
    prompt: { kind: 'custom', bad: [[-1], [VOCAB], [VOCAB + 1], [2 ** 31], [1.5], [[-3]], [[VOCAB * 2]], [{}], [true], [[]], [], [['a']], 5, -1] },
    max_tokens: { kind: 'int', bad: [0, -5, 0.75] },
    temperature: { kind: 'number', bad: TEMP_BAD },
    top_p: { kind: 'number', bad: [0, 2] },
    n: { kind: 'int', bad: [17] },
    best_of: { kind: 'int', bad: [2] },
    stream: { kind: 'bool', bad: [] },
    echo: { kind: 'bool', bad: [] },
    stop: { kind: 'custom', bad: [[5], [{}], 7, false] },
    seed: { kind: 'int', bad: [] },
    logprobs: { kind: 'int', bad: [-1, 1000] },
    suffix: { kind: 'string', bad: [] },
    presence_penalty: { kind: 'number', bad: [2.1] },
    logit_bias: { kind: 'object', bad: [{ 1: -101 }] },
    stop_token_ids: { kind: 'array', bad: [[-1], [VOCAB], ['x']] },
  },
};
const RESPONSES: EndpointSpec = {
  path: '/v1/responses',
  base: () => ({ model: MODEL, input: 'hi', max_output_tokens: 1, temperature: 0, store: false }),
  fields: {
    model: { kind: 'string', bad: ['no-such-model'] },
    input: { kind: 'custom', bad: [[{}], [{ type: 'mystery' }], [{ role: 'user' }], [{ role: 'user', content: [{ type: 'input_image' }] }], [{ type: 'function_call' }], [{ type: 'function_call_output' }], 5, true, {}] },
    instructions: { kind: 'string', bad: [] },
    max_output_tokens: { kind: 'int', bad: [0, -3, 2.5] },
    temperature: { kind: 'number', bad: TEMP_BAD },
    top_p: { kind: 'number', bad: [0, 3] },
    stream: { kind: 'bool', bad: [] },
    store: { kind: 'bool', bad: [] },
    previous_response_id: { kind: 'string', bad: ['resp_does_not_exist', '../../etc/passwd', ''] },
    tools: { kind: 'array', bad: [[{}], [{ type: 'web_search' }], [{ type: 'function' }]] },
    tool_choice: { kind: 'string', bad: ['required'] },
    reasoning: { kind: 'object', bad: [{ effort: 'max' }, { effort: 5 }] },
  },
};
const GENERATING = [CHAT, COMPLETIONS, RESPONSES];

function generate(g: Gen, i: number): FuzzCase {
  const spec = g.pick(GENERATING);
  const h = { ...JSON_CT, ...auth() };
  const category = i % 20;
  switch (category) {
    case 0: {
      // not JSON at all, or truncated JSON
      const base = JSON.stringify(spec.base());
      const body = g.pick([base.slice(0, 1 + g.int(base.length - 1)), '{', '}', '{"model":', "{'model': 'x'}", 'NaN', 'undefined', '{"a":1,}', '\u0000\u0001', '\ufeff{]', g.unicodeJunk(64)]);
      return { label: `broken json -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body };
    }
    case 1:
      // valid JSON, not an object
      return { label: `non-object body -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: g.pick(['null', '[]', '[{}]', '42', '-1e999', '"text"', 'true', JSON.stringify([spec.base()])]) };
    case 2:
      // deep nesting, as the body or inside a field
      if (g.int(2) === 0) return { label: `deep body -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: g.deep(2000 + g.int(20_000), g.pick(['array', 'object'] as const)) };
      return { label: `deep field -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: JSON.stringify(spec.base()).replace(/\}$/, `,"${g.pick(Object.keys(spec.fields))}":${g.deep(1000 + g.int(3000), 'array')}}`) };
    case 3: {
      // oversized: over the body limit (413) or a huge array / string in a field
      const which = g.int(3);
      if (which === 0) return { label: `oversized body -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: JSON.stringify({ ...spec.base(), pad: 'x'.repeat(BODY_LIMIT) }) };
      if (which === 1) {
        const field = spec === CHAT ? 'messages' : spec === COMPLETIONS ? 'prompt' : 'input';
        const item = spec === COMPLETIONS ? -1 : {};
        return { label: `huge array ${field} -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: JSON.stringify({ ...spec.base(), [field]: Array.from({ length: 50_000 + g.int(100_000) }, () => item) }) };
      }
      return { label: `huge string model -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: JSON.stringify({ ...spec.base(), model: 'm'.repeat(100_000 + g.int(1_000_000)) }) };
    }
    case 4: {
      // wrong content type (or none)
      const ct = g.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream', 'image/png', '']);
      const headers: Record<string, string> = { ...auth() };
      if (ct) headers['content-type'] = ct;
      return { label: `content-type "${ct}" -> ${spec.path}`, method: 'POST', path: spec.path, headers, body: g.pick([JSON.stringify(spec.base()), 'model=x&prompt=y', '<xml/>', Buffer.from([0xff, 0xfe, 0x00, 0x01])]) };
    }
    case 5: {
      // missing or wrong API key
      const headers: Record<string, string> = { ...JSON_CT };
      const k = g.int(4);
      if (k === 1) headers['authorization'] = 'Bearer sk-wrong';
      if (k === 2) headers['authorization'] = KEY;
      if (k === 3) headers['authorization'] = `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}`;
      return { label: `bad auth ${k} -> ${spec.path}`, method: 'POST', path: spec.path, headers, body: JSON.stringify(spec.base()) };
    }
    case 6: {
      // the GET endpoints with junk ids, and wrong methods on every endpoint
      const junk = encodeURIComponent(g.unicodeJunk(1 + g.int(40)).replace(/[\ud800-\udfff]/g, 'x'));
      const path = g.pick([
        `/v1/responses/${junk}`,
        `/v1/responses/resp_${g.int(1e9)}`,
        `/v1/responses/${'a'.repeat(1 + g.int(80))}`,
        `/v1/models/${junk}`,
        `/v1/models/${'z'.repeat(1 + g.int(80))}`,
        `/v1/${junk}`,
        `/v1/chat/completions/${junk}`,
      ]);
      return { label: `GET junk ${path.slice(0, 40)}`, method: 'GET', path, headers: auth() };
    }
    case 7: {
      const path = g.pick(['/v1/models', '/health', '/metrics', '/v1/chat/completions', '/v1/completions', '/v1/responses']);
      const method = g.pick(path.startsWith('/v1/') && path !== '/v1/models' ? ['PUT', 'DELETE', 'PATCH', 'GET'] : ['POST', 'PUT', 'DELETE', 'PATCH']);
      return { label: `${method} ${path}`, method, path, headers: { ...JSON_CT, ...auth() }, body: method === 'GET' ? undefined : JSON.stringify(spec.base()) };
    }
    case 8: {
      // huge content: well over the context window
      const body = spec.base();
      const text = g.unicodeJunk(20).repeat(1) + 'lorem ipsum '.repeat(2000 + g.int(20_000));
      if (spec === CHAT) body['messages'] = [{ role: 'user', content: text }];
      else if (spec === COMPLETIONS) body['prompt'] = g.int(2) === 0 ? text : Array.from({ length: CONTEXT + 1 + g.int(5000) }, (_, j) => j % 1000);
      else body['input'] = text;
      return { label: `over context -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: JSON.stringify(body) };
    }
    default: {
      // 1-3 fields with values of the wrong type or out of range, in an otherwise valid body
      const body = spec.base();
      const names = Object.keys(spec.fields);
      const k = 1 + g.int(3);
      const changed: string[] = [];
      for (let j = 0; j < k; j++) {
        const name = g.pick(names);
        const f = spec.fields[name]!;
        body[name] = f.kind === 'custom' || (f.bad.length > 0 && g.int(2) === 0) ? g.pick(f.bad) : g.wrongFor(f.kind);
        changed.push(name);
      }
      if (g.int(10) === 0) body['unicode_' + g.int(100)] = g.unicodeJunk(32);
      return { label: `bad ${changed.join(',')} -> ${spec.path}`, method: 'POST', path: spec.path, headers: h, body: JSON.stringify(body) };
    }
  }
}

interface Answer {
  readonly status: number;
  readonly json: unknown;
  readonly text: string;
}

async function send(base: string, c: FuzzCase): Promise<Answer> {
  const res = await fetch(base + c.path, { method: c.method, headers: c.headers, body: c.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* checked by the caller */
  }
  return { status: res.status, json, text };
}

function isEnvelope(json: unknown): boolean {
  if (typeof json !== 'object' || json === null) return false;
  const e = (json as { error?: unknown }).error;
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  return typeof o['message'] === 'string' && o['message'] !== '' && typeof o['type'] === 'string' && 'param' in o && 'code' in o && (o['param'] === null || typeof o['param'] === 'string') && (o['code'] === null || typeof o['code'] === 'string');
}

describe('fuzz - http api (1,200 malformed requests, real engine)', function () {
  let engine: Engine;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    engine = await Engine.loadLocal(await tinyModel({ vocab: VOCAB }));
    const adapter = new ObservedEngineClient(engine, { modelId: MODEL, contextLength: CONTEXT });
    app = buildHttpServer({ engine: adapter, responses: new InMemoryResponseStore(), logger: false, apiKeys: [KEY] });
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await app?.close();
    await engine?.close();
  });

  /** Three greedy requests, one per generating endpoint; returns their outputs. */
  async function greedy(): Promise<string[]> {
    const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const a = await send(base, { label: 'valid', method: 'POST', path, headers: { ...JSON_CT, ...auth() }, body: JSON.stringify(body) });
      assert.equal(a.status, 200, `${path}: ${a.text.slice(0, 300)}`);
      return a.json as Record<string, unknown>;
    };
    const [chat, completion, response] = await Promise.all([
      post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'Name a color.' }], max_tokens: 12, temperature: 0 }),
      post('/v1/completions', { model: MODEL, prompt: 'Once upon a time', max_tokens: 12, temperature: 0 }),
      post('/v1/responses', { model: MODEL, input: 'Say hi.', max_output_tokens: 12, temperature: 0, store: false }),
    ]);
    const msg = (chat['choices'] as { message: unknown }[])[0]!.message;
    const text = (completion['choices'] as { text: string }[])[0]!.text;
    const output = (response['output'] as { type: string; content?: unknown; summary?: unknown }[]).map((o) => ({ type: o.type, content: o.content, summary: o.summary }));
    return [JSON.stringify(msg), text, JSON.stringify(output)];
  }

  it('fuzz http - every malformed request gets a 4xx OpenAI error envelope in time; concurrent greedy requests are unchanged', async function () {
    this.timeout(600_000);
    const before = await greedy();
    const g = new Gen(SEED);
    const cases = Array.from({ length: CASES }, (_, i) => generate(g, i));
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    let fuzzing = true;
    let greedyRounds = 0;
    const started = Date.now();

    const fuzzWorker = async (): Promise<void> => {
      while (next < cases.length) {
        const i = next++;
        const c = cases[i]!;
        try {
          const a = await send(base, c);
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          if (a.status < 400 || a.status >= 500) failures.push(`#${i} ${c.label}: status ${a.status} for ${String(c.body).slice(0, 300)}`);
          else if (!isEnvelope(a.json)) failures.push(`#${i} ${c.label}: status ${a.status} without the error envelope: ${a.text.slice(0, 200)}`);
        } catch (err) {
          failures.push(`#${i} ${c.label}: ${(err as Error).name}: ${(err as Error).message}`);
        }
      }
    };
    const greedyWorker = async (): Promise<void> => {
      while (fuzzing) {
        const got = await greedy();
        assert.deepEqual(got, before, `greedy outputs changed during fuzzing (round ${greedyRounds})`);
        greedyRounds++;
      }
    };
    const greedyDone = greedyWorker();
    await Promise.all(Array.from({ length: CONCURRENCY }, fuzzWorker));
    fuzzing = false;
    await greedyDone;

    const summary = [...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}x${n}`).join(' ');
    console.log(`      ${cases.length} fuzz requests in ${Date.now() - started} ms; statuses ${summary}; ${greedyRounds} greedy rounds alongside`);
    assert.deepEqual(failures.slice(0, 30), [], `${failures.length} of ${cases.length} fuzz requests misbehaved`);
    assert.ok(greedyRounds >= 1);
    // still up, and still the same
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await greedy(), before);
  });

  it('fuzz http - an id over 100 characters gets the OpenAI error envelope', async () => {
    for (const path of [`/v1/responses/${'a'.repeat(4000)}`, `/v1/models/${'z'.repeat(2000)}`]) {
      const a = await send(base, { label: 'long id', method: 'GET', path, headers: auth() });
      assert.ok(a.status >= 400 && a.status < 500, String(a.status));
      assert.ok(isEnvelope(a.json), a.text.slice(0, 200));
    }
  });
});
