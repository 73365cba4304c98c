// The counters behind the default GET /metrics (Prometheus text format 0.0.4): requests by method,
// route and status, tokens in and out, and requests in flight.
import type { Usage } from './protocol.js';

export class HttpMetrics {
  private readonly requests = new Map<string, number>();
  private promptTokens = 0;
  private completionTokens = 0;
  private cachedPromptTokens = 0;
  private inFlight = 0;

  started(): void {
    this.inFlight++;
  }

  finished(method: string, route: string, status: number): void {
    this.inFlight--;
    const key = `method="${method}",route="${escapeLabel(route)}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  tokens(usage: Usage): void {
    this.promptTokens += usage.prompt_tokens;
    this.completionTokens += usage.completion_tokens;
    this.cachedPromptTokens += usage.prompt_tokens_details.cached_tokens;
  }

  text(): string {
    const lines = [
      '# HELP gptoss_http_requests_total HTTP requests answered, by method, route and status.',
      '# TYPE gptoss_http_requests_total counter',
      ...[...this.requests].map(([labels, n]) => `gptoss_http_requests_total{${labels}} ${n}`),
      '# HELP gptoss_http_requests_in_flight HTTP requests being answered.',
      '# TYPE gptoss_http_requests_in_flight gauge',
      `gptoss_http_requests_in_flight ${this.inFlight}`,
      '# HELP gptoss_prompt_tokens_total Prompt tokens of finished generations.',
      '# TYPE gptoss_prompt_tokens_total counter',
      `gptoss_prompt_tokens_total ${this.promptTokens}`,
      '# HELP gptoss_cached_prompt_tokens_total Prompt tokens whose KV came from the session store.',
      '# TYPE gptoss_cached_prompt_tokens_total counter',
      `gptoss_cached_prompt_tokens_total ${this.cachedPromptTokens}`,
      '# HELP gptoss_completion_tokens_total Tokens generated.',
      '# TYPE gptoss_completion_tokens_total counter',
      `gptoss_completion_tokens_total ${this.completionTokens}`,
    ];
    return lines.join('\n') + '\n';
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
