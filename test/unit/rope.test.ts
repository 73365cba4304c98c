import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RotaryTable } from '../../common/engine/rope.js';
import { rotateReference } from '../helpers/reference-attention.js';
import { parseModelConfig } from '../../common/model/model-config.js';
import { GOLDEN_ROOT } from '../helpers/paths.js';

describe('rope', () => {
  const dir = path.join(GOLDEN_ROOT, 'visible-v4k');
  const config = parseModelConfig(JSON.parse(readFileSync(path.join(dir, 'hf', 'config.json'), 'utf8')));
  const meta = JSON.parse(readFileSync(path.join(dir, 'golden_meta.json'), 'utf8')) as { rope: { inv_freq: number[]; concentration: number } };

  it('rope - YaRN inverse frequencies equal the reference', () => {
    const table = new RotaryTable(config);
    meta.rope.inv_freq.forEach((f, i) => assert.ok(Math.abs(table.inverseFrequencies[i]! - f) <= 1e-7 * f, `inv_freq[${i}] ${table.inverseFrequencies[i]} vs ${f}`));
  });

  it('rope - position 0 only scales by the concentration; rotation preserves the pair norm', () => {
    const table = new RotaryTable(config);
    const x = Float32Array.from({ length: 16 }, (_, i) => i + 1);
    const y = x.slice();
    rotateReference(table, y, 0, 1, 0);
    y.forEach((v, i) => assert.ok(Math.abs(v - x[i]! * meta.rope.concentration) < 1e-5));
    const z = x.slice();
    rotateReference(table, z, 0, 1, 1000);
    for (let i = 0; i < 8; i++) {
      const before = Math.hypot(x[i]!, x[i + 8]!) * meta.rope.concentration;
      assert.ok(Math.abs(Math.hypot(z[i]!, z[i + 8]!) - before) < 1e-4);
    }
  });
});
