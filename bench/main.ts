// `npm run bench [-- part ... [--flag ...]]`: engine, context, overlap, dispatch, serving, placement, leader, fairness, load, experts. Timings live here, never in tests.
// Flags after the part names go to the parts that take them (experts: --full, --full-layers N, --full-model DIR, --full-only, --precisions a,b).
import { runEngineBench } from './engine-bench.js';
import { runDispatchBench } from './dispatch-bench.js';
import { runServingBench } from './serving-bench.js';
import { runPlacementBench } from './placement-bench.js';
import { runContextBench } from './context-bench.js';
import { runOverlapBench } from './overlap-bench.js';
import { runLeaderBench } from './leader-bench.js';
import { runFairnessBench } from './fairness-bench.js';
import { runLoadBench } from './load-bench.js';
import { runExpertsBench } from './experts-bench.js';

const PARTS: Record<string, (flags: string[]) => Promise<void>> = {
  engine: runEngineBench,
  dispatch: runDispatchBench,
  serving: runServingBench,
  placement: runPlacementBench,
  context: runContextBench,
  overlap: runOverlapBench,
  leader: runLeaderBench,
  fairness: runFairnessBench,
  load: runLoadBench,
  experts: runExpertsBench,
};
/** Parts that take flags; any other part given a flag is a mistake worth saying. */
const TAKES_FLAGS = new Set(['experts']);

const argv = process.argv.slice(2);
const firstFlag = argv.findIndex((a) => a.startsWith('--'));
const wanted = firstFlag < 0 ? argv : argv.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : argv.slice(firstFlag);
for (const name of wanted) if (!PARTS[name]) throw new Error(`unknown bench part "${name}" (parts: ${Object.keys(PARTS).join(', ')})`);
if (flags.length > 0 && !(wanted.length > 0 && wanted.every((w) => TAKES_FLAGS.has(w)))) {
  throw new Error(`bench flags (${flags.join(' ')}) go after parts that take them: ${[...TAKES_FLAGS].join(', ')}`);
}
for (const [name, run] of Object.entries(PARTS)) {
  if (wanted.length === 0 || wanted.includes(name)) await run(flags);
}
