/**
 * Consumer groups end to end against the real broker, with raw requests
 * built by the generated codec for the protocol's corners (two-step join,
 * generations, session expiry, static membership, deletes, bad timeouts,
 * offset commit/fetch, metrics). kafkajs groups are in groups.e2e.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKey,
  DeleteGroups,
  DescribeGroups,
  FindCoordinator,
  Heartbeat,
  JoinGroup,
  LeaveGroup,
  ListGroups,
  OffsetCommit,
  OffsetFetch,
  SyncGroup,
} from '../../kafka/protocol/generated/index.ts';
import type { BrokerProcess } from '../helpers/broker.ts';
import { commitOffsetsOn, fetchOffsetsOn } from '../helpers/data-groups.ts';
import { E, start, stop } from '../helpers/kafka-groups.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';

describe('kafka consumer groups (raw codec)', () => {
  let broker: BrokerProcess;
  let addr: string;
  const conns: RawKafka[] = [];

  beforeAll(async () => {
    ({ broker, addr } = await start());
  });

  afterAll(async () => {
    for (const c of conns) c.close();
    await stop(broker);
  });

  async function conn(): Promise<RawKafka> {
    const c = await RawKafka.open(addr);
    conns.push(c);
    return c;
  }

  const PROTOCOLS = [{ name: 'range', metadata: Buffer.from([0, 1, 2]) }];

  async function join(
    raw: RawKafka,
    groupId: string,
    over: Partial<JoinGroup.JoinGroupRequest> = {},
    version = 9,
  ): Promise<JoinGroup.JoinGroupResponse> {
    const req = {
      ...JoinGroup.defaultJoinGroupRequest(),
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 5_000,
      protocolType: 'consumer',
      protocols: PROTOCOLS,
      ...over,
    };
    const r = await raw.request(ApiKey.JoinGroup, version, JoinGroup.encodeJoinGroupRequest(version, req));
    return JoinGroup.decodeJoinGroupResponse(version, r);
  }

  /** The two-step join of a dynamic member. */
  async function joinTwoStep(
    raw: RawKafka,
    groupId: string,
    over: Partial<JoinGroup.JoinGroupRequest> = {},
  ): Promise<JoinGroup.JoinGroupResponse> {
    const first = await join(raw, groupId, over);
    expect(first.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    return join(raw, groupId, { ...over, memberId: first.memberId });
  }

  async function sync(
    raw: RawKafka,
    groupId: string,
    memberId: string,
    generationId: number,
    assignments: { memberId: string; assignment: Buffer }[] = [],
    groupInstanceId: string | null = null,
  ): Promise<SyncGroup.SyncGroupResponse> {
    const req = {
      ...SyncGroup.defaultSyncGroupRequest(),
      groupId,
      memberId,
      generationId,
      groupInstanceId,
      assignments,
    };
    const r = await raw.request(ApiKey.SyncGroup, 5, SyncGroup.encodeSyncGroupRequest(5, req));
    return SyncGroup.decodeSyncGroupResponse(5, r);
  }

  async function heartbeat(
    raw: RawKafka,
    groupId: string,
    memberId: string,
    generationId: number,
    groupInstanceId: string | null = null,
  ): Promise<number> {
    const req = { ...Heartbeat.defaultHeartbeatRequest(), groupId, memberId, generationId, groupInstanceId };
    const r = await raw.request(ApiKey.Heartbeat, 4, Heartbeat.encodeHeartbeatRequest(4, req));
    return Heartbeat.decodeHeartbeatResponse(4, r).errorCode;
  }

  async function describe1(raw: RawKafka, groupId: string): Promise<DescribeGroups.DescribedGroup> {
    const r = await raw.request(
      ApiKey.DescribeGroups,
      6,
      DescribeGroups.encodeDescribeGroupsRequest(6, {
        ...DescribeGroups.defaultDescribeGroupsRequest(),
        groups: [groupId],
      }),
    );
    return DescribeGroups.decodeDescribeGroupsResponse(6, r).groups[0] as DescribeGroups.DescribedGroup;
  }

  async function createTopic(partitions: number): Promise<string> {
    const topic = `t-${randomUUID()}`;
    const admin = new Kafka({ brokers: [addr], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
    await admin.disconnect();
    return topic;
  }

  /** The committed offset of partition 0 (OffsetFetch v7, one group). */
  async function fetchOne(raw: RawKafka, groupId: string, topic: string): Promise<bigint | undefined> {
    return (await fetchOffsetsOn(raw, groupId, topic, 1))[0];
  }

  it('FindCoordinator: this node for groups (single and batched); transactions are refused', async () => {
    const raw = await conn();
    const v3 = FindCoordinator.decodeFindCoordinatorResponse(
      3,
      await raw.request(
        ApiKey.FindCoordinator,
        3,
        FindCoordinator.encodeFindCoordinatorRequest(3, {
          ...FindCoordinator.defaultFindCoordinatorRequest(),
          key: 'g',
        }),
      ),
    );
    expect(v3.errorCode).toBe(0);
    expect(`${v3.host}:${v3.port}`).toBe(addr);
    const v4 = FindCoordinator.decodeFindCoordinatorResponse(
      4,
      await raw.request(
        ApiKey.FindCoordinator,
        4,
        FindCoordinator.encodeFindCoordinatorRequest(4, {
          ...FindCoordinator.defaultFindCoordinatorRequest(),
          coordinatorKeys: ['a', 'b'],
        }),
      ),
    );
    expect(v4.coordinators.map((c) => [c.key, c.errorCode, c.port])).toEqual([
      ['a', 0, v3.port],
      ['b', 0, v3.port],
    ]);
    const txn = FindCoordinator.decodeFindCoordinatorResponse(
      4,
      await raw.request(
        ApiKey.FindCoordinator,
        4,
        FindCoordinator.encodeFindCoordinatorRequest(4, {
          ...FindCoordinator.defaultFindCoordinatorRequest(),
          keyType: 1,
          coordinatorKeys: ['tx'],
        }),
      ),
    );
    expect(txn.coordinators[0]?.errorCode).toBe(E.INVALID_REQUEST);
  });

  it('two-step join, SyncGroup, then ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID on heartbeats', async () => {
    const raw = await conn();
    const g = `raw-${randomUUID()}`;
    const j = await joinTwoStep(raw, g);
    expect(j.errorCode).toBe(0);
    expect(j.generationId).toBe(1);
    expect(j.leader).toBe(j.memberId);
    expect(j.protocolType).toBe('consumer');
    expect(j.protocolName).toBe('range');
    expect(j.members.map((m) => [m.memberId, [...m.metadata]])).toEqual([[j.memberId, [0, 1, 2]]]);
    const s = await sync(raw, g, j.memberId, 1, [{ memberId: j.memberId, assignment: Buffer.from('mine') }]);
    expect(s.errorCode).toBe(0);
    expect(s.assignment.toString()).toBe('mine');
    expect(await heartbeat(raw, g, j.memberId, 1)).toBe(E.NONE);
    expect(await heartbeat(raw, g, j.memberId, 2)).toBe(E.ILLEGAL_GENERATION);
    expect(await heartbeat(raw, g, 'who', 1)).toBe(E.UNKNOWN_MEMBER_ID);
    const d = await describe1(raw, g);
    expect(d.groupState).toBe('Stable');
    expect(d.protocolData).toBe('range');
    expect(d.members[0]?.clientId).toBe('raw-test');
    expect(d.members[0]?.clientHost).toBe('/127.0.0.1');
    expect(d.members[0]?.memberAssignment.toString()).toBe('mine');
  });

  it('a member that stops heartbeating is removed after its session timeout; the other gets REBALANCE_IN_PROGRESS', async () => {
    const a = await conn();
    const b = await conn();
    const g = `raw-${randomUUID()}`;
    const [ja, jb] = await Promise.all([
      joinTwoStep(a, g, { sessionTimeoutMs: 10_000 }),
      joinTwoStep(b, g, { sessionTimeoutMs: 800 }),
    ]);
    expect(ja.generationId).toBe(1);
    expect(jb.generationId).toBe(1);
    const leader = ja.leader === ja.memberId ? a : b;
    const leaderJ = ja.leader === ja.memberId ? ja : jb;
    const other = leader === a ? b : a;
    const otherJ = leader === a ? jb : ja;
    const [sl, so] = await Promise.all([
      sync(leader, g, leaderJ.memberId, 1, [
        { memberId: ja.memberId, assignment: Buffer.from('A') },
        { memberId: jb.memberId, assignment: Buffer.from('B') },
      ]),
      sync(other, g, otherJ.memberId, 1),
    ]);
    expect([sl.errorCode, so.errorCode]).toEqual([0, 0]);
    // Only a heartbeats; b's 800 ms session runs out.
    let code = E.NONE;
    for (let i = 0; i < 30 && code === E.NONE; i++) {
      await new Promise((r) => setTimeout(r, 200));
      code = await heartbeat(a, g, ja.memberId, 1);
    }
    expect(code).toBe(E.REBALANCE_IN_PROGRESS);
    expect(await heartbeat(b, g, jb.memberId, 1)).toBe(E.UNKNOWN_MEMBER_ID);
    const again = await join(a, g, { memberId: ja.memberId });
    expect(again.generationId).toBe(2);
    expect(again.members.map((m) => m.memberId)).toEqual([ja.memberId]);
  });

  it('static member: a restart gets its old assignment with no rebalance; the old id is fenced', async () => {
    const raw = await conn();
    const g = `raw-${randomUUID()}`;
    const j = await join(raw, g, { groupInstanceId: 'inst-1' });
    expect(j.errorCode).toBe(0);
    expect(j.generationId).toBe(1);
    await sync(raw, g, j.memberId, 1, [{ memberId: j.memberId, assignment: Buffer.from('p0,p1') }], 'inst-1');
    const restarted = await conn();
    const j2 = await join(restarted, g, { groupInstanceId: 'inst-1' });
    expect(j2.errorCode).toBe(0);
    expect(j2.memberId).not.toBe(j.memberId);
    expect(j2.generationId).toBe(1);
    expect(j2.skipAssignment).toBe(true);
    const s2 = await sync(restarted, g, j2.memberId, 1, [], 'inst-1');
    expect(s2.assignment.toString()).toBe('p0,p1');
    expect((await describe1(raw, g)).groupState).toBe('Stable');
    expect(await heartbeat(raw, g, j.memberId, 1, 'inst-1')).toBe(E.FENCED_INSTANCE_ID);
    expect(await heartbeat(restarted, g, j2.memberId, 1, 'inst-1')).toBe(E.NONE);
    // LeaveGroup v3+ by instance id (as the admin client removes static members).
    const leave = LeaveGroup.decodeLeaveGroupResponse(
      5,
      await raw.request(
        ApiKey.LeaveGroup,
        5,
        LeaveGroup.encodeLeaveGroupRequest(5, {
          ...LeaveGroup.defaultLeaveGroupRequest(),
          groupId: g,
          members: [
            { ...LeaveGroup.defaultMemberIdentity(), memberId: '', groupInstanceId: 'inst-1' },
            { ...LeaveGroup.defaultMemberIdentity(), memberId: 'ghost', groupInstanceId: null },
          ],
        }),
      ),
    );
    expect(leave.errorCode).toBe(0);
    expect(leave.members.map((m) => m.errorCode)).toEqual([0, E.UNKNOWN_MEMBER_ID]);
  });

  it('bad session timeouts get INVALID_SESSION_TIMEOUT; DeleteGroups refuses a group with members', async () => {
    const raw = await conn();
    const g = `raw-${randomUUID()}`;
    expect((await join(raw, g, { sessionTimeoutMs: 100 })).errorCode).toBe(E.INVALID_SESSION_TIMEOUT);
    expect((await join(raw, g, { sessionTimeoutMs: 60_001 })).errorCode).toBe(E.INVALID_SESSION_TIMEOUT);
    const j = await joinTwoStep(raw, g);
    await sync(raw, g, j.memberId, j.generationId, [{ memberId: j.memberId, assignment: Buffer.alloc(0) }]);
    const topic = await createTopic(1);
    expect(await commitOffsetsOn(raw, g, topic, [4n], j)).toEqual([0]);
    expect(await fetchOne(raw, g, topic)).toBe(4n);
    const del = async (names: string[]): Promise<number[]> =>
      DeleteGroups.decodeDeleteGroupsResponse(
        2,
        await raw.request(
          ApiKey.DeleteGroups,
          2,
          DeleteGroups.encodeDeleteGroupsRequest(2, {
            ...DeleteGroups.defaultDeleteGroupsRequest(),
            groupsNames: names,
          }),
        ),
      ).results.map((x) => x.errorCode);
    expect(await del([g, `missing-${randomUUID()}`])).toEqual([E.NON_EMPTY_GROUP, E.GROUP_ID_NOT_FOUND]);
    const left = LeaveGroup.decodeLeaveGroupResponse(
      2,
      await raw.request(
        ApiKey.LeaveGroup,
        2,
        LeaveGroup.encodeLeaveGroupRequest(2, {
          ...LeaveGroup.defaultLeaveGroupRequest(),
          groupId: g,
          memberId: j.memberId,
        }),
      ),
    );
    expect(left.errorCode).toBe(0);
    // Empty but holding a committed offset: deletable, and the offset goes with it.
    expect((await describe1(raw, g)).groupState).toBe('Empty');
    expect(await del([g])).toEqual([0]);
    expect((await describe1(raw, g)).errorCode).toBe(E.GROUP_ID_NOT_FOUND);
    expect(await fetchOne(raw, g, topic)).toBe(-1n);
  });

  it('OffsetCommit / OffsetFetch: simple commits, unknown partitions, v8 multi-group fetch, ListGroups filters', async () => {
    const raw = await conn();
    const topic = await createTopic(2);
    const g1 = `s1-${randomUUID()}`;
    const g2 = `s2-${randomUUID()}`;
    const commit = async (
      groupId: string,
      partitions: [number, bigint, string | null][],
    ): Promise<number[]> => {
      const res = OffsetCommit.decodeOffsetCommitResponse(
        9,
        await raw.request(
          ApiKey.OffsetCommit,
          9,
          OffsetCommit.encodeOffsetCommitRequest(9, {
            ...OffsetCommit.defaultOffsetCommitRequest(),
            groupId,
            generationIdOrMemberEpoch: -1,
            topics: [
              {
                ...OffsetCommit.defaultOffsetCommitRequestTopic(),
                name: topic,
                partitions: partitions.map(([partitionIndex, committedOffset, committedMetadata]) => ({
                  ...OffsetCommit.defaultOffsetCommitRequestPartition(),
                  partitionIndex,
                  committedOffset,
                  committedMetadata,
                })),
              },
            ],
          }),
        ),
      );
      return res.topics[0]?.partitions.map((p) => p.errorCode) ?? [];
    };
    expect(
      await commit(g1, [
        [0, 7n, 'hello'],
        [1, 9n, null],
        [5, 1n, null],
      ]),
    ).toEqual([0, 0, 3]);
    expect(await commit(g2, [[1, 3n, 'x'.repeat(5000)]])).toEqual([12]);
    expect(await commit(g2, [[1, 3n, '']])).toEqual([0]);

    const fetched = OffsetFetch.decodeOffsetFetchResponse(
      8,
      await raw.request(
        ApiKey.OffsetFetch,
        8,
        OffsetFetch.encodeOffsetFetchRequest(8, {
          ...OffsetFetch.defaultOffsetFetchRequest(),
          groups: [
            { ...OffsetFetch.defaultOffsetFetchRequestGroup(), groupId: g1, topics: null },
            {
              ...OffsetFetch.defaultOffsetFetchRequestGroup(),
              groupId: g2,
              topics: [
                { ...OffsetFetch.defaultOffsetFetchRequestTopics(), name: topic, partitionIndexes: [0, 1] },
              ],
            },
          ],
        }),
      ),
    );
    const view = fetched.groups.map((g) => [
      g.groupId,
      g.errorCode,
      g.topics.flatMap((t) =>
        t.partitions.map((p) => [t.name, p.partitionIndex, p.committedOffset, p.metadata]),
      ),
    ]);
    expect(view).toEqual([
      [
        g1,
        0,
        [
          [topic, 0, 7n, 'hello'],
          [topic, 1, 9n, ''],
        ],
      ],
      [
        g2,
        0,
        [
          [topic, 0, -1n, ''],
          [topic, 1, 3n, ''],
        ],
      ],
    ]);

    const listed = ListGroups.decodeListGroupsResponse(
      5,
      await raw.request(
        ApiKey.ListGroups,
        5,
        ListGroups.encodeListGroupsRequest(5, {
          ...ListGroups.defaultListGroupsRequest(),
          statesFilter: ['empty'],
        }),
      ),
    );
    const mine = listed.groups.filter((g) => g.groupId === g1 || g.groupId === g2);
    expect(mine.map((g) => [g.groupState, g.groupType]).sort()).toEqual([
      ['Empty', 'classic'],
      ['Empty', 'classic'],
    ]);
    const stableOnly = ListGroups.decodeListGroupsResponse(
      5,
      await raw.request(
        ApiKey.ListGroups,
        5,
        ListGroups.encodeListGroupsRequest(5, {
          ...ListGroups.defaultListGroupsRequest(),
          statesFilter: ['Stable'],
        }),
      ),
    );
    expect(stableOnly.groups.some((g) => g.groupId === g1)).toBe(false);
  });

  it('an offset committed to a deleted topic does not apply to a new topic of that name', async () => {
    const raw = await conn();
    const topic = await createTopic(1);
    const g = `del-${randomUUID()}`;
    expect(await commitOffsetsOn(raw, g, topic, [12n])).toEqual([0]);
    expect(await fetchOne(raw, g, topic)).toBe(12n);
    const admin = new Kafka({ brokers: [addr], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] });
    expect(await fetchOne(raw, g, topic)).toBe(-1n);
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();
    expect(await fetchOne(raw, g, topic)).toBe(-1n);
  });

  it('exposes the group metrics on /metrics', async () => {
    const text = await (await fetch(`${broker.adminUrl()}/metrics`)).text();
    const value = (name: string): number => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
      if (!m) throw new Error(`${name} missing from /metrics`);
      return Number(m[1]);
    };
    // The tests above left groups with offsets and with members, and rebalanced several.
    expect(value('ferrymq_kafka_groups')).toBeGreaterThan(0);
    expect(value('ferrymq_kafka_group_members')).toBeGreaterThan(0);
    expect(value('ferrymq_kafka_committed_offsets')).toBeGreaterThan(0);
    expect(value('ferrymq_kafka_group_rebalances_total')).toBeGreaterThan(2);
    expect(text).toContain('# TYPE ferrymq_kafka_group_refused_total counter');
  });
});
