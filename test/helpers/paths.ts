import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json), from src or dist alike. */
export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

export const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

/** Golden sets of OpenAI's reference implementation, shared beside the checkout. */
export const GOLDEN_ROOT = path.resolve(REPO_ROOT, '..', 'shared', 'golden');

export function goldenSets(): string[] {
  if (!existsSync(GOLDEN_ROOT)) throw new Error(`golden sets not found at ${GOLDEN_ROOT}`);
  return readdirSync(GOLDEN_ROOT)
    .map((d) => path.join(GOLDEN_ROOT, d))
    .filter((d) => existsSync(path.join(d, 'results.json')) && existsSync(path.join(d, 'hf', 'config.json')));
}

/** A scratch folder under the repo's ignored .tmp/ (tests clean up after themselves). */
export const TMP_ROOT = path.join(REPO_ROOT, '.tmp');
