// How fast the cluster recovers the experts a dead worker held: when a worker goes down, the slots
// it held that no live worker still holds are "lost"; the episode ends when live workers hold all
// of them again (the placement moved them and the new holders loaded them). The rate is lost
// slots per second of that episode. Overlapping failures extend the open episode.
import type { WorkerInfo } from './membership.js';

export interface RereplicationFigures {
  /** Lost slots not yet held again. */
  readonly awaiting: number;
  /** Slots re-held over all finished episodes. */
  readonly rereplicatedTotal: number;
  /** The last finished episode: slots, seconds and slots per second; null before the first. */
  readonly last: { slots: number; seconds: number; perSecond: number } | null;
}

export class RereplicationTracker {
  private episode: { startMs: number; lost: Set<number>; slots: number } | null = null;
  private total = 0;
  private last: RereplicationFigures['last'] = null;

  /** A worker went down; `live` are the workers still up. */
  onWorkerDown(gone: WorkerInfo, live: readonly WorkerInfo[], nowMs = Date.now()): void {
    const stillHeld = heldBy(live);
    const lost = gone.held.filter((s) => !stillHeld.has(s));
    if (lost.length === 0) return;
    this.episode ??= { startMs: nowMs, lost: new Set(), slots: 0 };
    for (const s of lost) {
      if (!this.episode.lost.has(s)) this.episode.slots++;
      this.episode.lost.add(s);
    }
  }

  /** The live workers changed (a heartbeat reported new held slots, a worker joined or left). */
  onWorkersChanged(live: readonly WorkerInfo[], nowMs = Date.now()): void {
    const e = this.episode;
    if (!e) return;
    const held = heldBy(live);
    for (const s of [...e.lost]) if (held.has(s)) e.lost.delete(s);
    if (e.lost.size > 0) return;
    const seconds = Math.max(1e-3, (nowMs - e.startMs) / 1000);
    this.last = { slots: e.slots, seconds, perSecond: e.slots / seconds };
    this.total += e.slots;
    this.episode = null;
  }

  figures(): RereplicationFigures {
    return { awaiting: this.episode?.lost.size ?? 0, rereplicatedTotal: this.total, last: this.last };
  }
}

function heldBy(workers: readonly WorkerInfo[]): Set<number> {
  const held = new Set<number>();
  for (const w of workers) for (const s of w.held) held.add(s);
  return held;
}
