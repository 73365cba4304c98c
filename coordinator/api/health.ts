// GET /health (open even when API keys are set: probes carry none) and GET /metrics.
import type { FastifyInstance } from 'fastify';
import type { EngineClient, HealthReport } from '../engine-core/engine-client.js';

export interface HealthBody {
  readonly status: 'ok' | 'unavailable';
  readonly checks: HealthReport['checks'];
}

export function registerHealth(app: FastifyInstance, engine: EngineClient, metricsText: () => Promise<string> | string): void {
  app.get('/health', async (_request, reply): Promise<HealthBody> => {
    const report = engine.health();
    reply.code(report.ready ? 200 : 503);
    return { status: report.ready ? 'ok' : 'unavailable', checks: report.checks };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return await metricsText();
  });
}
