// Continuous batching (vLLM's scheduler, simplified): one forward step at a time advances every
// running sequence together. Between steps new requests are admitted, finished and aborted ones
// leave, and long prompts are prefilled in chunks under a per-step token budget so running
// sequences keep decoding. With a session store, a prompt whose prefix blocks are persisted loads
// them instead of recomputing, and finished sequences persist theirs.
import { withDefaults } from '../../common/config/defaults.js';
import { ConfigError, InvalidRequestError, QueueFullError } from '../../common/errors.js';
import type { ForwardPass } from '../../common/engine/forward-pass.js';
import type { KvCache } from '../../common/engine/kv-cache.js';
import { LogitsPipeline } from '../../common/engine/logits-processors.js';
import { Sampler } from '../../common/engine/sampler.js';
import type { EngineClient, FinishReason, GenerationEvent, GenerationParams, HealthReport } from './engine-client.js';
import { EventQueue } from './event-queue.js';

/** What the scheduler needs from KV persistence (the Redis session store implements it). */
export interface PrefixKvStore {
  /** Restores the longest persisted prefix of `tokens` into the empty `cache`; returns its length. */
  restorePrefix(tokens: readonly number[], cache: KvCache): Promise<number>;
  /** Persists the cache's full blocks from token `fromToken` on (best effort; never throws). */
  persist(cache: KvCache, fromToken: number): Promise<void>;
  health(): { ok: boolean; detail?: string };
}

export interface SchedulerOptions {
  readonly modelId: string;
  readonly contextLength: number;
  /** Sequences decoding together (default 32). */
  readonly maxBatchSize: number;
  /** Requests waiting for a batch slot before new ones get QueueFullError (default 256). */
  readonly maxQueued: number;
  /** Tokens one step may process; prompt chunks fill what decoding leaves (default 256). */
  readonly maxStepTokens: number;
  readonly prefixStore?: PrefixKvStore;
  /** Extra readiness checks (expert coverage, ...). */
  readonly healthChecks?: () => Record<string, { ok: boolean; detail?: string }>;
  readonly onStep?: (stats: { sequences: number; tokens: number; ms: number }) => void;
  /** Per-request timings (metrics): first token, each later token, and the end of a request. */
  readonly onRequestEvent?: (event: RequestEvent) => void;
  readonly log?: { warn(obj: object, msg: string): void };
}

/** Times in ms; `sinceArrivalMs` counts from generate(). */
export type RequestEvent =
  | { readonly type: 'first_token'; readonly sinceArrivalMs: number; readonly queuedMs: number }
  | { readonly type: 'token'; readonly sinceLastTokenMs: number }
  | { readonly type: 'finished'; readonly reason: FinishReason; readonly sinceArrivalMs: number; readonly promptTokens: number; readonly completionTokens: number; readonly cachedPromptTokens: number }
  | { readonly type: 'failed'; readonly sinceArrivalMs: number };

export const SCHEDULER_DEFAULTS = { maxBatchSize: 32, maxQueued: 256, maxStepTokens: 256 } as const;

interface Sequence {
  readonly params: GenerationParams;
  readonly events: EventQueue<GenerationEvent>;
  readonly sampler: Sampler;
  /** null when the request has no logits processors. */
  readonly logits: LogitsPipeline | null;
  /** The prefill group it belongs to (the choices of one request), if any. */
  share: PrefillShare | null;
  /** A follower's first logits, copied from its leader's prefill, to sample at the next step. */
  sharedLogits: Float32Array | null;
  readonly cache: KvCache;
  /** Prompt tokens not yet in the cache. */
  pendingPrompt: number[];
  /** The last sampled token, fed at the next step. */
  nextToken: number | null;
  generated: number;
  cachedPromptTokens: number;
  finish: FinishReason | null;
  readonly arrivedMs: number;
  admittedMs: number;
  lastTokenMs: number;
}

/** Sequences with one prompt whose prefill runs once, in the leader. */
interface PrefillShare {
  readonly leader: Sequence;
  readonly followers: Sequence[];
  /** The logits after the prompt, once the leader has them. */
  logits: Float32Array | null;
}

export class Scheduler implements EngineClient {
  private readonly shares = new WeakMap<object, PrefillShare>();
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private loopActive = false;
  private readonly opts: SchedulerOptions;

  constructor(
    private readonly forward: ForwardPass,
    private readonly newCache: () => KvCache,
    options: Partial<SchedulerOptions> & Pick<SchedulerOptions, 'modelId' | 'contextLength'>,
  ) {
    this.opts = withDefaults<SchedulerOptions>({ ...SCHEDULER_DEFAULTS, modelId: options.modelId, contextLength: options.contextLength }, options);
    for (const f of ['maxBatchSize', 'maxQueued', 'maxStepTokens'] as const) {
      if (!Number.isInteger(this.opts[f]) || this.opts[f] < (f === 'maxQueued' ? 0 : 1)) throw new ConfigError(`scheduler ${f} must be a positive integer, got ${this.opts[f]}`, f);
    }
  }

  get modelId(): string {
    return this.opts.modelId;
  }

  get contextLength(): number {
    return this.opts.contextLength;
  }

  get vocabSize(): number {
    return this.forward.model.config.vocabSize;
  }

  /** Sequences running and waiting (metrics). */
  get load(): { running: number; waiting: number } {
    return { running: this.running.length, waiting: this.waiting.length };
  }

  generate(params: GenerationParams): AsyncIterable<GenerationEvent> {
    const n = params.promptIds.length;
    if (n === 0) throw new InvalidRequestError('the prompt is empty', 'prompt');
    for (const id of params.promptIds) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new InvalidRequestError(`token id ${id} is outside the vocabulary`, 'prompt');
    }
    if (n + params.maxTokens > this.contextLength) {
      throw new InvalidRequestError(
        `this model's maximum context length is ${this.contextLength} tokens; the prompt has ${n} and max tokens is ${params.maxTokens}`,
        'max_tokens',
        'context_length_exceeded',
      );
    }
    if (this.waiting.length >= this.opts.maxQueued) throw new QueueFullError(`the queue is full (${this.opts.maxQueued} requests waiting)`);
    const seq: Sequence = {
      params,
      events: new EventQueue(),
      sampler: new Sampler(params.sampling),
      logits: params.logitsProcessors?.length ? new LogitsPipeline(params.promptIds, params.logitsProcessors) : null,
      share: null,
      sharedLogits: null,
      cache: this.newCache(),
      pendingPrompt: [...params.promptIds],
      nextToken: null,
      generated: 0,
      cachedPromptTokens: 0,
      finish: null,
      arrivedMs: performance.now(),
      admittedMs: 0,
      lastTokenMs: 0,
    };
    if (params.prefillGroup) this.joinPrefillGroup(seq, params.prefillGroup);
    this.waiting.push(seq);
    this.kick();
    return seq.events;
  }

  private joinPrefillGroup(seq: Sequence, group: object): void {
    const share = this.shares.get(group);
    const same = share !== undefined && share.leader.params.promptIds.length === seq.params.promptIds.length && share.leader.params.promptIds.every((t, i) => t === seq.params.promptIds[i]);
    if (!same) {
      const lead: PrefillShare = { leader: seq, followers: [], logits: null };
      this.shares.set(group, lead);
      seq.share = lead;
      return;
    }
    share.followers.push(seq);
    seq.share = share;
    seq.pendingPrompt = [];
  }

  health(): HealthReport {
    const checks: Record<string, { ok: boolean; detail?: string }> = { ...this.opts.healthChecks?.() };
    if (this.opts.prefixStore) {
      // Persistence is optional: serving goes on without it, so it is reported but not required.
      const h = this.opts.prefixStore.health();
      checks['session_store'] = { ok: true, detail: h.ok ? 'connected' : `degraded, serving without persistence: ${h.detail ?? ''}` };
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  private kick(): void {
    if (this.loopActive) return;
    this.loopActive = true;
    void this.loop().finally(() => {
      this.loopActive = false;
      if (this.waiting.length > 0 || this.running.length > 0) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.waiting.length > 0 || this.running.length > 0) {
      await this.admit();
      this.dropFinished();
      if (this.running.length === 0) continue;
      const entries = this.planStep();
      const emits: { seq: Sequence; logits: Float32Array }[] = [];
      if (entries.length > 0) {
        const t0 = performance.now();
        let logits: (Float32Array | null)[];
        try {
          logits = await this.forward.step(entries.map((e) => ({ cache: e.seq.cache, tokens: e.tokens, wantLogits: e.wantLogits })));
        } catch (err) {
          // A failed step fails the sequences in it; the caches were not committed.
          for (const e of entries) this.fail(e.seq, err);
          continue;
        }
        this.opts.onStep?.({ sequences: entries.length, tokens: entries.reduce((s, e) => s + e.tokens.length, 0), ms: performance.now() - t0 });
        entries.forEach((e, i) => {
          const l = logits[i];
          if (!l) return;
          if (e.seq.share?.leader === e.seq && e.seq.generated === 0) this.sharePrefill(e.seq.share, l);
          emits.push({ seq: e.seq, logits: l });
        });
      }
      for (const seq of this.running) {
        if (seq.sharedLogits) emits.push({ seq, logits: seq.sharedLogits });
        seq.sharedLogits = null;
      }
      if (emits.length === 0 && entries.length === 0) {
        // Only followers waiting for a leader still queued: let the event loop run before retrying.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      // Grammar masks are ready before sampling; a sequence whose mask fails fails alone.
      const prepared = await Promise.all(emits.map(({ seq }) => (seq.logits ? seq.logits.prepare().then(() => null, (err: unknown) => err) : null)));
      emits.forEach(({ seq, logits }, i) => {
        try {
          if (prepared[i]) throw prepared[i];
          this.emitToken(seq, logits);
        } catch (err) {
          this.fail(seq, err);
        }
      });
    }
  }

  /** The leader of a prefill group has its prompt's logits: the followers get its KV and a copy. */
  private sharePrefill(share: PrefillShare, logits: Float32Array): void {
    share.logits = logits.slice();
    for (const f of share.followers) if (this.running.includes(f)) this.startFollower(f, share);
  }

  private startFollower(f: Sequence, share: PrefillShare): void {
    const n = f.params.promptIds.length;
    const { keys, values } = share.leader.cache.exportRange(0, n);
    f.cache.importRange(f.params.promptIds, keys, values);
    f.cachedPromptTokens = share.leader.cachedPromptTokens;
    f.sharedLogits = share.logits!.slice();
  }

  /** A leader that ends before its prefill did leaves its followers to prefill for themselves. */
  private releaseFollowers(seq: Sequence): void {
    const share = seq.share;
    if (!share || share.leader !== seq || share.logits) return;
    for (const f of share.followers) {
      f.share = null;
      f.pendingPrompt = [...f.params.promptIds];
    }
  }

  private async admit(): Promise<void> {
    while (this.waiting.length > 0 && this.running.length < this.opts.maxBatchSize) {
      const seq = this.waiting.shift()!;
      if (seq.params.signal?.aborted) {
        this.finish(seq, 'abort');
        continue;
      }
      if (seq.share && seq.share.leader !== seq) {
        // A follower's prompt is its leader's: it takes the leader's KV once that is computed.
        if (seq.share.logits) this.startFollower(seq, seq.share);
      } else if (this.opts.prefixStore) {
        // At least one prompt token must run to produce the first logits.
        const prompt = seq.params.promptIds;
        const restored = await this.opts.prefixStore.restorePrefix(prompt.slice(0, prompt.length - 1), seq.cache);
        seq.cachedPromptTokens = restored;
        seq.pendingPrompt = prompt.slice(restored);
      }
      seq.admittedMs = performance.now();
      this.running.push(seq);
    }
  }

  private planStep(): { seq: Sequence; tokens: number[]; wantLogits: boolean }[] {
    const entries: { seq: Sequence; tokens: number[]; wantLogits: boolean }[] = [];
    let budget = this.opts.maxStepTokens;
    for (const seq of this.running) {
      if (seq.pendingPrompt.length === 0 && seq.nextToken !== null) {
        entries.push({ seq, tokens: [seq.nextToken], wantLogits: true });
        budget--;
      }
    }
    for (const seq of this.running) {
      if (seq.pendingPrompt.length === 0) continue;
      if (budget <= 0 && entries.length > 0) break;
      const take = Math.max(1, Math.min(budget, seq.pendingPrompt.length));
      const tokens = seq.pendingPrompt.splice(0, take);
      entries.push({ seq, tokens, wantLogits: seq.pendingPrompt.length === 0 });
      budget -= take;
    }
    return entries;
  }

  private emitToken(seq: Sequence, logits: Float32Array): void {
    seq.logits?.apply(logits);
    const token = seq.sampler.sample(logits);
    seq.logits?.accept(token.id);
    seq.generated++;
    if (this.opts.onRequestEvent) {
      const now = performance.now();
      if (seq.generated === 1) this.opts.onRequestEvent({ type: 'first_token', sinceArrivalMs: now - seq.arrivedMs, queuedMs: seq.admittedMs - seq.arrivedMs });
      else this.opts.onRequestEvent({ type: 'token', sinceLastTokenMs: now - seq.lastTokenMs });
      seq.lastTokenMs = now;
    }
    seq.nextToken = token.id;
    seq.events.push({ type: 'token', token });
    if (seq.params.stopTokenIds.includes(token.id)) seq.finish = 'stop';
    else if (seq.generated >= seq.params.maxTokens) seq.finish = 'length';
  }

  private dropFinished(): void {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const seq = this.running[i]!;
      if (seq.finish === null && seq.params.signal?.aborted) seq.finish = 'abort';
      if (seq.finish !== null) {
        this.running.splice(i, 1);
        this.finish(seq, seq.finish);
      }
    }
  }

  private finish(seq: Sequence, reason: FinishReason): void {
    seq.logits?.close();
    this.releaseFollowers(seq);
    seq.events.push({
      type: 'done',
      finishReason: reason,
      promptTokens: seq.params.promptIds.length,
      completionTokens: seq.generated,
      cachedPromptTokens: seq.cachedPromptTokens,
    });
    seq.events.end();
    this.opts.onRequestEvent?.({
      type: 'finished',
      reason,
      sinceArrivalMs: performance.now() - seq.arrivedMs,
      promptTokens: seq.params.promptIds.length,
      completionTokens: seq.generated,
      cachedPromptTokens: seq.cachedPromptTokens,
    });
    if (this.opts.prefixStore && reason !== 'abort') {
      void this.opts.prefixStore.persist(seq.cache, seq.cachedPromptTokens).catch((err: unknown) => this.opts.log?.warn({ err }, 'session persist failed'));
    }
  }

  private fail(seq: Sequence, err: unknown): void {
    const i = this.running.indexOf(seq);
    if (i >= 0) this.running.splice(i, 1);
    seq.logits?.close();
    this.releaseFollowers(seq);
    seq.events.fail(err);
    this.opts.onRequestEvent?.({ type: 'failed', sinceArrivalMs: performance.now() - seq.arrivedMs });
  }
}
