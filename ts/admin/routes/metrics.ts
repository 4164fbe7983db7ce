import type { FastifyPluginAsync } from 'fastify';
import type { AdminDeps } from '../app.ts';

/** `GET /metrics`: Prometheus text exposition of the node's registry. */
export const metricsRoutes: FastifyPluginAsync<AdminDeps> = async (app, { metrics }) => {
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
