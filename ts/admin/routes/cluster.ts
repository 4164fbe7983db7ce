import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { MetaConfig } from '../../config/schema.ts';
import { localLiveness } from '../../meta/controller-streams.ts';
import { METADATA_GROUP, type MetaService, NODES_PREFIX } from '../../meta/service.ts';
import type { AdminDeps } from '../app.ts';
import { assignmentRoutes } from './assignments.ts';
import { failMeta as fail } from './meta-errors.ts';

/**
 * `/api/v1/cluster`: the meta service as seen from this node.
 *
 * - `GET /` members, each Raft group's leader, term, commit and applied
 *   index, and each node's health as seen from here, plus the controller's
 *   verdict (`alive`, `alive_changed_at`; null before its first round).
 * - `/streams` and `/assignments`: the controller (assignments.ts).
 * - `POST /members` `{ "id": 4, "address": "host:port" }` adds a node to
 *   every group (one single-server change per group); `DELETE /members/:id`
 *   removes one.
 * - `GET|PUT|DELETE /kv/<key>` and `GET /kv?prefix=&limit=`: the metadata
 *   group's versioned KV (linearizable reads; PUT takes
 *   `{ "value": "...", "if_version": n }`, 0 meaning "must not exist").
 *   Keys under `nodes/` belong to the member directory and are read-only here.
 * - `POST /groups/<name>/leader` `{ "node": 2 }` moves that group's
 *   leadership to node 2 (leader transfer); answered once node 2 leads.
 *
 * Any node answers: requests are forwarded to the group's leader. Errors:
 * 503 no leader / no meta role, 504 not committed in time, 409 version or
 * membership conflict, 429 a bound reached, 400 bad input.
 */

const bad = (reply: FastifyReply, message: string, code = 400): FastifyReply =>
  reply.code(code).send({ error: 'bad_request', message });

const memberBody = {
  type: 'object',
  required: ['id', 'address'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer', minimum: 1, maximum: 2 ** 31 - 1 },
    address: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s\\[\\]]+):\\d{1,5}$' },
  },
} as const;

const putBody = {
  type: 'object',
  required: ['value'],
  additionalProperties: false,
  properties: {
    value: { type: 'string' },
    if_version: { type: 'integer', minimum: 0 },
  },
} as const;

export const clusterRoutes: FastifyPluginAsync<AdminDeps> = async (app, deps) => {
  const meta = (reply: FastifyReply): MetaService | undefined => {
    const m = deps.cluster?.();
    if (!m) {
      bad(reply, 'this node does not run the meta role', 503);
      return undefined;
    }
    return m;
  };
  const limits = (m: MetaService): MetaConfig => m.config;

  app.get('/', async (_req, reply) => {
    const m = meta(reply);
    if (!m) return reply;
    const s = m.status();
    const liveness = localLiveness(m);
    return {
      ...s,
      nodes: s.nodes.map((n) => {
        const l = liveness.get(n.id);
        return {
          ...n,
          alive: l?.alive ?? null,
          alive_changed_at: l ? new Date(l.since).toISOString() : null,
        };
      }),
    };
  });

  // deps carries this plugin's prefix; the child must not add it a second time.
  app.register(assignmentRoutes, { ...deps, prefix: '' });

  app.post<{ Body: { id: number; address: string } }>(
    '/members',
    { schema: { body: memberBody } },
    async (req, reply) => {
      const m = meta(reply);
      if (!m) return reply;
      try {
        await m.addMember(req.body.id, req.body.address);
        return { ok: true, member: req.body };
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.delete<{ Params: { id: string } }>('/members/:id', async (req, reply) => {
    const m = meta(reply);
    if (!m) return reply;
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id < 1) return bad(reply, `"${req.params.id}" is not a node id`);
    try {
      await m.removeMember(id);
      return { ok: true };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.post<{ Params: { name: string }; Body: { node: number } }>(
    '/groups/:name/leader',
    {
      schema: {
        body: {
          type: 'object',
          required: ['node'],
          additionalProperties: false,
          properties: { node: { type: 'integer', minimum: 1, maximum: 2 ** 31 - 1 } },
        },
      },
    },
    async (req, reply) => {
      const m = meta(reply);
      if (!m) return reply;
      const group = m.groupId(req.params.name);
      if (group === undefined) {
        return reply.code(404).send({ error: 'not_found', message: `no raft group "${req.params.name}"` });
      }
      try {
        await m.transferLeader(group, req.body.node);
        return { group: req.params.name, leader: req.body.node };
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.get<{ Querystring: { prefix?: string; limit?: string } }>('/kv', async (req, reply) => {
    const m = meta(reply);
    if (!m) return reply;
    const limit = req.query.limit === undefined ? 1000 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return bad(reply, 'limit must be 1..10000');
    try {
      return { items: await m.list(METADATA_GROUP, req.query.prefix ?? '', limit) };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get<{ Params: { '*': string } }>('/kv/*', async (req, reply) => {
    const m = meta(reply);
    if (!m) return reply;
    try {
      const item = await m.get(METADATA_GROUP, req.params['*']);
      if (!item) return reply.code(404).send({ error: 'not_found', message: `no key "${req.params['*']}"` });
      return item;
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.put<{ Params: { '*': string }; Body: { value: string; if_version?: number } }>(
    '/kv/*',
    { schema: { body: putBody } },
    async (req, reply) => {
      const m = meta(reply);
      if (!m) return reply;
      const key = req.params['*'];
      const l = limits(m);
      if (key === '') return bad(reply, 'empty key');
      if (key.startsWith(NODES_PREFIX))
        return bad(reply, `keys under ${NODES_PREFIX} are the member directory`);
      if (Buffer.byteLength(key) + Buffer.byteLength(req.body.value) > l.kv_value_bytes_max) {
        return bad(
          reply,
          `key plus value above meta.kv_value_bytes_max (${l.kv_value_bytes_max} bytes)`,
          413,
        );
      }
      if (!m.localHas(METADATA_GROUP, key) && m.localSize(METADATA_GROUP) >= l.kv_keys_max) {
        // This node's view: a few creates racing on other nodes may pass it, never an unbounded number.
        return bad(reply, `the cluster KV holds meta.kv_keys_max (${l.kv_keys_max}) keys`, 429);
      }
      try {
        const r = await m.propose(METADATA_GROUP, {
          op: 'put',
          key,
          value: req.body.value,
          ...(req.body.if_version === undefined ? {} : { ifVersion: req.body.if_version }),
        });
        if (!r.ok) return reply.code(409).send({ error: 'version_mismatch', version: r.version });
        return { version: r.version };
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.delete<{ Params: { '*': string }; Querystring: { if_version?: string } }>(
    '/kv/*',
    async (req, reply) => {
      const m = meta(reply);
      if (!m) return reply;
      const key = req.params['*'];
      if (key.startsWith(NODES_PREFIX))
        return bad(reply, `keys under ${NODES_PREFIX} are the member directory`);
      const ifVersion = req.query.if_version === undefined ? undefined : Number(req.query.if_version);
      if (ifVersion !== undefined && !(Number.isInteger(ifVersion) && ifVersion >= 0)) {
        return bad(reply, 'if_version must be an integer >= 0');
      }
      try {
        const r = await m.propose(METADATA_GROUP, {
          op: 'delete',
          key,
          ...(ifVersion === undefined ? {} : { ifVersion }),
        });
        if (!r.ok) return reply.code(409).send({ error: 'version_mismatch', version: r.version });
        return { version: r.version };
      } catch (err) {
        return fail(reply, err);
      }
    },
  );
};
