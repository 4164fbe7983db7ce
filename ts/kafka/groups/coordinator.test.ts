import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Kv, KvKey, KvOp } from '../../storage/kv.ts';
import { type CommitRequest, GroupCoordinator, type GroupLimits } from './coordinator.ts';
import type { JoinResult } from './group.ts';
import { GroupError, type JoinRequest } from './requests.ts';

/** An in-memory stand-in for the KV store: same contract (namespaces, atomic writes, ordered scans). */
class MemKv {
  readonly data = new Map<string, Buffer>();
  writes = 0;
  failNext = false;
  static id(ns: string, key: KvKey): string {
    return `${ns}\u0000${Buffer.from(key).toString('hex')}`;
  }
  async get(ns: string, key: KvKey): Promise<Buffer | null> {
    return this.data.get(MemKv.id(ns, key)) ?? null;
  }
  async write(ops: readonly KvOp[]): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk on fire');
    }
    this.writes++;
    for (const op of ops) {
      if ('delete' in op) this.data.delete(MemKv.id(op.ns, op.key));
      else this.data.set(MemKv.id(op.ns, op.key), Buffer.from(op.value));
    }
  }
  async scan(
    ns: string,
    prefix: KvKey,
    opts: { startAfter?: KvKey; limit: number },
  ): Promise<{ key: Buffer; value: Buffer }[]> {
    const p = Buffer.from(prefix);
    const all = [...this.data.entries()]
      .filter(([k]) => k.startsWith(`${ns}\u0000`))
      .map(([k, value]) => ({ key: Buffer.from(k.slice(ns.length + 1), 'hex'), value }))
      .filter((e) => e.key.subarray(0, p.length).equals(p))
      .sort((a, b) => Buffer.compare(a.key, b.key));
    const after = opts.startAfter === undefined ? undefined : Buffer.from(opts.startAfter);
    return all.filter((e) => !after || Buffer.compare(e.key, after) > 0).slice(0, opts.limit);
  }
}

const LIMITS: GroupLimits = {
  groupsMax: 100,
  groupMembersMax: 10,
  memberMetadataBytesMax: 64,
  sessionTimeoutMsMin: 1000,
  sessionTimeoutMsMax: 60_000,
  initialRebalanceDelayMs: 100,
  offsetMetadataBytesMax: 16,
  offsetsRetentionMs: 60_000,
  offsetsRetentionCheckMs: 10_000,
};

function joinReq(over: Partial<JoinRequest> = {}): JoinRequest {
  return {
    memberId: '',
    groupInstanceId: null,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 20_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from('m') }],
    clientId: 'c',
    clientHost: '/127.0.0.1',
    requireKnownMemberId: true,
    ...over,
  };
}

function commitReq(over: Partial<CommitRequest> = {}): CommitRequest {
  return {
    groupId: 'g',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    offsets: [{ topic: 't', partition: 0, offset: 5n, leaderEpoch: -1, topicId: 'tid', metadata: 'meta' }],
    ...over,
  };
}

describe('group coordinator', () => {
  let kv: MemKv;
  let gc: GroupCoordinator;

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    kv = new MemKv();
    gc = (await GroupCoordinator.load(kv as unknown as Kv, LIMITS)).coordinator;
  });

  afterEach(() => {
    gc.close();
    vi.useRealTimers();
  });

  /** Two-step join of a new dynamic member; resolves with the pending JoinGroup. */
  async function joinNew(
    group = 'g',
    over: Partial<JoinRequest> = {},
  ): Promise<{ id: string; join: Promise<JoinResult> }> {
    const first = await gc.join(group, joinReq(over));
    expect(first.errorCode).toBe(GroupError.MEMBER_ID_REQUIRED);
    expect(first.memberId).not.toBe('');
    return { id: first.memberId, join: gc.join(group, joinReq({ ...over, memberId: first.memberId })) };
  }

  /** One member through join (after the initial delay) and sync; returns its id and generation. */
  async function stableOne(group = 'g'): Promise<{ id: string; generation: number }> {
    const { id, join } = await joinNew(group);
    await vi.advanceTimersByTimeAsync(LIMITS.initialRebalanceDelayMs);
    const j = await join;
    expect(j.errorCode).toBe(0);
    const s = await gc.sync(group, {
      memberId: id,
      groupInstanceId: null,
      generationId: j.generationId,
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [{ memberId: id, assignment: Buffer.from('all') }],
    });
    expect(s.errorCode).toBe(0);
    return { id, generation: j.generationId };
  }

  it('two-step join: MEMBER_ID_REQUIRED, then the initial delay, then leader with the member list', async () => {
    const { id, join } = await joinNew();
    let settled = false;
    void join.then(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(LIMITS.initialRebalanceDelayMs - 1);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const j = await join;
    expect(j).toMatchObject({
      errorCode: 0,
      memberId: id,
      generationId: 1,
      leader: id,
      protocolName: 'range',
    });
    expect(j.members.map((m) => m.memberId)).toEqual([id]);
    expect(gc.describe('g')?.state).toBe('CompletingRebalance');
    expect(gc.heartbeat('g', id, null, 1)).toBe(0);
  });

  it('answers SyncGroup with the leader assignment; Heartbeat checks member and generation', async () => {
    const { id, generation } = await stableOne();
    expect(gc.describe('g')?.state).toBe('Stable');
    expect(gc.describe('g')?.members[0]?.assignment.toString()).toBe('all');
    expect(gc.heartbeat('g', id, null, generation + 1)).toBe(GroupError.ILLEGAL_GENERATION);
    expect(gc.heartbeat('g', 'nobody', null, generation)).toBe(GroupError.UNKNOWN_MEMBER_ID);
    expect(gc.heartbeat('nogroup', id, null, generation)).toBe(GroupError.UNKNOWN_MEMBER_ID);
    const wrongGen = await gc.sync('g', {
      memberId: id,
      groupInstanceId: null,
      generationId: 9,
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    expect(wrongGen.errorCode).toBe(GroupError.ILLEGAL_GENERATION);
  });

  it('a new member triggers a rebalance: REBALANCE_IN_PROGRESS, both rejoin, one leader, generation 2', async () => {
    const a = await stableOne();
    const b = await joinNew();
    expect(gc.describe('g')?.state).toBe('PreparingRebalance');
    expect(gc.heartbeat('g', a.id, null, a.generation)).toBe(GroupError.REBALANCE_IN_PROGRESS);
    const aJoin = gc.join('g', joinReq({ memberId: a.id }));
    const [ja, jb] = await Promise.all([aJoin, b.join]);
    expect(ja.generationId).toBe(2);
    expect(jb.generationId).toBe(2);
    expect(ja.leader).toBe(a.id);
    expect(ja.members).toHaveLength(2);
    expect(jb.members).toHaveLength(0);
  });

  it('a member that stops heartbeating is removed after its session timeout and the group rebalances', async () => {
    const a = await stableOne();
    const b = await joinNew();
    const ja = await gc.join('g', joinReq({ memberId: a.id }));
    await b.join;
    // Both sync; then only a keeps heartbeating.
    const assignments = [
      { memberId: a.id, assignment: Buffer.from('p0') },
      { memberId: b.id, assignment: Buffer.from('p1') },
    ];
    const sb = gc.sync('g', {
      memberId: b.id,
      groupInstanceId: null,
      generationId: 2,
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    await gc.sync('g', {
      memberId: a.id,
      groupInstanceId: null,
      generationId: ja.generationId,
      protocolType: null,
      protocolName: null,
      assignments,
    });
    expect((await sb).assignment.toString()).toBe('p1');
    for (let t = 0; t < 10_000; t += 3000) {
      await vi.advanceTimersByTimeAsync(3000);
      gc.heartbeat('g', a.id, null, 2);
    }
    expect(gc.describe('g')?.members.map((m) => m.memberId)).toEqual([a.id]);
    expect(gc.heartbeat('g', a.id, null, 2)).toBe(GroupError.REBALANCE_IN_PROGRESS);
    expect(gc.heartbeat('g', b.id, null, 2)).toBe(GroupError.UNKNOWN_MEMBER_ID);
    const again = await gc.join('g', joinReq({ memberId: a.id }));
    expect(again).toMatchObject({ errorCode: 0, generationId: 3, leader: a.id });
  });

  it('a member that does not rejoin within the rebalance timeout is dropped from the rebalance', async () => {
    const a = await stableOne();
    const b = await joinNew();
    await vi.advanceTimersByTimeAsync(5000);
    gc.heartbeat('g', a.id, null, 1); // keeps a alive but it never rejoins
    await vi.advanceTimersByTimeAsync(15_000);
    const jb = await b.join;
    expect(jb).toMatchObject({ errorCode: 0, generationId: 2, leader: b.id });
    expect(jb.members.map((m) => m.memberId)).toEqual([b.id]);
    expect(gc.heartbeat('g', a.id, null, 1)).toBe(GroupError.UNKNOWN_MEMBER_ID);
  });

  it('a member that never sends SyncGroup is removed after the rebalance timeout', async () => {
    const { id, join } = await joinNew();
    await vi.advanceTimersByTimeAsync(LIMITS.initialRebalanceDelayMs);
    await join;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(gc.describe('g')).toBeUndefined();
    expect(gc.heartbeat('g', id, null, 1)).toBe(GroupError.UNKNOWN_MEMBER_ID);
  });

  it('a pending member id (MEMBER_ID_REQUIRED) expires after the session timeout', async () => {
    const first = await gc.join('g', joinReq());
    await vi.advanceTimersByTimeAsync(10_000);
    const late = await gc.join('g', joinReq({ memberId: first.memberId }));
    expect(late.errorCode).toBe(GroupError.UNKNOWN_MEMBER_ID);
  });

  it('static member: a restart takes its old assignment without a rebalance; the old id is fenced', async () => {
    const first = gc.join('g', joinReq({ groupInstanceId: 'i1' }));
    await vi.advanceTimersByTimeAsync(LIMITS.initialRebalanceDelayMs);
    const j = await first;
    expect(j.errorCode).toBe(0);
    await gc.sync('g', {
      memberId: j.memberId,
      groupInstanceId: 'i1',
      generationId: 1,
      protocolType: null,
      protocolName: null,
      assignments: [{ memberId: j.memberId, assignment: Buffer.from('mine') }],
    });
    const again = await gc.join('g', joinReq({ groupInstanceId: 'i1' }));
    expect(again.errorCode).toBe(0);
    expect(again.memberId).not.toBe(j.memberId);
    expect(again.generationId).toBe(1);
    expect(again.skipAssignment).toBe(true);
    expect(gc.describe('g')?.state).toBe('Stable');
    const s = await gc.sync('g', {
      memberId: again.memberId,
      groupInstanceId: 'i1',
      generationId: 1,
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    expect(s.assignment.toString()).toBe('mine');
    expect(gc.heartbeat('g', j.memberId, 'i1', 1)).toBe(GroupError.FENCED_INSTANCE_ID);
    expect(gc.heartbeat('g', again.memberId, 'i1', 1)).toBe(0);
  });

  it('LeaveGroup removes members (batched, by instance id too) and unknown ones get UNKNOWN_MEMBER_ID', async () => {
    const a = await stableOne();
    const res = gc.leave('g', [
      { memberId: a.id, groupInstanceId: null },
      { memberId: 'ghost', groupInstanceId: null },
      { memberId: '', groupInstanceId: 'nope' },
    ]);
    expect(res).toEqual({
      errorCode: 0,
      members: [0, GroupError.UNKNOWN_MEMBER_ID, GroupError.UNKNOWN_MEMBER_ID],
    });
    // No offsets, no members: the group is gone.
    expect(gc.describe('g')).toBeUndefined();
  });

  it('refuses bad session timeouts, empty group ids and groups past the limits', async () => {
    expect((await gc.join('g', joinReq({ sessionTimeoutMs: 999 }))).errorCode).toBe(
      GroupError.INVALID_SESSION_TIMEOUT,
    );
    expect((await gc.join('g', joinReq({ sessionTimeoutMs: 60_001 }))).errorCode).toBe(
      GroupError.INVALID_SESSION_TIMEOUT,
    );
    expect((await gc.join('', joinReq())).errorCode).toBe(GroupError.INVALID_GROUP_ID);
    expect((await gc.join('g', joinReq({ memberId: 'made-up' }))).errorCode).toBe(
      GroupError.UNKNOWN_MEMBER_ID,
    );
    for (let i = 0; i < LIMITS.groupMembersMax; i++) await gc.join('full', joinReq());
    expect((await gc.join('full', joinReq())).errorCode).toBe(GroupError.GROUP_MAX_SIZE_REACHED);
    const small = (await GroupCoordinator.load(kv as unknown as Kv, { ...LIMITS, groupsMax: 1 })).coordinator;
    expect((await small.join('one', joinReq())).errorCode).toBe(GroupError.MEMBER_ID_REQUIRED);
    expect((await small.join('two', joinReq())).errorCode).toBe(GroupError.POLICY_VIOLATION);
    expect(await small.commit(commitReq({ groupId: 'three' }), 8)).toEqual({
      errorCode: GroupError.POLICY_VIOLATION,
    });
    small.close();
  });

  it('refuses oversized member metadata at JoinGroup, and an oversized assignment at SyncGroup (then rebalances)', async () => {
    const big = [{ name: 'range', metadata: Buffer.alloc(60) }];
    expect((await gc.join('g', joinReq({ protocols: big }))).errorCode).toBe(GroupError.INVALID_REQUEST);
    const { id, join } = await joinNew();
    await vi.advanceTimersByTimeAsync(LIMITS.initialRebalanceDelayMs);
    const j = await join;
    const s = await gc.sync('g', {
      memberId: id,
      groupInstanceId: null,
      generationId: j.generationId,
      protocolType: null,
      protocolName: null,
      assignments: [{ memberId: id, assignment: Buffer.alloc(65) }],
    });
    expect(s.errorCode).toBe(GroupError.INVALID_REQUEST);
    expect(gc.describe('g')?.state).toBe('PreparingRebalance');
    const again = await gc.join('g', joinReq({ memberId: id }));
    expect(again).toMatchObject({ errorCode: 0, generationId: j.generationId + 1 });
  });

  it('simple commits need an empty group; group commits need the member and generation', async () => {
    expect(await gc.commit(commitReq(), 8)).toEqual({ errors: [0] });
    expect(gc.committed('g', 't', 0)).toMatchObject({ offset: 5n, metadata: 'meta' });
    expect(await gc.commit(commitReq({ groupId: 'x', generationId: 3, memberId: 'm' }), 8)).toEqual({
      errorCode: GroupError.ILLEGAL_GENERATION,
    });
    expect(await gc.commit(commitReq({ groupId: 'x', generationId: 3, memberId: 'm' }), 9)).toEqual({
      errorCode: GroupError.GROUP_ID_NOT_FOUND,
    });
    const a = await stableOne('live');
    expect(await gc.commit(commitReq({ groupId: 'live' }), 8)).toEqual({
      errorCode: GroupError.UNKNOWN_MEMBER_ID,
    });
    expect(await gc.commit(commitReq({ groupId: 'live', generationId: 7, memberId: a.id }), 8)).toEqual({
      errorCode: GroupError.ILLEGAL_GENERATION,
    });
    expect(
      await gc.commit(commitReq({ groupId: 'live', generationId: a.generation, memberId: 'other' }), 8),
    ).toEqual({
      errorCode: GroupError.UNKNOWN_MEMBER_ID,
    });
    const ok = await gc.commit(
      commitReq({
        groupId: 'live',
        generationId: a.generation,
        memberId: a.id,
        offsets: [
          { topic: 't', partition: 0, offset: 10n, leaderEpoch: 0, topicId: 'tid', metadata: null },
          { topic: 't', partition: 1, offset: 11n, leaderEpoch: 0, topicId: 'tid', metadata: 'x'.repeat(17) },
        ],
      }),
      8,
    );
    expect(ok).toEqual({ errors: [0, 12] });
    expect(gc.committed('live', 't', 0)?.metadata).toBe('');
    expect(gc.committed('live', 't', 1)).toBeUndefined();
  });

  it('commits are durable before they are answered, survive a reload, and a failed write commits nothing', async () => {
    await gc.commit(
      commitReq({
        offsets: [{ topic: 't', partition: 2, offset: 42n, leaderEpoch: 3, topicId: 'tid', metadata: 'm' }],
      }),
      8,
    );
    kv.failNext = true;
    expect(
      await gc.commit(
        commitReq({
          offsets: [{ topic: 't', partition: 2, offset: 50n, leaderEpoch: 3, topicId: 'tid', metadata: 'm' }],
        }),
        8,
      ),
    ).toEqual({
      errorCode: GroupError.COORDINATOR_NOT_AVAILABLE,
    });
    expect(gc.committed('g', 't', 2)?.offset).toBe(42n);
    const reloaded = (await GroupCoordinator.load(kv as unknown as Kv, LIMITS)).coordinator;
    expect(reloaded.committed('g', 't', 2)).toMatchObject({
      offset: 42n,
      leaderEpoch: 3,
      topicId: 'tid',
      metadata: 'm',
    });
    expect(reloaded.describe('g')?.state).toBe('Empty');
    reloaded.close();
  });

  it('queued commits go down in order, coalesced behind the write in flight', async () => {
    const commits = Array.from({ length: 20 }, (_, i) =>
      gc.commit(
        commitReq({
          offsets: [
            { topic: 't', partition: 0, offset: BigInt(i), leaderEpoch: -1, topicId: 'tid', metadata: '' },
          ],
        }),
        8,
      ),
    );
    await Promise.all(commits);
    expect(gc.committed('g', 't', 0)?.offset).toBe(19n);
    expect(kv.writes).toBeLessThan(20);
    const reloaded = (await GroupCoordinator.load(kv as unknown as Kv, LIMITS)).coordinator;
    expect(reloaded.committed('g', 't', 0)?.offset).toBe(19n);
    reloaded.close();
  });

  it('DeleteGroups: NON_EMPTY_GROUP with members, GROUP_ID_NOT_FOUND when unknown, offsets deleted', async () => {
    const a = await stableOne();
    await gc.commit(commitReq({ generationId: a.generation, memberId: a.id }), 8);
    expect(await gc.delete('g')).toBe(GroupError.NON_EMPTY_GROUP);
    gc.leave('g', [{ memberId: a.id, groupInstanceId: null }]);
    expect(gc.describe('g')?.state).toBe('Empty');
    expect(await gc.delete('g')).toBe(0);
    expect(await gc.delete('g')).toBe(GroupError.GROUP_ID_NOT_FOUND);
    expect(gc.committed('g', 't', 0)).toBeUndefined();
    const reloaded = (await GroupCoordinator.load(kv as unknown as Kv, LIMITS)).coordinator;
    expect(reloaded.list()).toEqual([]);
    reloaded.close();
  });

  it('a commit that lands while DeleteGroups is being written keeps the group', async () => {
    await gc.commit(commitReq(), 8);
    const deleting = gc.delete('g');
    const committing = gc.commit(
      commitReq({
        offsets: [{ topic: 't', partition: 1, offset: 3n, leaderEpoch: -1, topicId: 'tid', metadata: '' }],
      }),
      8,
    );
    expect(await deleting).toBe(0);
    expect(await committing).toEqual({ errors: [0] });
    expect(gc.committed('g', 't', 0)).toBeUndefined();
    expect(gc.committed('g', 't', 1)?.offset).toBe(3n);
    expect(gc.describe('g')?.state).toBe('Empty');
  });

  it('offset retention: an Empty group loses offsets older than retention, counted from when it became Empty', async () => {
    await gc.commit(commitReq({ groupId: 'simple' }), 8);
    const a = await stableOne('live');
    await gc.commit(commitReq({ groupId: 'live', generationId: a.generation, memberId: a.id }), 8);
    // 'live' keeps heartbeating (and so its offsets) while 'simple' ages.
    for (let t = 0; t < 50_000; t += 5000) {
      await vi.advanceTimersByTimeAsync(5000);
      gc.heartbeat('live', a.id, null, a.generation);
    }
    gc.leave('live', [{ memberId: a.id, groupInstanceId: null }]);
    await vi.advanceTimersByTimeAsync(20_000);
    // t=70s: the simple group's offset (t=0) is past retention; 'live' became Empty at t=50s.
    expect(gc.committed('simple', 't', 0)).toBeUndefined();
    expect(gc.describe('simple')).toBeUndefined();
    expect(gc.committed('live', 't', 0)?.offset).toBe(5n);
    await vi.advanceTimersByTimeAsync(50_000);
    expect(gc.committed('live', 't', 0)).toBeUndefined();
    expect(gc.list()).toEqual([]);
    const reloaded = (await GroupCoordinator.load(kv as unknown as Kv, LIMITS)).coordinator;
    expect(reloaded.list()).toEqual([]);
    reloaded.close();
  });

  it('offset retention 0 keeps offsets forever', async () => {
    const keep = (await GroupCoordinator.load(kv as unknown as Kv, { ...LIMITS, offsetsRetentionMs: 0 }))
      .coordinator;
    await keep.commit(commitReq(), 8);
    await vi.advanceTimersByTimeAsync(10 * LIMITS.offsetsRetentionMs);
    expect(await keep.expireOffsets()).toBe(0);
    expect(keep.committed('g', 't', 0)?.offset).toBe(5n);
    keep.close();
  });

  it('close answers waiting joins with NOT_COORDINATOR and stops the timers', async () => {
    const { join } = await joinNew();
    gc.close();
    expect((await join).errorCode).toBe(GroupError.NOT_COORDINATOR);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('selects the protocol every member supports, by preference votes', async () => {
    const a = gc.join(
      'p',
      joinReq({
        requireKnownMemberId: false,
        protocols: [
          { name: 'x', metadata: Buffer.alloc(0) },
          { name: 'y', metadata: Buffer.alloc(0) },
        ],
      }),
    );
    const b = gc.join(
      'p',
      joinReq({ requireKnownMemberId: false, protocols: [{ name: 'y', metadata: Buffer.alloc(0) }] }),
    );
    const c = await gc.join(
      'p',
      joinReq({ requireKnownMemberId: false, protocols: [{ name: 'z', metadata: Buffer.alloc(0) }] }),
    );
    expect(c.errorCode).toBe(GroupError.INCONSISTENT_GROUP_PROTOCOL);
    // b arrived during the initial delay, so it runs once more.
    await vi.advanceTimersByTimeAsync(2 * LIMITS.initialRebalanceDelayMs);
    expect((await a).protocolName).toBe('y');
    expect((await b).protocolName).toBe('y');
  });
});
