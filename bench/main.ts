// `npm run bench [-- part ...]`: engine, context, overlap, dispatch, serving, placement, leader, fairness, load. Timings live here, never in tests.
import { runEngineBench } from './engine-bench.js';
import { runDispatchBench } from './dispatch-bench.js';
import { runServingBench } from './serving-bench.js';
import { runPlacementBench } from './placement-bench.js';
import { runContextBench } from './context-bench.js';
import { runOverlapBench } from './overlap-bench.js';
import { runLeaderBench } from './leader-bench.js';
import { runFairnessBench } from './fairness-bench.js';
import { runLoadBench } from './load-bench.js';

const PARTS: Record<string, () => Promise<void>> = {
  engine: runEngineBench,
  dispatch: runDispatchBench,
  serving: runServingBench,
  placement: runPlacementBench,
  context: runContextBench,
  overlap: runOverlapBench,
  leader: runLeaderBench,
  fairness: runFairnessBench,
  load: runLoadBench,
};

const wanted = process.argv.slice(2);
for (const name of wanted) if (!PARTS[name]) throw new Error(`unknown bench part "${name}" (parts: ${Object.keys(PARTS).join(', ')})`);
for (const [name, run] of Object.entries(PARTS)) {
  if (wanted.length === 0 || wanted.includes(name)) await run();
}
