// Fair sharing of one worker between its callers (coordinators' Dispatch streams): each caller has
// a queue of its own, at most maxInFlight jobs run at once, and a free slot goes to the callers in
// turn (round robin), never to whoever queued most. With big requests cut into row chunks
// (ExpertService), one coordinator's long prefill delays another's decode step by about one
// chunk's compute, not by the whole prefill.
import { ConfigError } from '../common/errors.js';

export interface FairSchedulerOptions {
  /** Jobs running at once (they spread over the pool's threads). Default 2. */
  readonly maxInFlight: number;
}

export const FAIR_SCHEDULER_DEFAULTS = { maxInFlight: 2 } as const;

export function parseFairSchedulerOptions(raw: Partial<FairSchedulerOptions>): FairSchedulerOptions {
  const o = { ...FAIR_SCHEDULER_DEFAULTS, ...raw };
  if (!Number.isSafeInteger(o.maxInFlight) || o.maxInFlight < 1) throw new ConfigError(`maxInFlight must be an integer >= 1, got ${o.maxInFlight}`, 'maxInFlight');
  return o;
}

type Job = () => void;

export class FairScheduler {
  readonly options: FairSchedulerOptions;
  /** Callers with queued jobs, in turn order (Map iteration order is insertion order). */
  private readonly queues = new Map<object, Job[]>();
  private running = 0;

  constructor(options: Partial<FairSchedulerOptions> = {}) {
    this.options = parseFairSchedulerOptions(options);
  }

  /** Runs `job` when `caller`'s turn comes; settles as the job does. */
  run<T>(caller: object, job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start: Job = () => {
        job()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.next();
          });
      };
      const q = this.queues.get(caller);
      if (q) q.push(start);
      else this.queues.set(caller, [start]);
      this.next();
    });
  }

  /** Jobs waiting, over all callers. */
  get queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  private next(): void {
    while (this.running < this.options.maxInFlight && this.queues.size > 0) {
      const [caller, q] = this.queues.entries().next().value as [object, Job[]];
      const job = q.shift()!;
      // The caller goes to the back of the turn order (or leaves it when it has nothing queued).
      this.queues.delete(caller);
      if (q.length > 0) this.queues.set(caller, q);
      this.running++;
      job();
    }
  }
}
