import assert from 'node:assert/strict';
import { parseFlags } from '../../common/config/flags.js';
import { ConfigError } from '../../common/errors.js';

const SPECS = {
  model: { type: 'string', description: '' },
  'max-tokens': { type: 'int', min: 1, description: '' },
  temperature: { type: 'number', min: 0, description: '' },
  json: { type: 'bool', description: '' },
  'prompt-ids': { type: 'ints', description: '' },
  mode: { type: 'string', choices: ['a', 'b'], retired: { z: 'was retired: use b (same result, faster)' }, description: '' },
} as const;

describe('flags', () => {
  it('flags - parses every type, with = or a separate value', () => {
    const f = parseFlags(['--model', 'd', '--max-tokens=5', '--temperature', '0.5', '--json', '--prompt-ids', '1,2,3', '--mode', 'b'], SPECS);
    assert.deepEqual(f, { model: 'd', 'max-tokens': 5, temperature: 0.5, json: true, 'prompt-ids': [1, 2, 3], mode: 'b' });
  });

  it('flags - a retired choice is an error that says what replaces it', () => {
    assert.throws(
      () => parseFlags(['--mode', 'z'], SPECS),
      (e: unknown) => e instanceof ConfigError && e.field === 'mode' && e.message === '--mode z was retired: use b (same result, faster)',
    );
  });

  for (const [argv, field] of [
    [['--nope'], 'nope'],
    [['--max-tokens', '1.5'], 'max-tokens'],
    [['--max-tokens', '0'], 'max-tokens'],
    [['--temperature', 'hot'], 'temperature'],
    [['--prompt-ids', '1,,2'], 'prompt-ids'],
    [['--prompt-ids', '1,-2'], 'prompt-ids'],
    [['--mode', 'c'], 'mode'],
    [['--model'], 'model'],
  ] as const) {
    it(`flags - ${argv.join(' ')} is an error naming --${field}`, () => {
      assert.throws(() => parseFlags(argv, SPECS), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(`--${field}`));
    });
  }
});
