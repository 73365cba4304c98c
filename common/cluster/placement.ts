// Expert placement as pure functions: which workers should hold each expert slot (target), which
// of them serve it now (active, make-before-break), and the routing table built from active.
// A slot is layer * numExperts + expert. Worker ids are visited in sorted order everywhere, so the
// same input always gives the same output.
import { ConfigError } from '../errors.js';

export interface PlacementWorker {
  readonly id: string;
  /** How many slots this worker can hold. */
  readonly capacity: number;
}

export interface PlacementInput {
  /** Live, non-draining workers. */
  readonly workers: readonly PlacementWorker[];
  readonly numLayers: number;
  readonly numExperts: number;
  /** Distinct workers per slot; capped at the number of workers. Default 1. */
  readonly replication?: number;
  /** The previous target; assignments that still fit are kept. */
  readonly previous?: Readonly<Record<string, readonly number[]>>;
}

export interface PlacementResult {
  /** Worker id → ascending slots; every input worker has an entry. */
  readonly target: Record<string, number[]>;
  /** Slots with fewer than min(replication, #workers) holders (capacity shortfall), ascending. */
  readonly unplaced: number[];
  /** Slots with no holder at all, ascending (a subset of unplaced). */
  readonly uncovered: number[];
}

export function computePlacement(input: PlacementInput): PlacementResult {
  const { numLayers, numExperts } = input;
  const replication = input.replication ?? 1;
  checkInt(numLayers, 'numLayers', 1);
  checkInt(numExperts, 'numExperts', 1);
  checkInt(replication, 'replication', 1);
  const ids = input.workers.map((w) => w.id).sort();
  if (new Set(ids).size !== ids.length) throw new ConfigError('worker ids must be unique', 'workers');
  const numSlots = numLayers * numExperts;
  const r = Math.min(replication, ids.length);
  const capOf = new Map(input.workers.map((w) => [w.id, checkInt(w.capacity, `workers[${w.id}].capacity`, 0)]));
  const quota = quotas(ids, capOf, numSlots, r * numSlots);
  const state = new Assignment(ids, numSlots, quota);

  state.keep(input.previous ?? {});
  state.trimSlots(r);
  for (const id of ids) state.trimWorker(id, numExperts);
  // Round k gives every slot its k-th holder, so a shortfall leaves replicas out before coverage.
  for (let k = 1; k <= r; k++) {
    for (let s = 0; s < numSlots; s++) {
      while (state.count[s]! < k && state.place(s)) {}
    }
  }

  const unplaced: number[] = [];
  const uncovered: number[] = [];
  for (let s = 0; s < numSlots; s++) {
    if (state.count[s]! < r || r === 0) unplaced.push(s);
    if (state.count[s] === 0) uncovered.push(s);
  }
  const target: Record<string, number[]> = {};
  for (const id of ids) target[id] = [...state.held.get(id)!].sort((a, b) => a - b);
  return { target, unplaced, uncovered };
}

function checkInt(v: number, field: string, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new ConfigError(`${field} must be an integer >= ${min}, got ${v}`, field);
  return v;
}

/**
 * Each worker's share of `demand` slot-replicas, proportional to capacity and never above
 * min(capacity, numSlots) (a worker holds a slot at most once). Water-filling: workers whose
 * proportional share exceeds their limit are pinned at it and the rest is shared again; then
 * largest-remainder rounding, ties to the lower id. Sums to min(demand, total limit).
 */
function quotas(ids: readonly string[], capOf: ReadonlyMap<string, number>, numSlots: number, demand: number): Map<string, number> {
  const limit = (id: string): number => Math.min(capOf.get(id)!, numSlots);
  const out = new Map<string, number>();
  let free = ids.filter((id) => limit(id) > 0);
  for (const id of ids) if (limit(id) === 0) out.set(id, 0);
  let remaining = Math.min(demand, free.reduce((a, id) => a + limit(id), 0));
  for (;;) {
    const capSum = free.reduce((a, id) => a + capOf.get(id)!, 0);
    const over = free.filter((id) => remaining * capOf.get(id)! > limit(id) * capSum);
    if (over.length === 0) break;
    for (const id of over) {
      out.set(id, limit(id));
      remaining -= limit(id);
    }
    free = free.filter((id) => !over.includes(id));
  }
  const capSum = free.reduce((a, id) => a + capOf.get(id)!, 0);
  const rems: { id: string; rem: number }[] = [];
  let given = 0;
  for (const id of free) {
    const num = remaining * capOf.get(id)!;
    const floor = Math.floor(num / capSum);
    out.set(id, floor);
    given += floor;
    rems.push({ id, rem: num - floor * capSum });
  }
  rems.sort((a, b) => b.rem - a.rem || (a.id < b.id ? -1 : 1));
  for (let i = 0; i < remaining - given; i++) out.set(rems[i]!.id, out.get(rems[i]!.id)! + 1);
  return out;
}

/** One link of an augmenting chain: `slot` moves from worker `from` (null: the slot being placed). */
interface Step {
  readonly from: string | null;
  readonly slot: number;
}

/** The mutable assignment computePlacement builds: per-worker slot sets and per-slot counts. */
class Assignment {
  readonly held = new Map<string, Set<number>>();
  readonly count: Int32Array;

  constructor(
    private readonly ids: readonly string[],
    private readonly numSlots: number,
    private readonly quota: ReadonlyMap<string, number>,
  ) {
    this.count = new Int32Array(numSlots);
    for (const id of ids) this.held.set(id, new Set());
  }

  private room(id: string): number {
    return this.quota.get(id)! - this.held.get(id)!.size;
  }

  private add(id: string, s: number): void {
    this.held.get(id)!.add(s);
    this.count[s]!++;
  }

  private remove(id: string, s: number): void {
    this.held.get(id)!.delete(s);
    this.count[s]!--;
  }

  /** Seeds from the previous target: live workers keep their valid slots. */
  keep(previous: Readonly<Record<string, readonly number[]>>): void {
    for (const id of this.ids) {
      for (const s of previous[id] ?? []) {
        if (Number.isSafeInteger(s) && s >= 0 && s < this.numSlots && !this.held.get(id)!.has(s)) this.add(id, s);
      }
    }
  }

  /** A slot kept by more than r workers loses the holders furthest over their quota. */
  trimSlots(r: number): void {
    for (let s = 0; s < this.numSlots; s++) {
      while (this.count[s]! > r) {
        const holders = this.ids.filter((id) => this.held.get(id)!.has(s));
        holders.sort((a, b) => this.room(a) - this.room(b) || (a < b ? -1 : 1));
        this.remove(holders[0]!, s);
      }
    }
  }

  /**
   * A worker over its quota drops slots still held by the most other workers first (so two
   * workers do not both drop the same slot), then from its fullest layer, highest slot first.
   */
  trimWorker(id: string, numExperts: number): void {
    const mine = this.held.get(id)!;
    const excess = mine.size - this.quota.get(id)!;
    if (excess <= 0) return;
    const perLayer = new Map<number, number>();
    for (const s of mine) perLayer.set(Math.floor(s / numExperts), (perLayer.get(Math.floor(s / numExperts)) ?? 0) + 1);
    const better = (a: number, b: number): boolean =>
      this.count[a] !== this.count[b]
        ? this.count[a]! > this.count[b]!
        : perLayer.get(Math.floor(a / numExperts)) !== perLayer.get(Math.floor(b / numExperts))
          ? perLayer.get(Math.floor(a / numExperts))! > perLayer.get(Math.floor(b / numExperts))!
          : a > b;
    for (let i = 0; i < excess; i++) {
      let drop = -1;
      for (const s of mine) if (drop < 0 || better(s, drop)) drop = s;
      this.remove(id, drop);
      const l = Math.floor(drop / numExperts);
      perLayer.set(l, perLayer.get(l)! - 1);
    }
  }

  /**
   * Gives slot s one more holder: the worker with the most room relative to its quota that does
   * not hold s yet (ties to the lower id), or else by shifting slots along an augmenting path.
   */
  place(s: number): boolean {
    let best: string | null = null;
    for (const id of this.ids) {
      if (this.room(id) <= 0 || this.held.get(id)!.has(s)) continue;
      if (best === null || this.room(id) * this.quota.get(best)! > this.room(best) * this.quota.get(id)!) best = id;
    }
    if (best !== null) {
      this.add(best, s);
      return true;
    }
    return this.augment(s);
  }

  /**
   * Breadth-first search for a chain w1 ← s, w1 → y1 → w2, …, wk with room: each worker takes the
   * slot handed to it and hands one of its own to the next, so only wk grows. Counts of the
   * intermediate slots are unchanged.
   */
  private augment(s: number): boolean {
    const parent = new Map<string, Step>();
    const queue: string[] = [];
    for (const id of this.ids) {
      if (this.held.get(id)!.has(s)) continue;
      parent.set(id, { from: null, slot: s });
      queue.push(id);
    }
    for (let head = 0; head < queue.length; head++) {
      const w = queue[head]!;
      if (this.room(w) > 0) {
        this.applyChain(w, parent);
        return true;
      }
      const mine = [...this.held.get(w)!].sort((a, b) => a - b);
      for (const u of this.ids) {
        if (parent.has(u)) continue;
        const theirs = this.held.get(u)!;
        const y = mine.find((x) => !theirs.has(x));
        if (y === undefined) continue;
        parent.set(u, { from: w, slot: y });
        queue.push(u);
      }
    }
    return false;
  }

  private applyChain(end: string, parent: ReadonlyMap<string, Step>): void {
    for (let cur: string | null = end; cur !== null; ) {
      const { from, slot }: Step = parent.get(cur)!;
      this.add(cur, slot);
      if (from !== null) this.remove(from, slot);
      cur = from;
    }
  }
}

export interface ActiveInput {
  /** The new target (computePlacement's). */
  readonly target: Readonly<Record<string, readonly number[]>>;
  /** The active map of the previous placement record ({} at first). */
  readonly previousActive: Readonly<Record<string, readonly number[]>>;
  /** Live workers only: id → slots it reports loaded. A worker absent here is gone. */
  readonly held: Readonly<Record<string, readonly number[]>>;
}

/**
 * Make-before-break. Per slot: the target holders become active once all of them report it held;
 * until then the previous active holders that are live and still hold it stay active. When none
 * of those is left, the target holders that hold it are active, and failing those any live worker
 * that still holds it. Returns an entry (maybe empty) for every target or live worker.
 */
export function activeFromTarget(input: ActiveInput): Record<string, number[]> {
  const holds = new Map<string, Set<number>>();
  for (const [id, slots] of Object.entries(input.held)) holds.set(id, new Set(slots));
  const live = (id: string, s: number): boolean => holds.get(id)?.has(s) ?? false;
  const targetOf = bySlot(input.target);
  const previousOf = bySlot(input.previousActive);
  const slots = new Set<number>([...targetOf.keys(), ...previousOf.keys()]);
  for (const set of holds.values()) for (const s of set) slots.add(s);

  const active: Record<string, number[]> = {};
  for (const id of [...Object.keys(input.target), ...holds.keys()].sort()) active[id] = [];
  for (const s of [...slots].sort((a, b) => a - b)) {
    for (const id of activeHolders(s, targetOf.get(s) ?? [], previousOf.get(s) ?? [], [...holds.keys()], live)) {
      (active[id] ??= []).push(s);
    }
  }
  return active;
}

function activeHolders(s: number, target: string[], previous: string[], liveIds: string[], live: (id: string, s: number) => boolean): string[] {
  if (target.length > 0 && target.every((id) => live(id, s))) return target;
  const stay = previous.filter((id) => live(id, s));
  if (stay.length > 0) return stay;
  const ready = target.filter((id) => live(id, s));
  if (ready.length > 0) return ready;
  return liveIds.filter((id) => live(id, s)).sort();
}

/** slot → sorted worker ids holding it in `map`. */
function bySlot(map: Readonly<Record<string, readonly number[]>>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const id of Object.keys(map).sort()) {
    for (const s of new Set(map[id])) {
      const list = out.get(s);
      if (list) list.push(id);
      else out.set(s, [id]);
    }
  }
  return out;
}

/** slot → sorted ids of the live workers active for it, ascending slots; dead workers are left out. */
export function routingTable(active: Readonly<Record<string, readonly number[]>>, liveWorkerIds: Iterable<string>): Map<number, string[]> {
  const liveSet = new Set(liveWorkerIds);
  const liveActive: Record<string, readonly number[]> = {};
  for (const [id, slots] of Object.entries(active)) if (liveSet.has(id)) liveActive[id] = slots;
  const table = bySlot(liveActive);
  return new Map([...table.entries()].sort((a, b) => a[0] - b[0]));
}

export interface LoadAwarePlacementInput extends PlacementInput {
  /** slot → tokens (or any non-negative rate) seen over a window; absent slots count 0. */
  readonly load: ReadonlyMap<number, number>;
  /** Most holders a slot may get, extras included. Default: no limit beyond the worker count. */
  readonly maxReplicas?: number;
  /**
   * A slot gets an extra replica only while its load per holder is above this. Default: the mean
   * load per base replica (total load / base slot-replicas), so only the hotter-than-average
   * slots are replicated and cold ones never take up spare capacity.
   */
  readonly minLoadPerHolder?: number;
  /**
   * The extras of the previous result. The base placement is then computed from `previous` less
   * these (exactly as computePlacement would be), so an unchanged input gives an unchanged
   * target; without it every previous holder counts as a base holder and some may move.
   */
  readonly previousExtras?: Readonly<Record<string, readonly number[]>>;
}

export interface LoadAwarePlacementResult extends PlacementResult {
  /** Worker id → ascending slots it holds as extra (load-driven) replicas; every input worker has an entry. */
  readonly extras: Record<string, number[]>;
}

/**
 * computePlacement, then the spare capacity (what the base target leaves free on each worker) goes
 * to extra replicas of the hottest slots. Greedy: repeatedly the eligible slot with the highest
 * load per holder (ties to the lower slot) gets one more holder: a worker that held it in
 * `previous` if any can (sticky), else the one whose projected load in that slot's layer is least,
 * then least projected load overall, then most spare capacity, then the lower id. Projected load
 * assumes tokens are spread evenly over a slot's holders (what RemoteExpertBackend's rotation
 * does). Never exceeds a worker's capacity; base coverage and replication are untouched. The
 * same input always gives the same output; with no spare capacity or no load it equals
 * computePlacement.
 */
export function computeLoadAwarePlacement(input: LoadAwarePlacementInput): LoadAwarePlacementResult {
  let basePrevious = input.previous;
  if (input.previous && input.previousExtras) {
    const out: Record<string, number[]> = {};
    for (const [id, slots] of Object.entries(input.previous)) {
      const extra = new Set(input.previousExtras[id] ?? []);
      out[id] = slots.filter((s) => !extra.has(s));
    }
    basePrevious = out;
  }
  const base = computePlacement({ ...input, ...(basePrevious ? { previous: basePrevious } : {}) });
  const { numLayers, numExperts } = input;
  const numSlots = numLayers * numExperts;
  const ids = Object.keys(base.target).sort();
  const maxReplicas = input.maxReplicas === undefined ? ids.length : checkInt(input.maxReplicas, 'maxReplicas', 1);
  const load = new Float64Array(numSlots);
  for (const [s, v] of input.load) {
    if (!Number.isFinite(v) || v < 0) throw new ConfigError(`load of slot ${s} must be a finite number >= 0, got ${v}`, 'load');
    if (Number.isSafeInteger(s) && s >= 0 && s < numSlots) load[s] = v;
  }
  const holders: string[][] = Array.from({ length: numSlots }, () => []);
  for (const id of ids) for (const s of base.target[id]!) holders[s]!.push(id);
  const capOf = new Map(input.workers.map((w) => [w.id, w.capacity]));
  const held = new Map(ids.map((id) => [id, new Set(base.target[id])]));
  const spare = new Map(ids.map((id) => [id, Math.min(capOf.get(id)!, numSlots) - held.get(id)!.size]));
  const extras: Record<string, number[]> = Object.fromEntries(ids.map((id) => [id, []]));
  let totalLoad = 0;
  let baseReplicas = 0;
  for (let s = 0; s < numSlots; s++) {
    totalLoad += load[s]!;
    baseReplicas += holders[s]!.length;
  }
  const minLoad = input.minLoadPerHolder ?? (baseReplicas > 0 ? totalLoad / baseReplicas : 0);
  if (!Number.isFinite(minLoad) || minLoad < 0) throw new ConfigError(`minLoadPerHolder must be a finite number >= 0, got ${minLoad}`, 'minLoadPerHolder');

  // Projected tokens per worker, per layer and overall.
  const layerLoad = new Map(ids.map((id) => [id, new Float64Array(numLayers)]));
  const totalOf = new Map(ids.map((id) => [id, 0]));
  for (let s = 0; s < numSlots; s++) {
    const l = Math.floor(s / numExperts);
    for (const id of holders[s]!) {
      layerLoad.get(id)![l] += load[s]! / holders[s]!.length;
      totalOf.set(id, totalOf.get(id)! + load[s]! / holders[s]!.length);
    }
  }
  const previousSets = new Map(ids.map((id) => [id, new Set(input.previous?.[id] ?? [])]));
  const previousHolds = (id: string, s: number): boolean => previousSets.get(id)!.has(s);
  let candidates: number[] = [];
  for (let s = 0; s < numSlots; s++) if (holders[s]!.length > 0 && load[s]! > minLoad) candidates.push(s);
  let spareLeft = ids.reduce((a, id) => a + Math.max(0, spare.get(id)!), 0);

  while (spareLeft > 0 && candidates.length > 0) {
    // The hottest slot per holder: load[a]/count[a] > load[b]/count[b], compared without division.
    let best = -1;
    for (const s of candidates) {
      if (best < 0 || load[s]! * holders[best]!.length > load[best]! * holders[s]!.length) best = s;
    }
    const s = best;
    const l = Math.floor(s / numExperts);
    let pick: string | null = null;
    let pickSticky = false;
    for (const id of ids) {
      if (spare.get(id)! <= 0 || held.get(id)!.has(s)) continue;
      const sticky = previousHolds(id, s);
      if (pick !== null) {
        if (sticky !== pickSticky) {
          if (!sticky) continue;
        } else {
          const dl = layerLoad.get(id)![l]! - layerLoad.get(pick)![l]!;
          const dt = totalOf.get(id)! - totalOf.get(pick)!;
          const better = dl !== 0 ? dl < 0 : dt !== 0 ? dt < 0 : spare.get(id)! > spare.get(pick)!;
          if (!better) continue;
        }
      }
      pick = id;
      pickSticky = sticky;
    }
    if (pick === null) {
      candidates = candidates.filter((x) => x !== s);
      continue;
    }
    const c = holders[s]!.length;
    const shed = load[s]! / c - load[s]! / (c + 1);
    for (const id of holders[s]!) {
      layerLoad.get(id)![l] -= shed;
      totalOf.set(id, totalOf.get(id)! - shed);
    }
    layerLoad.get(pick)![l] += load[s]! / (c + 1);
    totalOf.set(pick, totalOf.get(pick)! + load[s]! / (c + 1));
    holders[s]!.push(pick);
    held.get(pick)!.add(s);
    extras[pick]!.push(s);
    spare.set(pick, spare.get(pick)! - 1);
    spareLeft--;
    if (holders[s]!.length >= maxReplicas || load[s]! / holders[s]!.length <= minLoad) candidates = candidates.filter((x) => x !== s);
  }

  const target: Record<string, number[]> = {};
  for (const id of ids) target[id] = [...held.get(id)!].sort((a, b) => a - b);
  for (const id of ids) extras[id]!.sort((a, b) => a - b);
  return { target, unplaced: base.unplaced, uncovered: base.uncovered, extras };
}
