// GET /dashboard (HTML page) and GET /dashboard/state (its JSON feed) on the coordinator's fastify
// instance. Like /health and /metrics these are not behind the /v1 API key.
import type { FastifyInstance } from 'fastify';
import { DASHBOARD_HTML } from './page.js';
import { buildDashboardState, type DashboardSource } from './state.js';
import { DashboardStats } from './stats.js';

export { buildDashboardState, type DashboardSource, type DashboardState } from './state.js';
export { DashboardStats } from './stats.js';

export function registerDashboard(app: FastifyInstance, source: DashboardSource, opts: { historyLength?: number; sampleMs?: number } = {}): DashboardStats {
  const stats = new DashboardStats({ numLayers: source.numLayers, numExperts: source.numExperts, ...opts });
  stats.attach(source.experts.backend);
  app.addHook('onClose', async () => stats.close());
  app.get('/dashboard', async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
      .send(DASHBOARD_HTML),
  );
  app.get('/dashboard/state', async (_request, reply) => reply.header('cache-control', 'no-store').send(buildDashboardState(source, stats)));
  return stats;
}
