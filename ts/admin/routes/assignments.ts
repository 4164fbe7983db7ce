import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { createStream, deleteStream, readStreams } from '../../meta/controller-streams.ts';
import type { MetaService } from '../../meta/service.ts';
import type { AdminDeps } from '../app.ts';
import { failMeta as fail } from './meta-errors.ts';

/**
 * The controller's view under `/api/v1/cluster` (registered by cluster.ts;
 * docs/raft.md, "Controller"):
 *
 * - `POST /streams` `{ "name": "orders", "partitions": 6, "replication_factor": 2 }`
 *   registers a stream; the controller places its partitions within a round.
 *   400 for a bad name or partition count (meta.stream_partitions_max) or a
 *   replication factor above the live node count, 409 if it exists.
 * - `DELETE /streams/<name>`: the controller then deletes its assignments.
 * - `GET /assignments` every stream with, per partition, its leader,
 *   replicas, leader epoch, whether the leader is alive, and `unplaced`
 *   partitions; `GET /assignments/<name>` one stream (404 if unknown).
 *
 * Reads are linearizable (through the metadata leader), like `/kv`.
 */

const streamBody = {
  type: 'object',
  required: ['name', 'partitions', 'replication_factor'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 249 },
    partitions: { type: 'integer', minimum: 1 },
    replication_factor: { type: 'integer', minimum: 1, maximum: 1000 },
  },
} as const;

export const assignmentRoutes: FastifyPluginAsync<AdminDeps> = async (app, deps) => {
  const meta = (reply: FastifyReply): MetaService | undefined => {
    const m = deps.cluster?.();
    if (!m) reply.code(503).send({ error: 'bad_request', message: 'this node does not run the meta role' });
    return m;
  };

  app.post<{ Body: { name: string; partitions: number; replication_factor: number } }>(
    '/streams',
    { schema: { body: streamBody } },
    async (req, reply) => {
      const m = meta(reply);
      if (!m) return reply;
      const { name, partitions, replication_factor } = req.body;
      try {
        const r = await createStream(m, name, { partitions, replication_factor });
        return reply.code(201).send({ name, partitions, replication_factor, version: r.version });
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.delete<{ Params: { name: string } }>('/streams/:name', async (req, reply) => {
    const m = meta(reply);
    if (!m) return reply;
    try {
      if (!(await deleteStream(m, req.params.name))) {
        return reply.code(404).send({ error: 'not_found', message: `no stream "${req.params.name}"` });
      }
      return { ok: true };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/assignments', async (_req, reply) => {
    const m = meta(reply);
    if (!m) return reply;
    try {
      return { streams: await readStreams(m) };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get<{ Params: { name: string } }>('/assignments/:name', async (req, reply) => {
    const m = meta(reply);
    if (!m) return reply;
    try {
      const [view] = await readStreams(m, req.params.name);
      if (!view)
        return reply.code(404).send({ error: 'not_found', message: `no stream "${req.params.name}"` });
      return view;
    } catch (err) {
      return fail(reply, err);
    }
  });
};
