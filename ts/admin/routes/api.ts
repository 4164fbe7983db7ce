import type { FastifyPluginAsync } from 'fastify';
import type { AdminDeps } from '../app.ts';

/**
 * The `/api/v1` prefix. Resource routes (streams, clients, cluster) register
 * here as they are built; `GET /api/v1` lists what this build serves so
 * that `ferrymq ctl` and scripts can discover it.
 */
export const apiRoutes: FastifyPluginAsync<AdminDeps> = async (app, { node }) => {
  app.get('/', async () => ({ version: node.version, endpoints: ['GET /api/v1/node'] }));
  app.get('/node', async () => ({
    node_id: node.nodeId,
    roles: node.roles,
    version: node.version,
    data_dir: node.dataDir,
    listeners: node.listeners(),
    uptime_s: Math.round(node.uptimeMs() / 100) / 10,
  }));
};
