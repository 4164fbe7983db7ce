/**
 * Consumer groups end to end against the real broker: kafkajs consumer
 * groups (3 members on a 3-partition topic, a member leaving, committed
 * offsets across a clean restart and a SIGKILL), and raw requests built
 * with the generated codec for the protocol's corners (two-step join,
 * generations, session expiry, static membership, deletes, bad timeouts).
 */
import { randomUUID } from 'node:crypto';
import { type Consumer, Kafka, logLevel } from 'kafkajs';
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
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { commitOffsets } from '../helpers/data-groups.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';

const ENV = {
  FERRYMQ_KAFKA__GROUP_INITIAL_REBALANCE_DELAY_MS: '300',
  FERRYMQ_KAFKA__GROUP_MIN_SESSION_TIMEOUT_MS: '500',
  FERRYMQ_KAFKA__GROUP_MAX_SESSION_TIMEOUT_MS: '60000',
};

const E = {
  NONE: 0,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_REQUEST: 42,
  NON_EMPTY_GROUP: 68,
  GROUP_ID_NOT_FOUND: 69,
  MEMBER_ID_REQUIRED: 79,
  FENCED_INSTANCE_ID: 82,
};

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(dataDir?: string): Promise<{ broker: BrokerProcess; addr: string; kafka: Kafka }> {
  const broker = await spawnBroker({ env: ENV, ...(dataDir ? { dataDir } : {}) });
  await broker.ready;
  const addr = broker.listeners().kafka as string;
  const kafka = new Kafka({
    brokers: [addr],
    clientId: 'groups-e2e',
    logLevel: logLevel.NOTHING,
    retry: { retries: 5 },
  });
  return { broker, addr, kafka };
}

async function stop(broker: BrokerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  broker.signal(signal);
  await broker.exited;
}

interface Seen {
  partition: number;
  offset: number;
  value: string;
  by: number;
}

function consumerOf(kafka: Kafka, groupId: string): Consumer {
  return kafka.consumer({
    groupId,
    sessionTimeout: 6000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 100,
    retry: { retries: 5 },
  });
}

describe('kafka consumer groups (kafkajs)', () => {
  it('3 consumers share a 3-partition topic: every record once; a leaver’s partitions move to the others', async () => {
    const { broker, kafka } = await start();
    try {
      const topic = `g3-${randomUUID()}`;
      const groupId = `grp-${randomUUID()}`;
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });

      const seen: Seen[] = [];
      const assigned = new Map<number, number[]>();
      const consumers = [0, 1, 2].map(() => consumerOf(kafka, groupId));
      await Promise.all(
        consumers.map(async (c, i) => {
          c.on(c.events.GROUP_JOIN, (e) => {
            assigned.set(i, [...(e.payload.memberAssignment[topic] ?? [])]);
          });
          await c.connect();
          await c.subscribe({ topic, fromBeginning: true });
          await c.run({
            eachMessage: async ({ partition, message }) => {
              seen.push({ partition, offset: Number(message.offset), value: String(message.value), by: i });
            },
          });
        }),
      );
      // One stable generation with a partition each before producing.
      await until(
        () => assigned.size === 3 && [...assigned.values()].every((p) => p.length === 1),
        'three members with one partition each',
      );
      expect(new Set([...assigned.values()].flat())).toEqual(new Set([0, 1, 2]));

      const producer = kafka.producer();
      await producer.connect();
      const first = Array.from({ length: 300 }, (_, i) => ({ value: `a-${i}`, partition: i % 3 }));
      await producer.send({ topic, messages: first });
      await until(() => seen.length >= 300, '300 records consumed');
      await new Promise((r) => setTimeout(r, 500));
      expect(seen).toHaveLength(300);
      expect(new Set(seen.map((s) => s.value)).size).toBe(300);
      // Each partition was read by exactly the member it was assigned to.
      for (const [member, parts] of assigned) {
        expect(new Set(seen.filter((s) => s.by === member).map((s) => s.partition))).toEqual(new Set(parts));
      }

      // Member 2 leaves: the other two rebalance and take its partition.
      const leaverPartitions = assigned.get(2) ?? [];
      assigned.clear();
      await consumers[2]?.disconnect();
      await until(
        () => assigned.size === 2 && [...assigned.values()].flat().length === 3,
        'two members holding all three partitions',
      );
      expect(new Set([...assigned.values()].flat())).toEqual(new Set([0, 1, 2]));
      const second = Array.from({ length: 90 }, (_, i) => ({ value: `b-${i}`, partition: i % 3 }));
      await producer.send({ topic, messages: second });
      await until(() => seen.length >= 390, '390 records consumed');
      await new Promise((r) => setTimeout(r, 500));
      expect(seen).toHaveLength(390);
      expect(new Set(seen.map((s) => s.value)).size).toBe(390);
      const late = seen.slice(300);
      expect(late.every((s) => s.by !== 2)).toBe(true);
      expect(late.some((s) => leaverPartitions.includes(s.partition))).toBe(true);

      const groups = await admin.describeGroups([groupId]);
      expect(groups.groups[0]?.state).toBe('Stable');
      expect(groups.groups[0]?.members).toHaveLength(2);
      await producer.disconnect();
      await Promise.all(consumers.slice(0, 2).map((c) => c.disconnect()));
      const listed = await admin.listGroups();
      expect(listed.groups.find((g) => g.groupId === groupId)?.protocolType).toBe('consumer');
      await admin.disconnect();
    } finally {
      await stop(broker);
    }
  }, 120_000);

  it('committed offsets survive a clean restart and a SIGKILL; the group resumes with no re-delivery', async () => {
    const dataDir = await tempDir();
    const topic = `gr-${randomUUID()}`;
    const groupId = `grp-${randomUUID()}`;

    /** Produce `values`, consume with the group until `expect` records arrived and their offsets are committed. */
    async function round(
      kafka: Kafka,
      values: string[],
      expected: number,
    ): Promise<{ got: string[]; consumer: Consumer }> {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: values.map((value, i) => ({ value, partition: i % 3 })) });
      await producer.disconnect();
      const got: string[] = [];
      const committed = new Map<number, number>();
      const consumer = consumerOf(kafka, groupId);
      consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
        for (const t of e.payload.topics)
          for (const p of t.partitions) committed.set(Number(p.partition), Number(p.offset));
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          got.push(String(message.value));
        },
      });
      await until(() => got.length >= expected, `${expected} records`);
      // Offsets are committed after each batch; wait until the commit covers everything read.
      const ends = async (): Promise<Map<number, number>> => {
        const admin = kafka.admin();
        await admin.connect();
        const o = await admin.fetchTopicOffsets(topic);
        await admin.disconnect();
        return new Map(o.map((x) => [x.partition, Number(x.offset)]));
      };
      const high = await ends();
      await until(
        () => [...high].every(([p, end]) => end === 0 || committed.get(p) === end),
        'commits up to the end of every partition',
      );
      return { got, consumer };
    }

    let { broker, kafka } = await start(dataDir);
    try {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      await admin.disconnect();

      const r1 = await round(
        kafka,
        Array.from({ length: 60 }, (_, i) => `one-${i}`),
        60,
      );
      expect(new Set(r1.got).size).toBe(60);
      await r1.consumer.disconnect();
      await stop(broker, 'SIGTERM');

      ({ broker, kafka } = await start(dataDir));
      const offsets = await (async () => {
        const a = kafka.admin();
        await a.connect();
        const o = await a.fetchOffsets({ groupId, topics: [topic] });
        await a.disconnect();
        return o[0]?.partitions.map((p) => Number(p.offset)).reduce((x, y) => x + y, 0);
      })();
      expect(offsets).toBe(60);
      const r2 = await round(
        kafka,
        Array.from({ length: 30 }, (_, i) => `two-${i}`),
        30,
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(r2.got.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `two-${i}`).sort());

      // SIGKILL right after the commits were answered: they were fsynced first.
      await stop(broker, 'SIGKILL');
      await r2.consumer.disconnect().catch(() => {});
      ({ broker, kafka } = await start(dataDir));
      const r3 = await round(
        kafka,
        Array.from({ length: 15 }, (_, i) => `three-${i}`),
        15,
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(r3.got.sort()).toEqual(Array.from({ length: 15 }, (_, i) => `three-${i}`).sort());
      await r3.consumer.disconnect();
    } finally {
      await stop(broker);
    }
  }, 120_000);
});

describe('kafka consumer groups: committed offsets and SIGKILL', () => {
  it('a commit answered just before SIGKILL holds; the group re-reads exactly the uncommitted tail', async () => {
    const dataDir = await tempDir();
    const topic = `tail-${randomUUID()}`;
    const groupId = `grp-${randomUUID()}`;
    let { broker, addr, kafka } = await start(dataDir);
    try {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic,
        messages: Array.from({ length: 30 }, (_, i) => ({
          value: `v-${i % 3}-${Math.floor(i / 3)}`,
          partition: i % 3,
        })),
      });
      await producer.disconnect();
      // The group read part of each partition: 4, 6 and 8 records.
      const committedAt = [4n, 6n, 8n];
      expect(await commitOffsets(addr, groupId, topic, committedAt)).toEqual([0, 0, 0]);
      await stop(broker, 'SIGKILL');

      ({ broker, addr, kafka } = await start(dataDir));
      const got: { partition: number; offset: number; value: string }[] = [];
      const consumer = consumerOf(kafka, groupId);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          got.push({ partition, offset: Number(message.offset), value: String(message.value) });
        },
      });
      await until(() => got.length >= 12, 'the 12 uncommitted records');
      await new Promise((r) => setTimeout(r, 500));
      await consumer.disconnect();
      const expected = committedAt.flatMap((from, partition) =>
        Array.from({ length: 10 - Number(from) }, (_, k) => ({
          partition,
          offset: Number(from) + k,
          value: `v-${partition}-${Number(from) + k}`,
        })),
      );
      const byKey = (
        a: { partition: number; offset: number },
        b: { partition: number; offset: number },
      ): number => a.partition - b.partition || a.offset - b.offset;
      expect(got.sort(byKey)).toEqual(expected.sort(byKey));
    } finally {
      await stop(broker);
    }
  }, 60_000);
});

describe('kafka consumer groups: offset retention', () => {
  it('offsets of an empty group expire after kafka.offsets_retention_ms and the group goes', async () => {
    const broker = await spawnBroker({
      env: {
        ...ENV,
        FERRYMQ_KAFKA__OFFSETS_RETENTION_MS: '1500',
        FERRYMQ_KAFKA__OFFSETS_RETENTION_CHECK_MS: '1000',
      },
    });
    try {
      await broker.ready;
      const addr = broker.listeners().kafka as string;
      const kafka = new Kafka({ brokers: [addr], logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      const topic = `ret-${randomUUID()}`;
      const groupId = `grp-${randomUUID()}`;
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] });
      const before = await admin.fetchOffsets({ groupId, topics: [topic] });
      expect(before[0]?.partitions[0]?.offset).toBe('3');
      let gone = false;
      for (let i = 0; i < 40 && !gone; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const o = await admin.fetchOffsets({ groupId, topics: [topic] });
        gone = o[0]?.partitions[0]?.offset === '-1';
      }
      expect(gone).toBe(true);
      expect((await admin.listGroups()).groups.some((g) => g.groupId === groupId)).toBe(false);
      const metrics = await (await fetch(`${broker.adminUrl()}/metrics`)).text();
      expect(metrics).toMatch(/^ferrymq_kafka_expired_offsets_total(?:\{[^}]*\})? [1-9]/m);
      await admin.disconnect();
    } finally {
      await stop(broker);
    }
  }, 60_000);
});

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
    const res = OffsetFetch.decodeOffsetFetchResponse(
      7,
      await raw.request(
        ApiKey.OffsetFetch,
        7,
        OffsetFetch.encodeOffsetFetchRequest(7, {
          ...OffsetFetch.defaultOffsetFetchRequest(),
          groupId,
          topics: [{ ...OffsetFetch.defaultOffsetFetchRequestTopic(), name: topic, partitionIndexes: [0] }],
        }),
      ),
    );
    return res.topics[0]?.partitions[0]?.committedOffset;
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
    const committed = OffsetCommit.decodeOffsetCommitResponse(
      8,
      await raw.request(
        ApiKey.OffsetCommit,
        8,
        OffsetCommit.encodeOffsetCommitRequest(8, {
          ...OffsetCommit.defaultOffsetCommitRequest(),
          groupId: g,
          generationIdOrMemberEpoch: j.generationId,
          memberId: j.memberId,
          topics: [
            {
              ...OffsetCommit.defaultOffsetCommitRequestTopic(),
              name: topic,
              partitions: [
                {
                  ...OffsetCommit.defaultOffsetCommitRequestPartition(),
                  partitionIndex: 0,
                  committedOffset: 4n,
                },
              ],
            },
          ],
        }),
      ),
    );
    expect(committed.topics[0]?.partitions[0]?.errorCode).toBe(0);
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
    const commit = OffsetCommit.decodeOffsetCommitResponse(
      8,
      await raw.request(
        ApiKey.OffsetCommit,
        8,
        OffsetCommit.encodeOffsetCommitRequest(8, {
          ...OffsetCommit.defaultOffsetCommitRequest(),
          groupId: g,
          topics: [
            {
              ...OffsetCommit.defaultOffsetCommitRequestTopic(),
              name: topic,
              partitions: [
                {
                  ...OffsetCommit.defaultOffsetCommitRequestPartition(),
                  partitionIndex: 0,
                  committedOffset: 12n,
                },
              ],
            },
          ],
        }),
      ),
    );
    expect(commit.topics[0]?.partitions[0]?.errorCode).toBe(0);
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
