import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../log.ts';
import type { MetaService } from '../../meta/service.ts';
import type { Storage } from '../../storage/storage.ts';
import { startMetaNode } from '../../test/helpers/meta-node.ts';
import { parseRaftOffsetKey, RAFT_OFFSETS_PREFIX, raftOffsetKey } from './offset-raft.ts';
import { type CommittedOffset, OFFSETS_NS, OffsetStore, offsetKey } from './offset-store.ts';

const logger = createLogger({ level: 'silent', format: 'json' });
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

const value = (offset: bigint, t = Date.now()): CommittedOffset => ({
  offset,
  leaderEpoch: 0,
  metadata: '',
  commitTimestampMs: t,
  topicId: 'id-1',
});

async function node(): Promise<{ meta: MetaService; storage: Storage }> {
  const n = await startMetaNode('ferrymq-offsets-raft-');
  cleanup.push(n.close);
  return n;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('raft offset keys', () => {
  it('round-trip groups and topics with separators, percent signs and non-ASCII', () => {
    for (const [g, t, p] of [
      ['g', 't', 0],
      ['a/b', 'c/d', 3],
      ['50%', 'x%2F', 2_147_483_647],
      ['größe', 't', 1],
    ] as const) {
      const k = raftOffsetKey(g, t, p);
      expect(k.startsWith(RAFT_OFFSETS_PREFIX)).toBe(true);
      expect(parseRaftOffsetKey(k)).toEqual({ group: g, topic: t, partition: p });
    }
    expect(parseRaftOffsetKey('offsets/a/b')).toBeNull();
    expect(parseRaftOffsetKey('offsets/a/b/x')).toBeNull();
    expect(parseRaftOffsetKey('offsets/%E0%A4%A/b/1')).toBeNull();
    expect(parseRaftOffsetKey('other/a/b/1')).toBeNull();
  });
});

describe('offset store over the offsets raft groups', () => {
  it('commits coalesce into proposals of the group of their consumer group, and the view shows them once applied', async () => {
    const { meta, storage } = await node();
    const { store } = await OffsetStore.load(storage.kv, { meta, logger });
    const before = meta.groups().map((g) => g.commitIndex);
    // 20 groups committed at once: while the first write is in flight the rest queue and go together.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.commit(`g${i}`, [{ topic: 't', partition: 0, value: value(BigInt(i)) }]),
      ),
    );
    for (let i = 0; i < 20; i++) expect(store.get(`g${i}`, 't', 0)?.offset).toBe(BigInt(i));
    const entries = meta.groups().reduce((n, g, i) => n + g.commitIndex - (before[i] ?? 0), 0);
    // At most one proposal per offsets group for the first write and one per group for the rest.
    expect(entries).toBeLessThanOrEqual(4);
    const id = meta.groupFor('offsets', 'g3');
    expect(meta.localList(id, raftOffsetKey('g3', 't', 0))).toHaveLength(1);
    store.close();
  });

  it('follows commits made by others (another node) through its watch; retention keeps an offset committed since', async () => {
    const { meta, storage } = await node();
    const { store } = await OffsetStore.load(storage.kv, { meta, logger });
    const old = value(1n, Date.now() - 60_000);
    await store.commit('g', [
      { topic: 't', partition: 0, value: old },
      { topic: 't', partition: 1, value: old },
    ]);
    // Another node commits partition 1 straight into the group: in the log before retention's
    // delete, but not yet applied here when retention chooses from the view (both look expired).
    const id = meta.groupFor('offsets', 'g');
    const other = meta.propose(id, {
      op: 'put',
      key: raftOffsetKey('g', 't', 1),
      value: JSON.stringify({ o: '9', e: 0, m: '', t: Date.now(), i: 'id-1' }),
    });
    const expired = store.expire('g', (v) => v.offset === 1n);
    await other;
    expect(await expired).toBe(2);
    expect(store.get('g', 't', 0)).toBeUndefined();
    // The delete of partition 1 was conditional on the version retention saw: the newer commit stays.
    await until(() => store.get('g', 't', 1)?.offset === 9n);
    expect(meta.localList(id, raftOffsetKey('g', 't', 1))).toHaveLength(1);
    await store.deleteGroup('g');
    expect(store.hasOffsets('g')).toBe(false);
    expect(meta.localList(id, `${RAFT_OFFSETS_PREFIX}g/`)).toEqual([]);
    store.close();
  });

  it('migrates offsets left in the KV namespace once, and a newer one already in the group wins', async () => {
    const { meta, storage } = await node();
    const kv = storage.kv;
    const enc = (o: number, t: number) => JSON.stringify({ o: String(o), e: 0, m: '', t, i: 'id-1' });
    await kv.write(
      [
        { ns: OFFSETS_NS, key: offsetKey('m', 't', 0), value: enc(4, 1000) },
        { ns: OFFSETS_NS, key: offsetKey('m', 't', 1), value: enc(5, 1000) },
      ],
      { sync: true },
    );
    // Partition 1 was already committed through the group, later than the KV copy.
    const first = await OffsetStore.load(kv, { meta, logger });
    expect(first.store.get('m', 't', 0)?.offset).toBe(4n);
    await first.store.commit('m', [{ topic: 't', partition: 1, value: value(50n) }]);
    first.store.close();
    await kv.put(OFFSETS_NS, offsetKey('m', 't', 1), enc(5, 1000), { sync: true });
    const second = await OffsetStore.load(kv, { meta, logger });
    expect(second.store.get('m', 't', 0)?.offset).toBe(4n);
    expect(second.store.get('m', 't', 1)?.offset).toBe(50n);
    expect(await kv.scan(OFFSETS_NS, Buffer.alloc(0), { limit: 10 })).toEqual([]);
    second.store.close();
  });
});
