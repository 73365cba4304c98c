// Placement benchmark (pure, no processes): how evenly tokens land on workers under a skewed (Zipf)
// expert distribution, with the plain placement against the load-aware one. Tokens are routed as
// RemoteExpertBackend does: each layer step rotates the first pick, and a token's k experts use
// the holder at (token + rotation) mod #holders. The load-aware placement is computed from a
// warm-up window of the same distribution and measured on fresh tokens.
import { fileURLToPath } from 'node:url';
import { computeLoadAwarePlacement, computePlacement, routingTable, type PlacementResult, type PlacementWorker } from '../common/cluster/placement.js';
import { rng } from '../test/helpers/placement.js';

export interface PlacementBenchScenario {
  readonly workers: number;
  readonly numLayers: number;
  readonly numExperts: number;
  readonly topK: number;
  /** Zipf exponent of the expert popularity within each layer. */
  readonly zipf: number;
  /** Worker capacity as a multiple of numSlots / workers. */
  readonly capacityFactor: number;
  /** Tokens per layer step (a decode batch). */
  readonly batch: number;
  /** Layer steps (batches) in the warm-up window and in the measurement. */
  readonly steps: number;
  readonly seed: number;
}

export interface PlacementBenchFigures {
  /** Max over workers / mean over workers of total expert tokens. */
  readonly totalMaxOverMean: number;
  /** Mean over layer steps of (max over workers / mean over workers) of that step's tokens: the straggler factor a synchronous layer waits for. */
  readonly stepMaxOverMean: number;
  readonly maxTokens: number;
  readonly meanTokens: number;
  readonly extraReplicas: number;
}

/** Per layer, a random permutation of the experts by popularity and the Zipf weights. */
function popularity(s: PlacementBenchScenario, rand: () => number): number[][] {
  const out: number[][] = [];
  for (let l = 0; l < s.numLayers; l++) {
    const perm = Array.from({ length: s.numExperts }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const w = new Array<number>(s.numExperts).fill(0);
    perm.forEach((e, rank) => (w[e] = 1 / (rank + 1) ** s.zipf));
    out.push(w);
  }
  return out;
}

/** k distinct experts drawn by weight (without replacement). */
function pick(weights: number[], k: number, rand: () => number): number[] {
  const w = [...weights];
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    let total = 0;
    for (const x of w) total += x;
    let r = rand() * total;
    let e = 0;
    while (e < w.length - 1 && (r -= w[e]!) >= 0) e++;
    out.push(e);
    w[e] = 0;
  }
  return out;
}

/** Draws steps × batch tokens per layer: routing[step][layer] = experts of every token, k each. */
function drawTokens(s: PlacementBenchScenario, pop: number[][], rand: () => number): number[][][] {
  const steps: number[][][] = [];
  for (let t = 0; t < s.steps; t++) {
    const layers: number[][] = [];
    for (let l = 0; l < s.numLayers; l++) {
      const experts: number[] = [];
      for (let b = 0; b < s.batch; b++) experts.push(...pick(pop[l]!, s.topK, rand));
      layers.push(experts);
    }
    steps.push(layers);
  }
  return steps;
}

/** Routes the tokens over the placement as RemoteExpertBackend.plan does and measures the spread. */
function measure(s: PlacementBenchScenario, placement: PlacementResult, tokens: number[][][]): Omit<PlacementBenchFigures, 'extraReplicas'> {
  const ids = Object.keys(placement.target).sort();
  const table = routingTable(placement.target, ids);
  const total = new Map(ids.map((id) => [id, 0]));
  let stepRatioSum = 0;
  let rotation = 0;
  for (const layers of tokens) {
    for (let l = 0; l < s.numLayers; l++) {
      const experts = layers[l]!;
      const step = new Map(ids.map((id) => [id, 0]));
      const spread = rotation++;
      for (let i = 0; i < experts.length; i++) {
        const pool = table.get(l * s.numExperts + experts[i]!)!;
        const id = pool[(Math.floor(i / s.topK) + spread) % pool.length]!;
        step.set(id, step.get(id)! + 1);
        total.set(id, total.get(id)! + 1);
      }
      const v = [...step.values()];
      stepRatioSum += Math.max(...v) / (v.reduce((a, b) => a + b, 0) / v.length);
    }
  }
  const v = [...total.values()];
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { totalMaxOverMean: Math.max(...v) / mean, stepMaxOverMean: stepRatioSum / (tokens.length * s.numLayers), maxTokens: Math.max(...v), meanTokens: mean };
}

export function runPlacementScenario(s: PlacementBenchScenario): { plain: PlacementBenchFigures; loadAware: PlacementBenchFigures; ms: number } {
  const rand = rng(s.seed);
  const numSlots = s.numLayers * s.numExperts;
  const capacity = Math.ceil((numSlots / s.workers) * s.capacityFactor);
  const workers: PlacementWorker[] = Array.from({ length: s.workers }, (_, i) => ({ id: `w${i}`, capacity }));
  const pop = popularity(s, rand);
  const warmup = drawTokens(s, pop, rand);
  const fresh = drawTokens(s, pop, rand);
  const load = new Map<number, number>();
  for (const layers of warmup) layers.forEach((experts, l) => experts.forEach((e) => load.set(l * s.numExperts + e, (load.get(l * s.numExperts + e) ?? 0) + 1)));

  const input = { workers, numLayers: s.numLayers, numExperts: s.numExperts, replication: 1 };
  const plain = computePlacement(input);
  const t0 = performance.now();
  const aware = computeLoadAwarePlacement({ ...input, load });
  const ms = performance.now() - t0;
  const extraReplicas = Object.values(aware.extras).reduce((a, e) => a + e.length, 0);
  return { plain: { ...measure(s, plain, fresh), extraReplicas: 0 }, loadAware: { ...measure(s, aware, fresh), extraReplicas }, ms };
}

export const PLACEMENT_BENCH_BASE: PlacementBenchScenario = {
  workers: 4,
  numLayers: 24,
  numExperts: 32,
  topK: 4,
  zipf: 1.0,
  capacityFactor: 1.5,
  batch: 32,
  steps: 200,
  seed: 7,
};

function line(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export async function runPlacementBench(): Promise<void> {
  console.log('\n## Placement (simulated: 24 layers x 32 experts, top-4, batch 32, 200 steps; capacity 1.5x the slots)\n');
  const header = ['workers', 'zipf', 'placement', 'extra replicas', 'max tokens/worker', 'mean tokens/worker', 'max/mean (total)', 'max/mean per layer step', 'compute ms'];
  console.log(line(header));
  console.log(line(header.map(() => '---')));
  for (const workers of [3, 4]) {
    for (const zipf of [0.8, 1.0, 1.2]) {
      const r = runPlacementScenario({ ...PLACEMENT_BENCH_BASE, workers, zipf });
      for (const [name, f] of [
        ['plain', r.plain],
        ['load-aware', r.loadAware],
      ] as const) {
        console.log(
          line([
            String(workers),
            zipf.toFixed(1),
            name,
            String(f.extraReplicas),
            String(f.maxTokens),
            f.meanTokens.toFixed(0),
            f.totalMaxOverMean.toFixed(3),
            f.stepMaxOverMean.toFixed(3),
            name === 'plain' ? '' : r.ms.toFixed(1),
          ]),
        );
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runPlacementBench();
