import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.ts';
import type { MetaService } from '../meta/service.ts';
import type { Storage } from '../storage/storage.ts';
import { startMetaNode } from '../test/helpers/meta-node.ts';
import type { Delivery, Subscription } from './session.ts';
import { RAFT_SESSIONS_PREFIX } from './session-raft.ts';
import { SessionStore } from './session-store.ts';

const logger = createLogger({ level: 'silent', format: 'json' });
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

async function node(): Promise<{ meta: MetaService; storage: Storage }> {
  const n = await startMetaNode('ferrymq-sessions-raft-');
  cleanup.push(n.close);
  return n;
}

const delivery = (payload: string): Delivery => ({
  message: { topic: 't', payload: Buffer.from(payload), qos: 1, retain: false, properties: {} },
  qos: 1,
  retain: false,
  subscriptionIds: [],
  bytes: payload.length + 1,
});

const sub = (filter: string): Subscription =>
  ({
    filter,
    topicFilter: filter,
    qos: 1,
    noLocal: true,
    retainAsPublished: false,
    retainHandling: 2,
  }) as Subscription;

describe('session records in the sessions raft groups', () => {
  it('records go to the group of their client id; a node loads only its own and deletes only the version it wrote', async () => {
    const { meta, storage } = await node();
    const store = new SessionStore(storage.kv, logger, meta);
    expect(await store.loadAll()).toEqual([]);
    await store.saveMeta('mine', 5, 60, [sub('a/+')]);
    await store.saveMeta('taken', 4, 30, [sub('b/#')]);
    const g = meta.groupFor('sessions', 'mine');
    expect(meta.localList(g, `${RAFT_SESSIONS_PREFIX}mine`)).toHaveLength(1);
    // Nothing of the record in the local KV namespace.
    expect(await storage.kv.scan('mqtt.session', '', { limit: 10 })).toEqual([]);
    // Another node took client "taken" over: its record now names node 2.
    const t = meta.groupFor('sessions', 'taken');
    await meta.propose(t, {
      op: 'put',
      key: `${RAFT_SESSIONS_PREFIX}taken`,
      value: JSON.stringify({ node: 2, protocolVersion: 4, expiryS: 30, subscriptions: [] }),
    });
    // Queued messages stay in the local KV, whichever node the record names.
    await store.saveMessage('mine', 1, delivery('for mine'), 0, 0);
    await store.saveMessage('taken', 1, delivery('for taken'), 0, 0);
    expect(await storage.kv.scan('mqtt.session.msg', '', { limit: 10 })).toHaveLength(2);

    const restarted = new SessionStore(storage.kv, logger, meta);
    const loaded = await restarted.loadAll();
    expect(loaded.map((s) => [s.clientId, s.protocolVersion, s.expiryS, s.subscriptions])).toEqual([
      ['mine', 5, 60, [sub('a/+')]],
    ]);
    expect(loaded[0]?.messages.map((m) => String(m.delivery.message.payload))).toEqual(['for mine']);
    // The messages of the session that lives on node 2 now are garbage here, and gone.
    expect(await storage.kv.scan('mqtt.session.msg', '', { limit: 10 })).toHaveLength(1);
    // This node's copy of "taken" ends (it had one before the restart): the other node's record stays.
    await store.deleteSession('taken');
    expect(meta.localList(t, `${RAFT_SESSIONS_PREFIX}taken`)).toHaveLength(1);
    await restarted.deleteSession('mine');
    expect(meta.localList(g, `${RAFT_SESSIONS_PREFIX}mine`)).toEqual([]);
    expect(await storage.kv.scan('mqtt.session.msg', '', { limit: 10 })).toEqual([]);
  });

  it('migrates records left in the KV namespace into the groups, then removes them there', async () => {
    const { meta, storage } = await node();
    await storage.kv.put(
      'mqtt.session',
      'old',
      JSON.stringify({ protocolVersion: 4, expiryS: 3600, subscriptions: [sub('x')] }),
    );
    const loaded = await new SessionStore(storage.kv, logger, meta).loadAll();
    expect(loaded.map((s) => s.clientId)).toEqual(['old']);
    expect(await storage.kv.scan('mqtt.session', '', { limit: 10 })).toEqual([]);
    const again = await new SessionStore(storage.kv, logger, meta).loadAll();
    expect(again.map((s) => [s.clientId, s.subscriptions])).toEqual([['old', [sub('x')]]]);
  });
});
