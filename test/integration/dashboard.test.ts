// The coordinator's dashboard with real parts: a coordinator, two expert worker processes over a
// real nats-server and redis, a few completions, then the page rendered in headless Chromium.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createLogger } from '../../common/log.js';
import { NatsServer } from '../helpers/nats-server.js';
import { RedisServer } from '../helpers/redis-server.js';
import { WorkerProcess } from '../../cli/worker-processes.js';
import { startCoordinator, type Coordinator } from '../../coordinator/coordinator-service.js';
import type { DashboardState } from '../../coordinator/dashboard/index.js';
import { tinyModel } from '../helpers/tiny-model.js';

// The callbacks given to page.evaluate / $$eval run in the page; the project compiles without the DOM lib.
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare function getComputedStyle(e: unknown): { backgroundColor: string };

const MODEL = 'gptoss-test';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('coordinator dashboard (real cluster, headless chromium)', function () {
  let nats: NatsServer | undefined;
  let redis: RedisServer | undefined;
  let workers: WorkerProcess[] = [];
  let coordinator: Coordinator | null = null;
  let browser: Browser | null = null;
  const log = createLogger('test', 'silent');

  before(async () => {
    // Debian's chromium package; .ci/run installs it where missing.
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
    const model = await tinyModel({ vocab: 201088, seed: 21 });
    nats = await NatsServer.start();
    redis = await RedisServer.start();
    workers = await Promise.all([1, 2].map((i) => WorkerProcess.start({ model, natsUrl: nats!.url, workerId: `dash-${i}`, threads: 1, precision: 'fp32', heartbeatMs: 250 })));
    coordinator = await startCoordinator(
      { model, servedModelName: MODEL, nats: { servers: nats.url }, redisUrl: redis.url, host: '127.0.0.1', port: 0, replication: 1, denseThreads: 1, initialWorkers: 2 },
      log,
    );
    await coordinator.experts.settled(2, 60_000);
  });

  after(async () => {
    await browser?.close();
    await coordinator?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    await nats?.stop();
  });

  it('dashboard - shows the real workers, the placement grid coloured by holder and nonzero expert token counts', async () => {
    const c = coordinator!;
    for (const prompt of [[1, 2, 3, 4, 5], [7, 8, 9]]) {
      const res = await fetch(`${c.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, prompt, max_tokens: 6, temperature: 0 }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      await res.json();
    }

    const state = (await (await fetch(`${c.url}/dashboard/state`)).json()) as DashboardState;
    const L = state.numLayers;
    const E = state.numExperts;
    assert.ok(L > 0 && E > 0);
    assert.ok(state.totals.tokens > 0, 'tokens counted through the expert backend');
    const live = c.experts.membership.workers();
    assert.deepEqual(state.workers.map((w) => w.workerId).sort(), live.map((w) => w.workerId).sort());

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(c.url)) external.push(r.url());
    });
    const resp = await page.goto(`${c.url}/dashboard`);
    assert.equal(resp?.status(), 200);
    // Two renders: the page polls every second, so the second proves the loop keeps going.
    await page.waitForFunction(() => Number(document.body.getAttribute('data-updates') ?? 0) >= 2, null, { timeout: 15_000 });

    // Workers: real ids and addresses, each with its colour.
    const rows = await page.$$eval('#workers tr', (trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute('data-worker-id'),
        color: tr.getAttribute('data-color'),
        text: tr.textContent ?? '',
        address: tr.querySelector('.worker-address')?.textContent ?? '',
      })),
    );
    assert.equal(rows.length, 2);
    for (const w of live) {
      const row = rows.find((r) => r.id === w.workerId);
      assert.ok(row, `row for ${w.workerId}`);
      assert.ok(row.text.includes(w.workerId));
      assert.equal(row.address, w.address);
    }
    assert.deepEqual(rows.map((r) => r.id).sort(), ['dash-1', 'dash-2']);

    // Placement grid: L × E cells, each painted in the colour of a worker that holds that slot.
    const colorOf = new Map<string, string>();
    for (const r of rows) colorOf.set(await page.evaluate((css) => {
      const d = document.createElement('div');
      d.style.background = css;
      document.body.appendChild(d);
      const v = getComputedStyle(d).backgroundColor;
      d.remove();
      return v;
    }, r.color!), r.id!);
    assert.equal(colorOf.size, 2, 'workers have distinct colours');
    const cells = await page.$$eval('#placement .cell', (els) => els.map((e) => ({ slot: Number(e.getAttribute('data-slot')), bg: getComputedStyle(e).backgroundColor })));
    assert.equal(cells.length, L * E);
    assert.deepEqual(cells.map((x) => x.slot), Array.from({ length: L * E }, (_, i) => i));
    const held = new Map(live.map((w) => [w.workerId, new Set(w.held)]));
    const painted = new Set<string>();
    for (const cell of cells) {
      const worker = colorOf.get(cell.bg);
      assert.ok(worker, `slot ${cell.slot} is coloured ${cell.bg}, not a worker's colour`);
      assert.ok(held.get(worker)!.has(cell.slot), `slot ${cell.slot} coloured as ${worker}, which does not hold it`);
      painted.add(worker);
    }
    assert.equal(painted.size, 2, 'both workers appear in the placement');

    // Heatmap: same shape, with nonzero counts shown.
    const heat = await page.$$eval('#heatmap .cell', (els) => els.map((e) => ({ n: Number(e.getAttribute('data-tokens')), text: (e.textContent ?? '').trim() })));
    assert.equal(heat.length, L * E);
    const nonzero = heat.filter((h) => h.n > 0);
    assert.ok(nonzero.length > 0, 'some expert has tokens');
    assert.ok(nonzero.every((h) => h.text !== ''), 'nonzero cells show their count');
    assert.equal(heat.reduce((s, h) => s + h.n, 0) % 1, 0);

    // Sessions and the two charts are there.
    assert.match(await page.textContent('#running') ?? '', /^\d+$/);
    assert.match(await page.textContent('#waiting') ?? '', /^\d+$/);
    assert.ok((await page.$$('#throughput polyline')).length === 1);
    assert.ok((await page.$$('#latency polyline')).length === 1);

    const out = path.resolve('.tmp');
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: path.join(out, 'dashboard.png'), fullPage: true });
    assert.deepEqual(errors, []);
    assert.deepEqual(external, [], 'the page loads nothing from elsewhere');
  });
});
