import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface GoldenStep {
  step: number;
  greedy_token: number;
  top5_ids: number[];
  top5_logprobs: number[];
}

export interface GoldenPrompt {
  prompt_ids: number[];
  greedy_tokens: number[];
  steps: GoldenStep[];
  last_prompt_logits_file: string;
  router_prefill_topk: { ids: number[][] }[];
}

export interface GoldenSet {
  dir: string;
  name: string;
  model: string;
  prompts: GoldenPrompt[];
}

export function loadGolden(dir: string): GoldenSet {
  const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as { prompts: GoldenPrompt[] };
  return { dir, name: path.basename(dir), model: path.join(dir, 'hf'), prompts: results.prompts };
}

export function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
