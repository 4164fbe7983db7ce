/**
 * Consumer groups end to end against the real broker with kafkajs
 * consumer groups: 3 members on a 3-partition topic, a member leaving,
 * committed offsets across a clean restart and a SIGKILL, offset
 * retention. The protocol's corners, with raw requests built by the
 * generated codec, are in groups-raw.e2e.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { type Consumer, Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { spawnBroker, tempDir } from '../helpers/broker.ts';
import { commitOffsets } from '../helpers/data-groups.ts';
import { ENV, start, stop, until } from '../helpers/kafka-groups.ts';

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
