// Sampling parameters through the official openai client on the random demo-size model (real
// vocabulary): n, seed, logit_bias, the penalties, vLLM's top_k / min_p / repetition_penalty /
// stop_token_ids, and best_of's refusal. A random model's logits are spread over ~20 units, so a
// bias of 30 makes one token the greedy choice at every step: the penalties are seen by how soon
// that token stops winning.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { getHarmonyTokenizer } from '../../common/harmony/index.js';
import { startDemoApi, type DemoApi } from '../helpers/demo-api.js';

const MODEL = 'demo';
type Body = Record<string, unknown>;

describe('sampling parameters (openai client, random demo-size model)', () => {
  let api: DemoApi;
  let client: OpenAI;
  const apple = getHarmonyTokenizer().encode(' apple')[0]!;

  before(async () => {
    api = await startDemoApi(MODEL);
    client = api.client;
  });
  after(async () => api?.close());

  const complete = (extra: Body) =>
    client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 16, temperature: 0, logprobs: 0, ...extra } as OpenAI.CompletionCreateParamsNonStreaming);
  const tokens = async (extra: Body): Promise<string[]> => (await complete(extra)).choices[0]!.logprobs!.tokens!;
  const apples = async (extra: Body): Promise<number> => (await tokens({ logit_bias: { [apple]: 30 }, ...extra })).filter((t) => t === ' apple').length;

  it('sampling - the same seed gives the same text, on completions and chat', async () => {
    const a = await complete({ temperature: 1, seed: 42 });
    const b = await complete({ temperature: 1, seed: 42 });
    const c = await complete({ temperature: 1, seed: 43 });
    assert.equal(a.choices[0]!.text, b.choices[0]!.text);
    assert.notEqual(a.choices[0]!.text, c.choices[0]!.text);
    const chat = (seed: number) => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12, temperature: 1, seed });
    assert.deepEqual((await chat(7)).choices[0]!.message, (await chat(7)).choices[0]!.message);
  });

  it('sampling - n choices: choice i is what seed + i gives alone; the prompt is counted once', async () => {
    const many = await complete({ temperature: 1, seed: 100, n: 3 });
    assert.deepEqual(many.choices.map((c) => c.index), [0, 1, 2]);
    for (let i = 0; i < 3; i++) assert.equal(many.choices[i]!.text, (await complete({ temperature: 1, seed: 100 + i })).choices[0]!.text, `choice ${i}`);
    assert.equal(new Set(many.choices.map((c) => c.text)).size, 3);
    const one = await complete({});
    assert.equal(many.usage!.prompt_tokens, one.usage!.prompt_tokens);
    assert.equal(many.usage!.completion_tokens, 48);
    // Streamed: every chunk names its choice, and each choice's text is the same.
    const texts = ['', '', ''];
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 1, seed: 9, n: 3, stream: true });
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.delta.content ?? (c.delta as Body)['reasoning_content'] ?? '';
    const whole = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 1, seed: 9, n: 3 });
    assert.deepEqual(texts, whole.choices.map((c) => (c.message.content ?? '') + ((c.message as unknown as Body)['reasoning_content'] ?? '')));
  });

  it('sampling - logit_bias: +30 makes one token win every step, -100 removes the greedy one', async () => {
    assert.equal(await apples({}), 16);
    const greedy = await tokens({});
    const first = getHarmonyTokenizer().encode(greedy[0]!)[0]!;
    const banned = await tokens({ logit_bias: { [first]: -100 } });
    assert.notEqual(banned[0], greedy[0]);
  });

  it('sampling - frequency_penalty grows with each repeat, presence_penalty is paid once, repetition_penalty divides', async () => {
    const frequency = await apples({ frequency_penalty: 2 });
    assert.ok(frequency >= 1 && frequency < 16, `frequency ${frequency}`);
    assert.equal(await apples({ presence_penalty: 2 }), 16);
    assert.ok((await apples({ repetition_penalty: 2 })) < 16);
    assert.ok((await apples({ presence_penalty: -2, frequency_penalty: -2 })) === 16);
  });

  it('sampling - top_k 1 and min_p 1 sample only the most likely token, even at temperature 2', async () => {
    const greedy = (await complete({})).choices[0]!.text;
    assert.equal((await complete({ temperature: 2, seed: 1, top_k: 1 })).choices[0]!.text, greedy);
    assert.equal((await complete({ temperature: 2, seed: 1, min_p: 1 })).choices[0]!.text, greedy);
    assert.notEqual((await complete({ temperature: 2, seed: 1 })).choices[0]!.text, greedy);
  });

  it('sampling - stop_token_ids end the generation at that token, which is left out of the text', async () => {
    const r = await complete({ logit_bias: { [apple]: 30 }, stop_token_ids: [apple] });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.equal(r.choices[0]!.text, '');
    assert.equal(r.usage!.completion_tokens, 1);
    const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16, temperature: 0, logit_bias: { [apple]: 30 }, stop_token_ids: [apple] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(chat.choices[0]!.finish_reason, 'stop');
    assert.equal(chat.usage!.completion_tokens, 1);
  });

  it('sampling - best_of other than n stays a 400; n above 16 is a 400', async () => {
    for (const [extra, param] of [[{ best_of: 2 }, 'best_of'], [{ n: 17 }, 'n']] as const) {
      try {
        await complete(extra);
        assert.fail(`${param} accepted`);
      } catch (err) {
        assert.ok(err instanceof OpenAI.APIError && err.status === 400 && err.param === param, String(err));
      }
    }
  });
});
