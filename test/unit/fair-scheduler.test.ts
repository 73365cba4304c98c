// FairScheduler: callers take turns for the free slots, whoever queued most.
import assert from 'node:assert/strict';
import { FairScheduler } from '../../worker/fair-scheduler.js';
import { ConfigError } from '../../common/errors.js';

describe('fair scheduler', () => {
  it('fair scheduler - a caller with many queued jobs does not delay another caller\'s one job by more than one turn', async () => {
    const s = new FairScheduler({ maxInFlight: 1 });
    const order: string[] = [];
    const a = {};
    const b = {};
    const job = (name: string) => async () => {
      order.push(name);
      await new Promise((r) => setImmediate(r));
      return name;
    };
    const all = [1, 2, 3, 4].map((i) => s.run(a, job(`a${i}`)));
    all.push(s.run(b, job('b1')), s.run(b, job('b2')));
    assert.deepEqual(await Promise.all(all), ['a1', 'a2', 'a3', 'a4', 'b1', 'b2']);
    // a1 started at once; a2..a4 and b1, b2 queued in that order of callers, then turns alternate.
    assert.deepEqual(order, ['a1', 'a2', 'b1', 'a3', 'b2', 'a4']);
    assert.equal(s.queued, 0);
  });

  it('fair scheduler - runs up to maxInFlight at once; a failed job frees its slot; options are validated', async () => {
    const s = new FairScheduler({ maxInFlight: 2 });
    let running = 0;
    let peak = 0;
    const job = (fail: boolean) => async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (fail) throw new Error('boom');
    };
    const caller = {};
    const results = await Promise.allSettled([job(true), job(false), job(false), job(false)].map((j) => s.run(caller, j)));
    assert.equal(peak, 2);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    assert.throws(() => new FairScheduler({ maxInFlight: 0 }), ConfigError);
  });
});
