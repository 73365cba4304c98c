// The OpenAI client's APIError a call rejects with (failing the test if it resolves).
import assert from 'node:assert/strict';
import OpenAI from 'openai';

export async function apiError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  assert.fail('expected the call to fail');
}
