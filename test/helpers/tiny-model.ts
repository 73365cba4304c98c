// Random checkpoints for tests, written once per process into .tmp/ and reused.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { writeRandomCheckpoint, DEFAULT_CHECKPOINT_SPEC, type CheckpointSpec } from '../../common/checkpoint/checkpoint-writer.js';
import { TMP_ROOT } from './paths.js';

const made = new Map<string, Promise<string>>();

export function tinyModel(overrides: Partial<CheckpointSpec> = {}): Promise<string> {
  const spec = { ...DEFAULT_CHECKPOINT_SPEC, vocab: 4096, ...overrides };
  const key = Object.values(spec).join('-');
  let p = made.get(key);
  if (!p) {
    const dir = path.join(TMP_ROOT, 'models', key);
    p = (async () => {
      if (!existsSync(path.join(dir, 'config.json'))) await writeRandomCheckpoint(dir, spec);
      return dir;
    })();
    made.set(key, p);
  }
  return p;
}
