import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseModelConfig } from '../../common/model/model-config.js';
import { ConfigError } from '../../common/errors.js';
import { configJson, DEFAULT_CHECKPOINT_SPEC } from '../../common/checkpoint/checkpoint-writer.js';
import { GOLDEN_ROOT } from '../helpers/paths.js';

describe('model config', () => {
  const golden = JSON.parse(readFileSync(path.join(GOLDEN_ROOT, 'visible-v4k', 'hf', 'config.json'), 'utf8')) as Record<string, unknown>;

  it('model config - accepts the real config field set and warns about ids outside the vocabulary', () => {
    const c = parseModelConfig(golden);
    assert.equal(c.numExperts, 8);
    assert.equal(c.expertsPerToken, 4);
    assert.deepEqual(c.layerTypes, ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);
    assert.equal(c.ropeScaling?.factor, 32);
    assert.deepEqual(c.eosTokenIds, []);
    assert.ok(c.warnings.some((w) => w.includes('200002')));
  });

  for (const field of ['num_hidden_layers', 'hidden_size', 'num_attention_heads', 'head_dim', 'vocab_size', 'sliding_window']) {
    it(`model config - a missing "${field}" is an error naming it`, () => {
      const bad = { ...golden };
      delete bad[field];
      assert.throws(() => parseModelConfig(bad), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(field));
    });
  }

  it('model config - wrong values name the field', () => {
    assert.throws(() => parseModelConfig({ ...golden, hidden_size: 'big' }), (e: unknown) => e instanceof ConfigError && e.field === 'hidden_size');
    assert.throws(() => parseModelConfig({ ...golden, model_type: 'llama' }), (e: unknown) => e instanceof ConfigError && e.field === 'model_type');
    assert.throws(() => parseModelConfig({ ...golden, layer_types: ['full_attention'] }), (e: unknown) => e instanceof ConfigError && e.field === 'layer_types');
    assert.throws(() => parseModelConfig({ ...golden, num_key_value_heads: 3 }), (e: unknown) => e instanceof ConfigError && e.field === 'num_key_value_heads');
    assert.throws(() => parseModelConfig({ ...golden, quantization_config: { quant_method: 'gptq' } }), (e: unknown) => e instanceof ConfigError && e.field === 'quantization_config.quant_method');
    assert.throws(() => parseModelConfig([]), ConfigError);
  });

  it('model config - the writer emits the same field set as the real config', () => {
    assert.deepEqual(Object.keys(configJson(DEFAULT_CHECKPOINT_SPEC)).sort(), Object.keys(golden).sort());
    const c = parseModelConfig(configJson(DEFAULT_CHECKPOINT_SPEC));
    assert.deepEqual(c.eosTokenIds, [200002]);
  });
});
