// A loaded model holds each weight once: onnxruntime's copy, with the JavaScript copies it was
// built from dropped. Measured in a process of its own (bench/load-probe.js) on a mid-size random
// checkpoint whose weights (about 0.4 GB in fp32) dwarf the process's own memory, so a second copy
// of the weights would be far outside the margins below.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { tinyModel } from '../helpers/tiny-model.js';
import type { LoadFigures } from '../../bench/load-probe.js';

const MID_SIZE = { layers: 2, hidden: 1024, heads: 16, kvHeads: 4, headDim: 64, experts: 8, topK: 2, intermediate: 1024, vocab: 32768, shards: 2 };
/** node and onnxruntime themselves: about 150 MiB measured here. */
const PROCESS_BYTES = 256 * 2 ** 20;
/**
 * onnxruntime's own overhead per byte of weights (arenas, per-session state): 8-20% measured on
 * the 20b-shaped checkpoint (npm run bench -- load), up to ~25% on this smaller one where
 * per-session state weighs more. A second copy of the weights would add 100%.
 */
const PER_WEIGHT_OVERHEAD = 0.35;

function loadFigures(model: string, precision: string): LoadFigures {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(REPO_ROOT, 'dist', 'bench', 'load-probe.js'), 'engine', model, precision], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadFigures;
}

describe('engine memory', function () {
  this.timeout(300_000);
  for (const precision of ['fp32', 'q4x2', 'mxfp4']) {
    it(`engine memory - ${precision}: RSS after load and a token is the weights once (not twice), and the load peak stays near it`, async () => {
      const model = await tinyModel(MID_SIZE);
      const f = loadFigures(model, precision);
      const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
      const extra = f.steadyRssBytes - f.weightBytes;
      assert.ok(extra <= PROCESS_BYTES + PER_WEIGHT_OVERHEAD * f.weightBytes, `steady RSS ${mib(f.steadyRssBytes)} for ${mib(f.weightBytes)} of weights: ${mib(extra)} beyond them`);
      assert.ok(f.steadyRssBytes >= f.weightBytes, `steady RSS ${mib(f.steadyRssBytes)} below the ${mib(f.weightBytes)} of weights: the computation is wrong`);
      assert.ok(f.peakRssBytes <= 1.5 * f.steadyRssBytes, `peak RSS ${mib(f.peakRssBytes)} vs steady ${mib(f.steadyRssBytes)}`);
    });
  }
});
