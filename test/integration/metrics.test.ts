// GET /metrics of a real cluster (coordinator, two worker processes, nats-server, redis): the
// vLLM-named series and the cluster's own agree with what the responses reported.
import assert from 'node:assert/strict';
import { Checkpoint } from '../../common/checkpoint/checkpoint.js';
import { createLogger } from '../../common/log.js';
import { NatsServer } from '../helpers/nats-server.js';
import { RedisServer } from '../helpers/redis-server.js';
import { WorkerProcess } from '../../cli/worker-processes.js';
import { startCoordinator, type Coordinator } from '../../coordinator/coordinator-service.js';
import { tinyModel } from '../helpers/tiny-model.js';

const MODEL = 'gptoss-metrics';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const select = (samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}): number => select(samples, name, labels).reduce((a, s) => a + s.value, 0);

describe('coordinator metrics (prometheus, real cluster)', () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let workers: WorkerProcess[] = [];
  let coordinator: Coordinator | null = null;
  let model: string;
  const log = createLogger('test', 'silent');

  before(async () => {
    model = await tinyModel({ vocab: 201088, seed: 23 });
    nats = await NatsServer.start();
    redis = await RedisServer.start();
    workers = await Promise.all([1, 2].map((i) => WorkerProcess.start({ model, natsUrl: nats.url, workerId: `metrics-${i}`, threads: 1, precision: 'fp32', heartbeatMs: 250 })));
    coordinator = await startCoordinator(
      { model, servedModelName: MODEL, nats: { servers: nats.url }, redisUrl: redis.url, host: '127.0.0.1', port: 0, replication: 1, denseThreads: 1, initialWorkers: 2 },
      log,
    );
    await coordinator.experts.settled(2, 60_000);
  });

  after(async () => {
    await coordinator?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    await nats?.stop();
  });

  it('metrics - vLLM-named series, tokens per expert and per-worker gauges match the requests served', async () => {
    const url = coordinator!.url;
    const prompts = [
      [11, 12, 13, 14, 15],
      [2001, 2002, 2003],
      [40_000, 40_001, 40_002, 40_003, 40_004, 40_005, 40_006],
    ];
    const usages: { prompt_tokens: number; completion_tokens: number; cached: number }[] = [];
    for (const [i, prompt] of prompts.entries()) {
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, prompt, max_tokens: 4 + i, temperature: 0 }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } } };
      usages.push({ ...body.usage, cached: body.usage.prompt_tokens_details?.cached_tokens ?? 0 });
    }
    const n = prompts.length;
    const promptTokens = usages.reduce((a, u) => a + u.prompt_tokens, 0);
    const completionTokens = usages.reduce((a, u) => a + u.completion_tokens, 0);
    const cachedTokens = usages.reduce((a, u) => a + u.cached, 0);
    assert.equal(promptTokens, prompts.flat().length);

    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    const s = parse(text);
    const m = { model_name: MODEL };

    // Scheduler gauges: everything answered, nothing left running or waiting.
    assert.equal(sum(s, 'vllm:num_requests_running', m), 0);
    assert.equal(sum(s, 'vllm:num_requests_waiting', m), 0);
    assert.equal(select(s, 'vllm:kv_cache_usage_perc', m).length, 1);
    assert.equal(sum(s, 'vllm:kv_cache_usage_perc', m), 0);

    // Token counters equal the usage the responses reported.
    assert.equal(sum(s, 'vllm:prompt_tokens_total', m), promptTokens);
    assert.equal(sum(s, 'vllm:generation_tokens_total', m), completionTokens);
    assert.equal(sum(s, 'gptoss_prompt_tokens_total'), promptTokens);
    assert.equal(sum(s, 'gptoss_completion_tokens_total'), completionTokens);
    assert.equal(sum(s, 'gptoss_cached_prompt_tokens_total'), cachedTokens);
    assert.equal(sum(s, 'vllm:request_success_total', { ...m, finished_reason: 'length' }), n);

    // Histograms: one TTFT and one e2e observation per request, one ITL per later token.
    assert.equal(sum(s, 'vllm:time_to_first_token_seconds_count', m), n);
    assert.equal(sum(s, 'vllm:e2e_request_latency_seconds_count', m), n);
    assert.equal(sum(s, 'vllm:inter_token_latency_seconds_count', m), completionTokens - n);
    assert.equal(sum(s, 'vllm:time_per_output_token_seconds_count', m), completionTokens - n);
    assert.ok(sum(s, 'vllm:time_to_first_token_seconds_sum', m) > 0);
    assert.ok(sum(s, 'vllm:e2e_request_latency_seconds_sum', m) >= sum(s, 'vllm:time_to_first_token_seconds_sum', m));
    const inf = select(s, 'vllm:time_to_first_token_seconds_bucket', { ...m, le: '+Inf' });
    assert.equal(inf.length, 1);
    assert.equal(inf[0]!.value, n);

    // Tokens per expert: every token the forward steps processed was routed to k experts per layer.
    const cfg = (await Checkpoint.open(model)).config;
    // The last sampled token of a request is never fed back; cached prompt tokens are not recomputed.
    const processed = promptTokens - cachedTokens + completionTokens - n;
    assert.equal(sum(s, 'gptoss_scheduler_step_tokens_total'), processed);
    const expertTotal = sum(s, 'gptoss_expert_tokens_total');
    assert.equal(expertTotal, cfg.numLayers * cfg.expertsPerToken * processed);
    for (let layer = 0; layer < cfg.numLayers; layer++) {
      assert.equal(sum(s, 'gptoss_expert_tokens_total', { layer: String(layer) }), cfg.expertsPerToken * processed, `layer ${layer}`);
    }
    for (const e of select(s, 'gptoss_expert_tokens_total')) assert.ok(Number(e.labels['expert']) < cfg.numExperts);

    // Per-worker series.
    const ages = select(s, 'gptoss_worker_heartbeat_age_seconds');
    assert.deepEqual(ages.map((a) => a.labels['worker']).sort(), ['metrics-1', 'metrics-2']);
    for (const a of ages) assert.ok(a.value >= 0 && a.value < 3, `heartbeat age ${a.value}`);
    const dispatchWorkers = new Set(select(s, 'gptoss_expert_dispatch_seconds_count').map((d) => d.labels['worker']));
    assert.ok(dispatchWorkers.size >= 1 && [...dispatchWorkers].every((w) => w === 'metrics-1' || w === 'metrics-2'));
    assert.ok(sum(s, 'gptoss_expert_dispatch_seconds_count') > 0);
    assert.equal(sum(s, 'gptoss_live_workers'), 2);
    // Loading: both workers report when they first held their experts, and nothing left to load.
    const loaded = select(s, 'gptoss_worker_load_seconds');
    assert.deepEqual(loaded.map((a) => a.labels['worker']).sort(), ['metrics-1', 'metrics-2']);
    for (const a of loaded) assert.ok(a.value > 0, `load seconds ${a.value}`);
    assert.equal(sum(s, 'gptoss_worker_slots_loading'), 0);
    assert.equal(sum(s, 'gptoss_experts_awaiting_rereplication'), 0);
    assert.equal(select(s, 'gptoss_experts_rereplicated_total').length, 1);
    assert.equal(sum(s, 'gptoss_expert_slots_unheld'), 0);
    assert.ok(sum(s, 'gptoss_placement_changes_total') >= 1);

    // Redis session store counters (read from RedisKvSessionStore.stats() at scrape).
    assert.equal(sum(s, 'gptoss_session_lookups_total'), sum(s, 'gptoss_session_hits_total') + sum(s, 'gptoss_session_misses_total'));
    for (const name of ['gptoss_session_lookups_total', 'gptoss_session_hits_total', 'gptoss_session_misses_total', 'gptoss_session_blocks_written_total', 'gptoss_session_unavailable_total']) {
      assert.equal(select(s, name).length, 1, name);
    }

    // The HTTP counters of the server's default /metrics are still there.
    assert.equal(sum(s, 'gptoss_http_requests_total', { method: 'POST', route: '/v1/completions', status: '200' }), n);
    assert.equal(select(s, 'gptoss_http_requests_in_flight').length, 1);
  });
});
