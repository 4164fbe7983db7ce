/**
 * Consumer groups with clients no one here wrote, against FerryMQ's group
 * coordinator: confluent-kafka 2.16.1, kafka-python 3.0.12, the Java
 * client 4.3.1 and @platformatic/kafka 2.12.1 subscribe, read part of a
 * topic, commit, and a later member of the same group resumes from the
 * committed offset (also across client libraries, and across a broker
 * restart on the same data dir); members of all three libraries share one
 * group at once; the Java console consumer 4.3.1 reads with --group and
 * kafka-consumer-groups 4.3.1 lists the groups and describes the offsets
 * and lag it committed.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey, DescribeGroups } from '../../../kafka/protocol/generated/index.ts';
import { type BrokerProcess, spawnBroker } from '../../helpers/broker.ts';
import {
  type ConsumeResult,
  type DriverStep,
  javaKafka,
  kafkaLibs,
  kafkaTool,
  kcatProduce,
  ok,
  type PyClient,
  pyKafka,
  sampleMessages,
} from '../../helpers/kafka-clients.ts';
import { RawKafka } from '../../helpers/raw-kafka.ts';

const CONSOLE_CONSUMER = 'org.apache.kafka.tools.consumer.ConsoleConsumer';
const CONSUMER_GROUPS = 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand';

/** Produce 10, read 6 and commit, then resume: a new member reads exactly the other 4. */
function subscribeCommitResume(topic: string, group: string): DriverStep[] {
  return [
    { op: 'produce', topic, compression: 'zstd', messages: sampleMessages(topic, 10) },
    { op: 'consume', topic, group, count: 6, commit: true },
    { op: 'consume', topic, group, count: 4, commit: true },
  ];
}

function checkResume(results: unknown[]): void {
  const first = results[1] as ConsumeResult;
  const second = results[2] as ConsumeResult;
  expect(first.messages.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(first.committed).toEqual({ '0': 6 });
  expect(second.messages.map((m) => m.offset)).toEqual([6, 7, 8, 9]);
  expect(second.committed).toEqual({ '0': 10 });
}

// A group's first join waits for more members (Kafka's default: 3 s); every join here is alone.
const BROKER_ENV = { FERRYMQ_KAFKA__GROUP_INITIAL_REBALANCE_DELAY_MS: '0' };

// JVM start-ups take seconds each on a loaded two-core machine.
/** Poll DescribeGroups until the group is Stable with `members` members; its state, protocol and size. */
async function groupSettled(
  addr: string,
  group: string,
  members: number,
): Promise<{ state: string; protocol: string; members: number }> {
  const raw = await RawKafka.open(addr);
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await raw.request(
        ApiKey.DescribeGroups,
        5,
        DescribeGroups.encodeDescribeGroupsRequest(5, {
          ...DescribeGroups.defaultDescribeGroupsRequest(),
          groups: [group],
        }),
      );
      const g = DescribeGroups.decodeDescribeGroupsResponse(5, r).groups[0];
      const seen = {
        state: g?.groupState ?? '',
        protocol: g?.protocolData ?? '',
        members: g?.members.length ?? 0,
      };
      if ((seen.state === 'Stable' && seen.members === members) || Date.now() > deadline) return seen;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    raw.close();
  }
}

describe('consumer groups: subscribe, commit, resume; console consumer and kafka-consumer-groups', {
  timeout: 150_000,
}, () => {
  let broker: BrokerProcess;
  let addr: string;
  const run = randomUUID().slice(0, 8);

  beforeAll(async () => {
    kafkaLibs();
    broker = await spawnBroker({ env: BROKER_ENV });
    await broker.ready;
    addr = broker.listeners().kafka as string;
  });

  afterAll(async () => {
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it.each<PyClient>(['confluent', 'kafka-python'])('%s subscribes, commits and resumes', async (client) => {
    const topic = `grp-${client}-${run}`;
    checkResume(await pyKafka(client, addr, subscribeCommitResume(topic, `g-${client}-${run}`), 90_000));
  });

  it('the Java client subscribes, commits and resumes', async () => {
    checkResume(await javaKafka(addr, subscribeCommitResume(`grp-java-${run}`, `g-java-${run}`)));
  });

  it('@platformatic/kafka subscribes, commits and resumes', async () => {
    const topic = `grp-plt-${run}`;
    const group = `g-plt-${run}`;
    const messages = sampleMessages(topic, 10);
    const producer = new Producer({
      clientId: 'ferrymq-groups',
      bootstrapBrokers: [addr],
      serializers: stringSerializers,
      autocreateTopics: true,
      compression: 'snappy',
    });
    try {
      await producer.send({
        acks: -1,
        messages: messages.map((m) => ({
          topic,
          ...(m.key === null ? {} : { key: m.key }),
          ...(m.value === null ? {} : { value: m.value }),
          headers: new Map(Object.entries(m.headers ?? {})),
        })),
      });
    } finally {
      await producer.close();
    }
    /** A new member reads `count` records from the committed position, commits the last, and leaves. */
    async function take(count: number): Promise<number[]> {
      const consumer = new Consumer({
        clientId: 'ferrymq-groups',
        groupId: group,
        bootstrapBrokers: [addr],
        deserializers: stringDeserializers,
        autocommit: false,
      });
      const offsets: number[] = [];
      try {
        const stream = await consumer.consume({
          topics: [topic],
          mode: 'committed',
          fallbackMode: 'earliest',
          sessionTimeout: 10_000,
          heartbeatInterval: 1_000,
        });
        for await (const m of stream) {
          offsets.push(Number(m.offset));
          if (offsets.length === count) {
            await m.commit();
            break;
          }
        }
        await stream.close();
      } finally {
        await consumer.close();
      }
      return offsets;
    }
    expect(await take(6)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await take(4)).toEqual([6, 7, 8, 9]);
  });

  it('a group committed by confluent-kafka resumes in kafka-python', async () => {
    const topic = `grp-handover-${run}`;
    const group = `g-handover-${run}`;
    const [, first] = (await pyKafka('confluent', addr, [
      { op: 'produce', topic, compression: 'gzip', messages: sampleMessages(topic, 8) },
      { op: 'consume', topic, group, count: 5, commit: true },
    ])) as [unknown, ConsumeResult];
    expect(first.committed).toEqual({ '0': 5 });
    const [second] = (await pyKafka('kafka-python', addr, [
      { op: 'consume', topic, group, count: 3, commit: true },
    ])) as [ConsumeResult];
    expect(second.messages.map((m) => m.offset)).toEqual([5, 6, 7]);
    expect(second.committed).toEqual({ '0': 8 });
  });

  it('the console consumer reads with --group; kafka-consumer-groups lists it and describes its offsets', async () => {
    const topic = `grp-console-${run}`;
    const group = `g-console-${run}`;
    const messages = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: `console ${i}` }));
    await kcatProduce(addr, topic, 'snappy', messages);
    const r = ok(
      await kafkaTool(CONSOLE_CONSUMER, [
        '--bootstrap-server',
        addr,
        '--topic',
        topic,
        '--group',
        group,
        '--from-beginning',
        '--max-messages',
        String(messages.length),
        '--timeout-ms',
        '30000',
        '--formatter-property',
        'print.key=true',
      ]),
      'console consumer --group',
    );
    expect(r.stdout.split('\n').filter((l) => l.length > 0)).toEqual(
      messages.map((m) => `${m.key}\t${m.value}`),
    );

    const list = ok(await kafkaTool(CONSUMER_GROUPS, ['--bootstrap-server', addr, '--list']), '--list');
    expect(list.stdout.split('\n')).toContain(group);

    const described = ok(
      await kafkaTool(CONSUMER_GROUPS, ['--bootstrap-server', addr, '--describe', '--group', group]),
      '--describe',
    );
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    const row = described.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((cols) => cols[0] === group && cols[1] === topic);
    expect(row, described.stdout).toBeDefined();
    expect(row?.slice(2, 6)).toEqual(['0', '12', '12', '0']);
  });

  it('confluent-kafka, kafka-python and Java members share one group: a partition each, every record once', async () => {
    const topic = `grp-mixed-${run}`;
    const group = `g-mixed-${run}`;
    const [created] = await pyKafka('confluent', addr, [
      { op: 'create_topics', topics: [{ name: topic, partitions: 3 }] },
    ]);
    expect(created).toEqual({ [topic]: null });
    // Each member ends once it got records and then none for 3 s (or after 60 s).
    const read = { op: 'consume', topic, group, count: 1_000, commit: true };
    const members = [
      pyKafka('confluent', addr, [{ ...read, timeout_s: 60, idle_s: 3 }], 90_000),
      pyKafka('kafka-python', addr, [{ ...read, timeout_s: 60, idle_s: 3 }], 90_000),
      javaKafka(addr, [{ ...read, timeoutMs: 60_000, idleMs: 3_000 }], 90_000),
    ];
    const state = await groupSettled(addr, group, 3);
    // The libraries' default assignor lists meet in the range assignor.
    expect(state).toEqual({ state: 'Stable', protocol: 'range', members: 3 });
    const sent = Array.from({ length: 30 }, (_, i) => ({
      key: `mixed-${i}`,
      value: `record ${i}`,
      partition: i % 3,
    }));
    await pyKafka('confluent', addr, [{ op: 'produce', topic, compression: 'zstd', messages: sent }]);
    const results = (await Promise.all(members)).map((r) => r[0] as ConsumeResult);
    const partitionsPerMember = results.map((r) => [...new Set(r.messages.map((m) => m.partition))]);
    expect(partitionsPerMember.flat().sort()).toEqual([0, 1, 2]);
    const all = results.flatMap((r) => r.messages.map((m) => m.key)).sort();
    expect(all).toEqual(sent.map((m) => m.key).sort());
    for (const [i, r] of results.entries()) {
      const p = partitionsPerMember[i]?.[0] as number;
      expect(r.committed).toEqual({ [String(p)]: 10 });
    }
  });

  it('offsets committed by confluent-kafka survive a broker restart; kafka-python resumes there', async () => {
    const topic = `grp-restart-${run}`;
    const group = `g-restart-${run}`;
    const [, first] = (await pyKafka('confluent', addr, [
      { op: 'produce', topic, compression: 'lz4', messages: sampleMessages(topic, 9) },
      { op: 'consume', topic, group, count: 4, commit: true },
    ])) as [unknown, ConsumeResult];
    expect(first.committed).toEqual({ '0': 4 });
    broker.signal('SIGTERM');
    expect((await broker.exited).code).toBe(0);
    broker = await spawnBroker({ dataDir: broker.dataDir, env: BROKER_ENV });
    await broker.ready;
    addr = broker.listeners().kafka as string;
    const [second] = (await pyKafka('kafka-python', addr, [
      { op: 'consume', topic, group, count: 5, commit: true },
    ])) as [ConsumeResult];
    expect(second.messages.map((m) => m.offset)).toEqual([4, 5, 6, 7, 8]);
    expect(second.committed).toEqual({ '0': 9 });
  });
});
