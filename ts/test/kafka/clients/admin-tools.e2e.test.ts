/**
 * Topic administration with tools no one here wrote, against FerryMQ's
 * admin APIs: Apache Kafka's kafka-topics 4.3.1 (TopicCommand: --create,
 * --describe, --alter --partitions, --list, --delete), kafka-configs
 * (ConfigCommand), kafka-delete-records, kafka-get-offsets (GetOffsetShell),
 * kafka-consumer-groups --reset-offsets / --delete, and confluent-kafka
 * 2.16.1's AdminClient (create, describe, delete, with per-topic errors).
 * A partition added by --alter takes records like any other.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker, tempDir } from '../../helpers/broker.ts';
import { type ConsumeResult, kafkaLibs, kafkaTool, ok, pyKafka } from '../../helpers/kafka-clients.ts';

const TOPICS = 'org.apache.kafka.tools.TopicCommand';
const CONFIGS = 'kafka.admin.ConfigCommand';
const DELETE_RECORDS = 'org.apache.kafka.tools.DeleteRecordsCommand';
const GET_OFFSETS = 'org.apache.kafka.tools.GetOffsetShell';
const GROUPS = 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand';

// JVM start-ups take seconds each on a loaded two-core machine.
describe('admin tools: kafka-topics and confluent-kafka AdminClient', { timeout: 150_000 }, () => {
  let broker: BrokerProcess;
  let addr: string;
  const run = randomUUID().slice(0, 8);

  beforeAll(async () => {
    kafkaLibs();
    // Nothing is created behind the tools' backs.
    broker = await spawnBroker({ env: { FERRYMQ_KAFKA__AUTO_CREATE_TOPICS: 'false' } });
    await broker.ready;
    addr = broker.listeners().kafka as string;
  });

  afterAll(async () => {
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  const topics = (...args: string[]) =>
    kafkaTool(TOPICS, ['--bootstrap-server', addr, ...args]).then((r) =>
      ok(r, `kafka-topics ${args.join(' ')}`),
    );

  /** Partition numbers of the `Partition:` lines of a --describe. */
  function partitionsOf(describeOut: string): number[] {
    return [...describeOut.matchAll(/^\s*Topic: \S+\s+Partition: (\d+)\s+Leader: 1\s/gm)].map((m) =>
      Number(m[1]),
    );
  }

  it('kafka-topics creates, describes, adds partitions, lists and deletes a topic', async () => {
    const topic = `adm-tool-${run}`;
    expect(
      (await topics('--create', '--topic', topic, '--partitions', '3', '--replication-factor', '1')).stdout,
    ).toContain(`Created topic ${topic}.`);
    const created = await topics('--describe', '--topic', topic);
    expect(created.stdout).toMatch(
      new RegExp(`Topic: ${topic}\\s+TopicId: \\S+\\s+PartitionCount: 3\\s+ReplicationFactor: 1`),
    );
    expect(partitionsOf(created.stdout)).toEqual([0, 1, 2]);

    await topics('--alter', '--topic', topic, '--partitions', '5');
    const altered = await topics('--describe', '--topic', topic);
    expect(altered.stdout).toContain('PartitionCount: 5');
    expect(partitionsOf(altered.stdout)).toEqual([0, 1, 2, 3, 4]);

    // The new partition takes records: confluent-kafka writes to it, kafka-python reads them from it.
    await pyKafka('confluent', addr, [
      {
        op: 'produce',
        topic,
        compression: 'lz4',
        messages: [{ key: 'new', value: 'in partition 4', headers: { p: '4' }, partition: 4 }],
      },
    ]);
    const [read] = (await pyKafka('kafka-python', addr, [{ op: 'consume', topic, count: 1 }])) as [
      ConsumeResult,
    ];
    expect(read.messages).toEqual([
      { partition: 4, offset: 0, key: 'new', value: 'in partition 4', headers: [['p', '4']] },
    ]);

    expect((await topics('--list')).stdout.split('\n')).toContain(topic);
    await topics('--delete', '--topic', topic);
    expect((await topics('--list')).stdout.split('\n')).not.toContain(topic);
    const gone = await kafkaTool(TOPICS, ['--bootstrap-server', addr, '--describe', '--topic', topic]);
    expect(gone.code).not.toBe(0);
    expect(gone.stdout + gone.stderr).toContain(`Topic '${topic}' does not exist`);
  });

  it('kafka-configs, kafka-delete-records, kafka-get-offsets and kafka-consumer-groups --reset-offsets / --delete', async () => {
    const topic = `adm-more-${run}`;
    const group = `g-adm-${run}`;
    const [, , consumed] = (await pyKafka('confluent', addr, [
      { op: 'create_topics', topics: [{ name: topic, partitions: 2 }] },
      {
        op: 'produce',
        topic,
        compression: 'gzip',
        messages: [0, 0, 0, 1, 1].map((partition, i) => ({ key: `k${i}`, value: `v${i}`, partition })),
      },
      { op: 'consume', topic, group, count: 5, commit: true },
    ])) as [unknown, unknown, ConsumeResult];
    expect(consumed.committed).toEqual({ '0': 3, '1': 2 });

    const tool = (main: string, ...args: string[]) =>
      kafkaTool(main, ['--bootstrap-server', addr, ...args]).then((r) => ok(r, `${main} ${args.join(' ')}`));
    const topicEntity = ['--entity-type', 'topics', '--entity-name', topic];
    await tool(
      CONFIGS,
      '--alter',
      ...topicEntity,
      '--add-config',
      'retention.ms=3600000,max.message.bytes=200000',
    );
    const configs = await tool(CONFIGS, '--describe', ...topicEntity);
    expect(configs.stdout).toMatch(/^\s*max\.message\.bytes=200000 sensitive=false/m);
    expect(configs.stdout).toMatch(/^\s*retention\.ms=3600000 sensitive=false/m);
    // The new limit applies at once: confluent-kafka gets Kafka's MESSAGE_TOO_LARGE for a bigger record.
    const [tooLarge] = await pyKafka('confluent', addr, [
      {
        op: 'produce',
        topic,
        compression: 'none',
        allow_errors: true,
        messages: [{ key: 'big', value: 'x'.repeat(300_000), partition: 1 }],
      },
    ]);
    expect(tooLarge).toEqual({ delivered: [], errors: ['MSG_SIZE_TOO_LARGE'] });
    await tool(CONFIGS, '--alter', ...topicEntity, '--delete-config', 'retention.ms');
    expect((await tool(CONFIGS, '--describe', ...topicEntity, '--all')).stdout).toMatch(
      /^\s*retention\.ms=604800000 sensitive=false synonyms=\{DEFAULT_CONFIG/m,
    );

    const offsetsJson = join(await tempDir('ferrymq-delete-records-'), 'offsets.json');
    await writeFile(
      offsetsJson,
      JSON.stringify({ partitions: [{ topic, partition: 0, offset: 2 }], version: 1 }),
    );
    expect((await tool(DELETE_RECORDS, '--offset-json-file', offsetsJson)).stdout).toMatch(
      new RegExp(`partition: ${topic}-0\\s+low_watermark: 2`),
    );
    expect((await tool(GET_OFFSETS, '--topic', topic, '--time', '-2')).stdout.trim().split('\n')).toEqual([
      `${topic}:0:2`,
      `${topic}:1:0`,
    ]);
    expect((await tool(GET_OFFSETS, '--topic', topic)).stdout.trim().split('\n')).toEqual([
      `${topic}:0:3`,
      `${topic}:1:2`,
    ]);

    const reset = await tool(
      GROUPS,
      '--reset-offsets',
      '--group',
      group,
      '--topic',
      topic,
      '--to-earliest',
      '--execute',
    );
    const newOffsets = reset.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((c) => c[0] === group)
      .map((c) => [c[2], c[3]])
      .sort();
    expect(newOffsets).toEqual([
      ['0', '2'],
      ['1', '0'],
    ]);
    const [again] = (await pyKafka('kafka-python', addr, [{ op: 'consume', topic, group, count: 3 }])) as [
      ConsumeResult,
    ];
    expect(again.messages.map((m) => m.key).sort()).toEqual(['k2', 'k3', 'k4']);
    expect((await tool(GROUPS, '--delete', '--group', group)).stdout).toContain(
      `Deletion of requested consumer groups ('${group}') was successful.`,
    );
    expect((await tool(GROUPS, '--list')).stdout.split('\n')).not.toContain(group);
  });

  it('confluent-kafka AdminClient creates, describes and deletes topics, with per-topic errors', async () => {
    const a = `adm-cf-a-${run}`;
    const b = `adm-cf-b-${run}`;
    const missing = `adm-cf-missing-${run}`;
    const [created, again, described, deleted, listed] = await pyKafka('confluent', addr, [
      {
        op: 'create_topics',
        topics: [
          { name: a, partitions: 3 },
          { name: b, partitions: 1 },
          { name: 'bad name!', partitions: 1 },
        ],
      },
      { op: 'create_topics', topics: [{ name: a, partitions: 3 }] },
      { op: 'describe_topics', topics: [a, b, missing] },
      { op: 'delete_topics', topics: [a, missing] },
      { op: 'list_topics' },
    ]);
    expect(created).toEqual({ [a]: null, [b]: null, 'bad name!': 'TOPIC_EXCEPTION' });
    expect(again).toEqual({ [a]: 'TOPIC_ALREADY_EXISTS' });
    expect(described).toEqual({
      [a]: { partitions: [0, 1, 2], leaders: [1, 1, 1] },
      [b]: { partitions: [0], leaders: [1] },
      [missing]: { error: 'UNKNOWN_TOPIC_OR_PART' },
    });
    expect(deleted).toEqual({ [a]: null, [missing]: 'UNKNOWN_TOPIC_OR_PART' });
    expect(listed).toContain(b);
    expect(listed).not.toContain(a);
  });
});
