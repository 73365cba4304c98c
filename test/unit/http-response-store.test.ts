// The ResponseStore contract, run against the in-memory store; another implementation (Redis) can
// run the same suite by calling describeResponseStoreContract with its own factory.
import assert from 'node:assert/strict';
import { InMemoryResponseStore, type ResponseStore, type StoredResponse } from '../../coordinator/api/response-store.js';

export function storedResponse(id: string): StoredResponse {
  return {
    id,
    input: [
      { type: 'message', role: 'user', content: 'hi ✓' },
      { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{"a":1}' },
      { type: 'function_call_output', call_id: 'call_1', output: 'ok' },
      { type: 'reasoning', text: 'hm' },
    ],
    response: {
      id,
      object: 'response',
      created_at: 1_700_000_000,
      status: 'completed',
      model: 'm',
      output: [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'hello', annotations: [], logprobs: [] }] }],
      instructions: null,
      max_output_tokens: null,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      temperature: 1,
      top_p: 1,
      tools: [],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      store: true,
      text: { format: { type: 'text' } },
      truncation: 'disabled',
      usage: { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 1, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 6 },
      error: null,
      incomplete_details: null,
      metadata: { k: 'v' },
    },
  };
}

/** The behaviour every ResponseStore must have. `make` gives a fresh, empty store. */
export function describeResponseStoreContract(name: string, make: () => Promise<ResponseStore>, cleanup?: () => Promise<void>): void {
  describe(`${name} (ResponseStore contract)`, () => {
    if (cleanup) after(cleanup);

    it('http - a stored response comes back equal; an unknown id is null', async () => {
      const store = await make();
      const resp = storedResponse('resp_a');
      await store.put(resp, 60);
      assert.deepEqual(await store.get('resp_a'), resp);
      assert.equal(await store.get('resp_unknown'), null);
    });

    it('http - put replaces a response with the same id', async () => {
      const store = await make();
      await store.put(storedResponse('resp_b'), 60);
      const changed = { ...storedResponse('resp_b'), input: [] };
      await store.put(changed, 60);
      assert.deepEqual(await store.get('resp_b'), changed);
    });

    it('http - what get returns is a copy: changing it does not change the store', async () => {
      const store = await make();
      await store.put(storedResponse('resp_c'), 60);
      const got = (await store.get('resp_c'))!;
      (got.input as unknown[]).length = 0;
      assert.equal((await store.get('resp_c'))!.input.length, 4);
    });
  });
}

describeResponseStoreContract('in-memory response store', async () => new InMemoryResponseStore());

describe('in-memory response store', () => {
  it('http - responses expire after their TTL', async () => {
    let now = 1_000_000;
    const store = new InMemoryResponseStore({ now: () => now });
    await store.put(storedResponse('resp_t'), 10);
    now += 9_999;
    assert.ok(await store.get('resp_t'));
    now += 1;
    assert.equal(await store.get('resp_t'), null);
    assert.equal(store.size, 0);
  });

  it('http - beyond maxEntries the oldest responses are dropped', async () => {
    const store = new InMemoryResponseStore({ maxEntries: 2 });
    for (const id of ['resp_1', 'resp_2', 'resp_3']) await store.put(storedResponse(id), 60);
    assert.equal(await store.get('resp_1'), null);
    assert.ok(await store.get('resp_2'));
    assert.ok(await store.get('resp_3'));
  });
});
