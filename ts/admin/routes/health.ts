import type { FastifyPluginAsync } from 'fastify';
import type { AdminDeps } from '../app.ts';

const healthSchema = {
  response: {
    200: {
      type: 'object',
      required: ['status', 'node_id', 'roles', 'version', 'uptime_s'],
      properties: {
        status: { type: 'string', enum: ['ok'] },
        node_id: { type: 'integer' },
        roles: { type: 'array', items: { type: 'string' } },
        version: { type: 'string' },
        uptime_s: { type: 'number' },
      },
    },
  },
} as const;

/** `GET /health`: liveness, plus who this node is. */
export const healthRoutes: FastifyPluginAsync<AdminDeps> = async (app, { node }) => {
  app.get('/health', { schema: healthSchema }, async () => ({
    status: 'ok' as const,
    node_id: node.nodeId,
    roles: node.roles,
    version: node.version,
    uptime_s: Math.round(node.uptimeMs() / 100) / 10,
  }));
};
