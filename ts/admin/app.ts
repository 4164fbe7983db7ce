import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from '../log.ts';
import type { MetaService } from '../meta/service.ts';
import type { Metrics } from '../metrics.ts';
import type { NodeInfo } from '../node-info.ts';
import { apiRoutes } from './routes/api.ts';
import { clusterRoutes } from './routes/cluster.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';

export interface AdminDeps {
  logger: Logger;
  node: NodeInfo;
  metrics: Metrics;
  /** The meta service once started (the `meta` role); admin listens before it exists. */
  cluster?: () => MetaService | undefined;
}

/**
 * The admin HTTP server. Each file in routes/ is an encapsulated fastify
 * plugin; handlers reach the node only through the narrow `AdminDeps`
 * passed as plugin options, never through a global.
 */
export function buildAdminApp(deps: AdminDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'admin' }) as FastifyBaseLogger,
    // Scrapes and health checks would drown the log; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    connectionTimeout: 30_000,
    forceCloseConnections: 'idle',
  });
  app.register(healthRoutes, deps);
  app.register(metricsRoutes, deps);
  app.register(apiRoutes, { ...deps, prefix: '/api/v1' });
  app.register(clusterRoutes, { ...deps, prefix: '/api/v1/cluster' });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url}` });
  });
  return app;
}
