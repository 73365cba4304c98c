// Structured outputs through the official openai client against the random demo-size model (real
// o200k_harmony vocabulary): its tokens are random, so whatever it writes is only valid JSON
// because the grammar's token masks allow nothing else. Schemas bound their strings and numbers,
// since a random model never chooses to end an unbounded one.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { JsonGrammars } from '../../common/grammar/json-grammars.js';
import { getHarmonyTokenizer } from '../../common/harmony/index.js';
import { schemaViolation } from '../helpers/json-schema-check.js';
import { startDemoApi, type DemoApi } from '../helpers/demo-api.js';

const MODEL = 'demo';
type Schema = Record<string, unknown>;

const word = { type: 'string', maxLength: 6 };
const obj = (properties: Record<string, unknown>, required = Object.keys(properties)): Schema => ({ type: 'object', properties, required, additionalProperties: false });

const SCHEMAS: Array<[string, Schema]> = [
  ['flat object', obj({ name: word, age: { type: 'integer', minimum: 0, maximum: 120 } })],
  ['nested objects', obj({ user: obj({ id: { type: 'integer', minimum: 1, maximum: 999 }, profile: obj({ nick: word }) }) })],
  ['array with bounds', obj({ tags: { type: 'array', items: word, minItems: 1, maxItems: 3 } })],
  ['string enum', obj({ color: { enum: ['red', 'green', 'blue'] } })],
  ['mixed enum', { enum: ['a', 1, null, true] }],
  ['nullable string', obj({ note: { type: ['string', 'null'], maxLength: 5 } })],
  ['nullable integer', obj({ count: { type: ['integer', 'null'], minimum: -5, maximum: 5 } })],
  ['pattern', obj({ code: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' } })],
  ['integer range', obj({ n: { type: 'integer', minimum: 10, maximum: 99 } })],
  ['negative range', { type: 'integer', minimum: -50, maximum: -10 }],
  ['boolean', obj({ ok: { type: 'boolean' } })],
  ['const', obj({ kind: { const: 'event' }, v: { type: 'integer', minimum: 0, maximum: 3 } })],
  ['array of objects', { type: 'array', items: obj({ x: { type: 'integer', minimum: 0, maximum: 9 }, y: { type: 'integer', minimum: 0, maximum: 9 } }), minItems: 2, maxItems: 2 }],
  ['anyOf', obj({ value: { anyOf: [{ type: 'integer', minimum: 0, maximum: 9 }, { type: 'boolean' }] } })],
  ['optional property', obj({ a: { type: 'integer', minimum: 0, maximum: 9 }, b: word }, ['a'])],
  ['string lengths', obj({ s: { type: 'string', minLength: 2, maxLength: 4 } })],
  ['nested arrays', obj({ grid: { type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 1 }, minItems: 2, maxItems: 2 }, minItems: 2, maxItems: 2 } })],
  ['$defs reference', { $defs: { point: obj({ x: { type: 'integer', minimum: 0, maximum: 9 } }) }, ...obj({ from: { $ref: '#/$defs/point' }, to: { $ref: '#/$defs/point' } }) }],
  ['empty array allowed', obj({ items: { type: 'array', items: { type: 'boolean' }, maxItems: 2 } })],
  ['enum inside array', { type: 'array', items: { enum: ['x', 'y'] }, minItems: 3, maxItems: 3 }],
  ['top-level string pattern', { type: 'string', pattern: '^[a-f0-9]{8}$' }],
  ['many properties', obj({ a: { type: 'boolean' }, b: { type: 'null' }, c: { enum: [1, 2] }, d: word, e: { type: 'integer', minimum: 0, maximum: 1 } })],
];

describe('structured outputs (openai client, random demo-size model)', () => {
  let api: DemoApi;
  let client: OpenAI;
  const tokenizer = getHarmonyTokenizer();
  // Token ids of the header words, to steer a random model past its analysis channel.
  const analysis = tokenizer.encode('analysis');

  before(async () => {
    api = await startDemoApi(MODEL);
    client = api.client;
  });
  after(async () => api?.close());

  function valid(text: string, schema: Schema, label: string): unknown {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      assert.fail(`${label}: not JSON: ${JSON.stringify(text)}`);
    }
    const violation = schemaViolation(value, schema);
    assert.equal(violation, null, `${label}: ${text}`);
    return value;
  }

  it(`structured - /v1/completions output validates against each of ${SCHEMAS.length} schemas`, async () => {
    const results = await Promise.all(
      SCHEMAS.map(([name, schema], i) =>
        client.completions.create({
          model: MODEL,
          prompt: `Write ${name}:`,
          max_tokens: 200,
          temperature: 1,
          seed: i,
          response_format: { type: 'json_schema', json_schema: { name: `s${i}`, schema, strict: true } },
        } as OpenAI.CompletionCreateParamsNonStreaming),
      ),
    );
    results.forEach((r, i) => {
      const [name, schema] = SCHEMAS[i]!;
      assert.equal(r.choices[0]!.finish_reason, 'stop', `${name} ended by the grammar: ${r.choices[0]!.text}`);
      valid(r.choices[0]!.text, schema, name);
    });
  });

  // Favoured closing tokens make the random model end its strings and objects soon.
  const closers = (): Record<string, number> => Object.fromEntries(['"', '":', '",', '"}', '}', '1'].map((t) => [tokenizer.encode(t)[0]!, 12]));

  it('structured - json_object on completions is a JSON object; streaming gives the same text', async () => {
    const logit_bias = closers();
    const body = { model: MODEL, prompt: 'JSON:', max_tokens: 120, temperature: 1, seed: 3, logit_bias, response_format: { type: 'json_object' } };
    const r = await client.completions.create(body as OpenAI.CompletionCreateParamsNonStreaming);
    const value: unknown = JSON.parse(r.choices[0]!.text);
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), r.choices[0]!.text);
    let streamed = '';
    for await (const chunk of await client.completions.create({ ...body, stream: true } as OpenAI.CompletionCreateParamsStreaming)) streamed += chunk.choices[0]?.text ?? '';
    assert.equal(streamed, r.choices[0]!.text);
  });

  it('structured - chat json_schema: the final channel holds valid JSON, n choices each valid', async () => {
    const schema = SCHEMAS[2]![1];
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Tags?' }],
      max_tokens: 120,
      temperature: 1,
      seed: 5,
      n: 2,
      logit_bias: { [analysis[0]!]: -100 },
      response_format: { type: 'json_schema', json_schema: { name: 'tags', schema, strict: true } },
    });
    assert.equal(r.choices.length, 2);
    r.choices.forEach((c, i) => {
      assert.equal(c.index, i);
      assert.equal(c.finish_reason, 'stop');
      valid(c.message.content ?? '', schema, `choice ${i}`);
    });
  });

  it('structured - chat json_object: the content is a JSON object', async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'JSON please' }],
      max_tokens: 120,
      temperature: 1,
      seed: 2,
      logit_bias: { ...closers(), [analysis[0]!]: -100 },
      response_format: { type: 'json_object' },
    });
    const value: unknown = JSON.parse(r.choices[0]!.message.content ?? '');
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), r.choices[0]!.message.content ?? '');
  });

  it('structured - a strict tool call has arguments that validate against its parameters', async () => {
    const parameters = obj({ city: { enum: ['Paris', 'Oslo'] }, days: { type: 'integer', minimum: 1, maximum: 7 } });
    const final = tokenizer.encode('final');
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather?' }],
      max_tokens: 80,
      temperature: 0,
      logit_bias: { [analysis[0]!]: -100, [final[0]!]: -100 },
      tools: [{ type: 'function', function: { name: 'get_weather', strict: true, parameters } }],
    });
    const call = r.choices[0]!.message.tool_calls?.[0];
    assert.ok(call && call.type === 'function', JSON.stringify(r.choices[0]!.message));
    assert.equal(call.function.name, 'get_weather');
    valid(call.function.arguments, parameters, 'arguments');
    assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
  });

  it('structured - responses text.format json_schema gives output_text that validates', async () => {
    const schema = SCHEMAS[0]![1];
    const r = await client.responses.create({
      model: MODEL,
      input: 'Person?',
      max_output_tokens: 120,
      temperature: 0,
      store: false,
      text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
      // @ts-expect-error logit_bias is this server's extension of the Responses API
      logit_bias: { [analysis[0]!]: -100 },
    });
    valid(r.output_text, schema, 'output_text');
    assert.equal(r.text?.format?.type, 'json_schema');
  });

  it('structured - a schema the grammar compiler cannot take is a 400 naming the problem', async () => {
    const bad = async (call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> => {
      try {
        await call;
      } catch (err) {
        if (err instanceof OpenAI.APIError) return err;
        throw err;
      }
      assert.fail('expected a 400');
    };
    const e1 = await bad(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 4, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'colour' } } } } as OpenAI.CompletionCreateParamsNonStreaming));
    assert.equal(e1.status, 400);
    assert.equal(e1.param, 'response_format.json_schema.schema');
    assert.match(e1.message, /Unsupported type "colour"/);
    const e2 = await bad(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 4, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { $ref: '#/$defs/missing' } } } }));
    assert.equal(e2.status, 400);
    assert.match(e2.message, /missing/);
    const e3 = await bad(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 4, tools: [{ type: 'function', function: { name: 'f', strict: true, parameters: { type: 'object', properties: { a: { type: 'wat' } } } } }] }));
    assert.equal(e3.param, 'tools[0].function.parameters');
    const e4 = await bad(client.responses.create({ model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'x', schema: { type: 'nope' } } } }));
    assert.equal(e4.param, 'text.format.schema');
    // Deep enough to overflow xgrammar's WebAssembly stack: refused before it gets there.
    let deep: Schema = { type: 'integer' };
    for (let i = 0; i < 200; i++) deep = { type: 'object', properties: { a: deep }, required: ['a'] };
    const e5 = await bad(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 4, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: deep } } } as OpenAI.CompletionCreateParamsNonStreaming));
    assert.match(e5.message, /nested \d+ levels deep; at most 64/);
    const fine = await client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 8, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'boolean' } } } } as OpenAI.CompletionCreateParamsNonStreaming);
    assert.match(fine.choices[0]!.text, /^(true|false)$/);
  });

  it('structured - equal schemas share one compiled grammar, whatever their key order', async () => {
    const grammars = await JsonGrammars.create(tokenizer, 201088);
    const a = await grammars.compile({ kind: 'json_schema', schema: { type: 'object', properties: { x: { type: 'integer' } } } }, 'p');
    const b = await grammars.compile({ kind: 'json_schema', schema: { properties: { x: { type: 'integer' } }, type: 'object' } }, 'p');
    assert.equal(a, b);
    assert.equal(grammars.cached, 1);
  });
});
