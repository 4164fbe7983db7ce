/**
 * Kafka admin APIs and per-topic configs end to end against the real
 * broker: kafkajs's admin client for the common paths, raw requests (the
 * generated codec) for error codes, validate_only, IncrementalAlterConfigs,
 * DeleteTopics by id, OffsetForLeaderEpoch, and configs that must survive a
 * restart. Retention and max.message.bytes are checked by their effect:
 * the earliest offset moves, an oversize batch is refused.
 */
import { randomUUID } from 'node:crypto';
import { type Admin, ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKey,
  CreatePartitions,
  CreateTopics,
  DeleteRecords,
  DeleteTopics,
  DescribeCluster,
  DescribeConfigs,
  IncrementalAlterConfigs,
  Metadata,
  OffsetForLeaderEpoch,
} from '../../kafka/protocol/generated/index.ts';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';

const TOPIC = 2;
const BROKER = 4;
const SET = 0;
const DELETE = 1;
const APPEND = 2;

function kafkaFor(addr: string): Kafka {
  return new Kafka({
    brokers: [addr],
    clientId: 'ferrymq-admin-e2e',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  });
}

function createReq(
  topics: { name: string; partitions?: number; rf?: number; configs?: Record<string, string> }[],
  validateOnly = false,
): CreateTopics.CreateTopicsRequest {
  return {
    ...CreateTopics.defaultCreateTopicsRequest(),
    timeoutMs: 5000,
    validateOnly,
    topics: topics.map((t) => ({
      ...CreateTopics.defaultCreatableTopic(),
      name: t.name,
      numPartitions: t.partitions ?? -1,
      replicationFactor: t.rf ?? -1,
      assignments: [],
      configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
    })),
  };
}

async function createTopics(raw: RawKafka, req: CreateTopics.CreateTopicsRequest, version = 7) {
  const r = await raw.request(
    ApiKey.CreateTopics,
    version,
    CreateTopics.encodeCreateTopicsRequest(version, req),
  );
  return CreateTopics.decodeCreateTopicsResponse(version, r).topics;
}

async function describeTopic(raw: RawKafka, name: string, version = 4) {
  const req: DescribeConfigs.DescribeConfigsRequest = {
    ...DescribeConfigs.defaultDescribeConfigsRequest(),
    includeSynonyms: true,
    includeDocumentation: true,
    resources: [
      {
        ...DescribeConfigs.defaultDescribeConfigsResource(),
        resourceType: TOPIC,
        resourceName: name,
        configurationKeys: null,
      },
    ],
  };
  const r = await raw.request(
    ApiKey.DescribeConfigs,
    version,
    DescribeConfigs.encodeDescribeConfigsRequest(version, req),
  );
  const res = DescribeConfigs.decodeDescribeConfigsResponse(version, r).results[0];
  if (!res) throw new Error('no result');
  return res;
}

async function incremental(
  raw: RawKafka,
  name: string,
  ops: { name: string; op: number; value: string | null }[],
  validateOnly = false,
) {
  const version = 1;
  const req: IncrementalAlterConfigs.IncrementalAlterConfigsRequest = {
    ...IncrementalAlterConfigs.defaultIncrementalAlterConfigsRequest(),
    validateOnly,
    resources: [
      {
        ...IncrementalAlterConfigs.defaultAlterConfigsResource(),
        resourceType: TOPIC,
        resourceName: name,
        configs: ops.map((o) => ({ name: o.name, configOperation: o.op, value: o.value })),
      },
    ],
  };
  const r = await raw.request(
    ApiKey.IncrementalAlterConfigs,
    version,
    IncrementalAlterConfigs.encodeIncrementalAlterConfigsRequest(version, req),
  );
  const res = IncrementalAlterConfigs.decodeIncrementalAlterConfigsResponse(version, r).responses[0];
  if (!res) throw new Error('no response');
  return res;
}

async function metadataNames(raw: RawKafka, names: string[]) {
  const version = 12;
  const req = {
    ...Metadata.defaultMetadataRequest(),
    topics: names.map((name) => ({ ...Metadata.defaultMetadataRequestTopic(), name })),
    allowAutoTopicCreation: false,
  };
  const r = await raw.request(ApiKey.Metadata, version, Metadata.encodeMetadataRequest(version, req));
  return Metadata.decodeMetadataResponse(version, r).topics;
}

function configOf(res: DescribeConfigs.DescribeConfigsResult, name: string) {
  return res.configs.find((c) => c.name === name);
}

/** Produce `n` records of `bytes` each to partition 0, one batch per send, with timestamps from `ts`. */
async function produce(kafka: Kafka, topic: string, n: number, bytes: number, ts?: (i: number) => number) {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < n; i++) {
      await producer.send({
        topic,
        acks: -1,
        messages: [{ partition: 0, value: 'x'.repeat(bytes), ...(ts ? { timestamp: String(ts(i)) } : {}) }],
      });
    }
  } finally {
    await producer.disconnect();
  }
}

async function earliest(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return Number(offsets.find((o) => o.partition === 0)?.low);
}

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('kafka admin APIs and topic configs', () => {
  let broker: BrokerProcess;
  let addr: string;
  let kafka: Kafka;
  let admin: Admin;
  let raw: RawKafka;

  beforeAll(async () => {
    broker = await spawnBroker({
      env: {
        FERRYMQ_STORAGE__RETENTION_CHECK_MS: '1000',
        FERRYMQ_KAFKA__PARTITIONS_PER_TOPIC_MAX: '16',
        FERRYMQ_KAFKA__DEFAULT_PARTITION_COUNT: '2',
      },
    });
    await broker.ready;
    addr = broker.listeners().kafka as string;
    kafka = kafkaFor(addr);
    admin = kafka.admin();
    await admin.connect();
    raw = await RawKafka.open(addr);
  });

  afterAll(async () => {
    raw?.close();
    await admin?.disconnect();
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('kafkajs: create, describe, alter, grow, delete records, delete topics', async () => {
    const topic = `adm-${randomUUID()}`;
    expect(
      await admin.createTopics({
        topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '86400000' }] }],
      }),
    ).toBe(true);
    // Already there: kafkajs answers false (TOPIC_ALREADY_EXISTS).
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })).toBe(false);
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(md.topics[0]?.partitions).toHaveLength(3);

    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      includeSynonyms: true,
    });
    const entries = described.resources[0]?.configEntries ?? [];
    const retention = entries.find((e) => e.configName === 'retention.ms');
    expect(retention?.configValue).toBe('86400000');
    expect(retention?.isDefault).toBe(false);
    expect(entries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('delete');
    expect(entries.find((e) => e.configName === 'segment.bytes')?.readOnly).toBe(true);

    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: [{ name: 'retention.bytes', value: '1000000' }],
        },
      ],
    });
    const after = (await describeTopic(raw, topic)).configs;
    // AlterConfigs replaces the set: retention.ms went back to its default.
    expect(after.find((c) => c.name === 'retention.bytes')?.value).toBe('1000000');
    expect(after.find((c) => c.name === 'retention.ms')?.configSource).toBe(5);

    await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }] });
    expect((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions).toHaveLength(5);
    await expect(admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })).rejects.toThrow(
      /partitions/i,
    );

    await produce(kafka, topic, 10, 10);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.find((o) => o.partition === 0)?.high).toBe('10');
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '6' }] });
    expect(await earliest(admin, topic)).toBe(6);

    const cluster = await admin.describeCluster();
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.controller).toBe(cluster.brokers[0]?.nodeId);

    await admin.deleteTopics({ topics: [topic] });
    const gone = await metadataNames(raw, [topic]);
    expect(gone[0]?.errorCode).toBe(3);
    expect((await admin.listTopics()).includes(topic)).toBe(false);
  });

  it('CreateTopics refuses bad requests with Kafka error codes and messages', async () => {
    const base = `adm-bad-${randomUUID()}`;
    const res = await createTopics(
      raw,
      createReq([
        { name: `${base}-rf`, partitions: 1, rf: 3 },
        { name: `${base}-p0`, partitions: 0 },
        { name: `${base}-big`, partitions: 17 },
        { name: `${base}-unknown`, configs: { 'no.such.config': '1' } },
        { name: `${base}-compact`, configs: { 'cleanup.policy': 'compact' } },
        { name: `${base}-badval`, configs: { 'retention.ms': 'soon' } },
        { name: 'bad/name' },
      ]),
    );
    expect(res.map((t) => t.errorCode)).toEqual([38, 37, 37, 40, 40, 40, 17]);
    expect(res[3]?.errorMessage).toMatch(/Unknown topic config name: no.such.config/);
    expect(res[4]?.errorMessage).toMatch(/compact/);
    expect(res[2]?.errorMessage).toMatch(/partitions_per_topic_max/);
    // None of them exists.
    expect((await metadataNames(raw, [`${base}-rf`]))[0]?.errorCode).toBe(3);
  });

  it('CreateTopics validate_only answers with configs and creates nothing; defaults apply', async () => {
    const name = `adm-vo-${randomUUID()}`;
    const [vo] = await createTopics(raw, createReq([{ name, configs: { 'retention.ms': '1234' } }], true));
    expect(vo?.errorCode).toBe(0);
    expect(vo?.numPartitions).toBe(2); // kafka.default_partition_count
    expect(vo?.replicationFactor).toBe(1);
    expect(vo?.configs?.find((c) => c.name === 'retention.ms')).toMatchObject({
      value: '1234',
      configSource: 1,
    });
    expect((await metadataNames(raw, [name]))[0]?.errorCode).toBe(3);

    const [made] = await createTopics(
      raw,
      createReq([{ name, rf: 1, configs: { 'ferrymq.storage.engine': 'memory' } }]),
    );
    expect(made?.errorCode).toBe(0);
    expect(made?.topicId).not.toBe('AAAAAAAAAAAAAAAAAAAAAA');
    const [again] = await createTopics(raw, createReq([{ name }]));
    expect(again?.errorCode).toBe(36);
    const [dotted] = await createTopics(raw, createReq([{ name: `${name}_x` }, { name: `${name}.x` }]));
    const [, collision] = await createTopics(raw, createReq([{ name: `${name}.y` }, { name: `${name}_y` }]));
    expect(dotted?.errorCode).toBe(0);
    expect([collision?.errorCode, collision?.errorMessage]).toEqual([
      17,
      `Topic '${name}_y' collides with existing topic: ${name}.y`,
    ]);
  });

  it('IncrementalAlterConfigs: SET, DELETE, APPEND only on lists, creation-only configs refused', async () => {
    const name = `adm-inc-${randomUUID()}`;
    await createTopics(raw, createReq([{ name, partitions: 1, configs: { 'segment.bytes': '1048576' } }]));
    expect(
      (await incremental(raw, name, [{ name: 'retention.bytes', op: SET, value: '5000' }])).errorCode,
    ).toBe(0);
    expect(configOf(await describeTopic(raw, name), 'retention.bytes')).toMatchObject({
      value: '5000',
      configSource: 1,
    });
    // validate_only changes nothing.
    expect(
      (await incremental(raw, name, [{ name: 'retention.bytes', op: SET, value: '7' }], true)).errorCode,
    ).toBe(0);
    expect(configOf(await describeTopic(raw, name), 'retention.bytes')?.value).toBe('5000');
    expect(
      (await incremental(raw, name, [{ name: 'retention.bytes', op: DELETE, value: null }])).errorCode,
    ).toBe(0);
    expect(configOf(await describeTopic(raw, name), 'retention.bytes')).toMatchObject({
      value: '-1',
      configSource: 5,
    });

    const appendNonList = await incremental(raw, name, [{ name: 'retention.ms', op: APPEND, value: '1' }]);
    expect(appendNonList.errorCode).toBe(42);
    const appendCompact = await incremental(raw, name, [
      { name: 'cleanup.policy', op: APPEND, value: 'compact' },
    ]);
    expect([appendCompact.errorCode, appendCompact.errorMessage]).toEqual([
      40,
      expect.stringMatching(/compaction/),
    ]);
    const segment = await incremental(raw, name, [{ name: 'segment.bytes', op: SET, value: '2097152' }]);
    expect([segment.errorCode, segment.errorMessage]).toEqual([40, expect.stringMatching(/cannot change/)]);
    const unknown = await incremental(raw, name, [{ name: 'retention.minutes', op: SET, value: '1' }]);
    expect([unknown.errorCode, unknown.errorMessage]).toEqual([
      40,
      'Unknown topic config name: retention.minutes',
    ]);
    const missing = await incremental(raw, `${name}-nope`, [{ name: 'retention.ms', op: SET, value: '1' }]);
    expect(missing.errorCode).toBe(3);
    // The refused changes left the topic as it was.
    expect(configOf(await describeTopic(raw, name), 'segment.bytes')?.value).toBe('1048576');
  });

  it('DescribeConfigs: synonyms, documentation, broker configs under Kafka names', async () => {
    const name = `adm-desc-${randomUUID()}`;
    await createTopics(raw, createReq([{ name, partitions: 1, configs: { 'max.message.bytes': '65536' } }]));
    const t = await describeTopic(raw, name);
    const mmb = configOf(t, 'max.message.bytes');
    expect(mmb?.synonyms.map((s) => [s.name, s.source])).toEqual([
      ['max.message.bytes', 1],
      ['message.max.bytes', 5],
    ]);
    expect(mmb?.documentation).toMatch(/MESSAGE_TOO_LARGE/);
    expect(mmb?.configType).toBe(3);

    const version = 4;
    const req: DescribeConfigs.DescribeConfigsRequest = {
      ...DescribeConfigs.defaultDescribeConfigsRequest(),
      resources: [
        {
          ...DescribeConfigs.defaultDescribeConfigsResource(),
          resourceType: BROKER,
          resourceName: '',
          configurationKeys: null,
        },
        {
          ...DescribeConfigs.defaultDescribeConfigsResource(),
          resourceType: TOPIC,
          resourceName: `${name}-nope`,
          configurationKeys: null,
        },
      ],
    };
    const r = await raw.request(
      ApiKey.DescribeConfigs,
      version,
      DescribeConfigs.encodeDescribeConfigsRequest(version, req),
    );
    const [brokerRes, missing] = DescribeConfigs.decodeDescribeConfigsResponse(version, r).results;
    const byName = new Map(brokerRes?.configs.map((c) => [c.name, c]));
    expect(byName.get('num.partitions')).toMatchObject({ value: '2', configSource: 4, readOnly: true });
    expect(byName.get('message.max.bytes')?.value).toBe('1048588');
    expect(byName.get('auto.create.topics.enable')?.value).toBe('true');
    expect(byName.get('ferrymq.storage.retention_check_ms')?.value).toBe('1000');
    expect(missing?.errorCode).toBe(3);
  });

  it('retention.ms and retention.bytes changes really delete old data', async () => {
    const name = `adm-ret-${randomUUID()}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }] });
    const now = Date.now();
    // 5 records two hours old, then 5 fresh ones.
    await produce(kafka, name, 10, 100, (i) => (i < 5 ? now - 7_200_000 : now));
    expect(await earliest(admin, name)).toBe(0);
    expect(
      (await incremental(raw, name, [{ name: 'retention.ms', op: SET, value: '3600000' }])).errorCode,
    ).toBe(0);
    await waitFor(async () => (await earliest(admin, name)) === 5);

    // Equal one-record batches: retention.bytes keeps as many whole ones as fit. The five
    // records retention.ms removed are still in the segment file and must not count.
    await produce(kafka, name, 10, 100);
    const batchBytes = (await raw.fetch(name, 19)).records?.length ?? 0;
    expect(batchBytes).toBeGreaterThan(100);
    const keep = 3;
    const limit = keep * batchBytes + Math.floor(batchBytes / 2);
    expect(
      (await incremental(raw, name, [{ name: 'retention.bytes', op: SET, value: String(limit) }])).errorCode,
    ).toBe(0);
    await waitFor(async () => (await earliest(admin, name)) > 5);
    // Settled: a later pass deletes nothing more.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await earliest(admin, name)).toBe(20 - keep);
    const offsets = await admin.fetchTopicOffsets(name);
    expect(offsets[0]?.high).toBe('20');
  });

  it('max.message.bytes refuses a bigger batch with MESSAGE_TOO_LARGE', async () => {
    const name = `adm-mmb-${randomUUID()}`;
    await createTopics(raw, createReq([{ name, partitions: 1, configs: { 'max.message.bytes': '2048' } }]));
    await produce(kafka, name, 1, 1000);
    await expect(produce(kafka, name, 1, 4000)).rejects.toMatchObject({ type: 'MESSAGE_TOO_LARGE' });
    expect(
      (await incremental(raw, name, [{ name: 'max.message.bytes', op: SET, value: '8192' }])).errorCode,
    ).toBe(0);
    await produce(kafka, name, 1, 4000);
    expect((await admin.fetchTopicOffsets(name))[0]?.high).toBe('2');
  });

  it('DeleteTopics by id (v6), DeleteRecords past the high watermark, OffsetForLeaderEpoch, DescribeCluster', async () => {
    const name = `adm-id-${randomUUID()}`;
    const [made] = await createTopics(raw, createReq([{ name, partitions: 1 }]));
    await produce(kafka, name, 3, 10);

    const dr = {
      ...DeleteRecords.defaultDeleteRecordsRequest(),
      timeoutMs: 1000,
      topics: [
        {
          ...DeleteRecords.defaultDeleteRecordsTopic(),
          name,
          partitions: [{ ...DeleteRecords.defaultDeleteRecordsPartition(), partitionIndex: 0, offset: 4n }],
        },
      ],
    };
    const drr = DeleteRecords.decodeDeleteRecordsResponse(
      2,
      await raw.request(ApiKey.DeleteRecords, 2, DeleteRecords.encodeDeleteRecordsRequest(2, dr)),
    );
    expect(drr.topics[0]?.partitions[0]?.errorCode).toBe(1);

    const ofle = (current: number, epoch: number) => ({
      ...OffsetForLeaderEpoch.defaultOffsetForLeaderEpochRequest(),
      replicaId: -1,
      topics: [
        {
          ...OffsetForLeaderEpoch.defaultOffsetForLeaderTopic(),
          topic: name,
          partitions: [
            {
              ...OffsetForLeaderEpoch.defaultOffsetForLeaderPartition(),
              partition: 0,
              currentLeaderEpoch: current,
              leaderEpoch: epoch,
            },
          ],
        },
      ],
    });
    for (const [current, epoch, code, end] of [
      [0, 0, 0, 3n],
      [-1, 0, 0, 3n],
      [1, 0, 75, -1n],
      [0, 5, 0, -1n],
    ] as const) {
      const r = await raw.request(
        ApiKey.OffsetForLeaderEpoch,
        4,
        OffsetForLeaderEpoch.encodeOffsetForLeaderEpochRequest(4, ofle(current, epoch)),
      );
      const p = OffsetForLeaderEpoch.decodeOffsetForLeaderEpochResponse(4, r).topics[0]?.partitions[0];
      expect([p?.errorCode, p?.endOffset], `current ${current} epoch ${epoch}`).toEqual([code, end]);
    }

    const dc = {
      ...DescribeCluster.defaultDescribeClusterRequest(),
      includeClusterAuthorizedOperations: true,
    };
    const cluster = DescribeCluster.decodeDescribeClusterResponse(
      2,
      await raw.request(ApiKey.DescribeCluster, 2, DescribeCluster.encodeDescribeClusterRequest(2, dc)),
    );
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.clusterAuthorizedOperations & (1 << 8)).not.toBe(0);

    const cp = {
      ...CreatePartitions.defaultCreatePartitionsRequest(),
      validateOnly: true,
      topics: [{ ...CreatePartitions.defaultCreatePartitionsTopic(), name, count: 4, assignments: null }],
    };
    const cpr = CreatePartitions.decodeCreatePartitionsResponse(
      3,
      await raw.request(ApiKey.CreatePartitions, 3, CreatePartitions.encodeCreatePartitionsRequest(3, cp)),
    );
    expect(cpr.results[0]?.errorCode).toBe(0);
    expect((await metadataNames(raw, [name]))[0]?.partitions).toHaveLength(1);

    const del = (topicId: string) => ({
      ...DeleteTopics.defaultDeleteTopicsRequest(),
      timeoutMs: 1000,
      topics: [{ ...DeleteTopics.defaultDeleteTopicState(), name: null, topicId }],
    });
    const unknown = DeleteTopics.decodeDeleteTopicsResponse(
      6,
      await raw.request(
        ApiKey.DeleteTopics,
        6,
        DeleteTopics.encodeDeleteTopicsRequest(6, del('AAAAAAAAAAAAAAAAAAAAAQ')),
      ),
    );
    expect(unknown.responses[0]?.errorCode).toBe(100);
    const byId = DeleteTopics.decodeDeleteTopicsResponse(
      6,
      await raw.request(
        ApiKey.DeleteTopics,
        6,
        DeleteTopics.encodeDeleteTopicsRequest(6, del(made?.topicId ?? '')),
      ),
    );
    expect(byId.responses[0]).toMatchObject({ errorCode: 0, name });
    expect((await metadataNames(raw, [name]))[0]?.errorCode).toBe(3);
  });
});

describe('kafka topic configs and bounds across a restart', () => {
  it('configs persist with the topic; kafka.topics_max is enforced', async () => {
    const dataDir = await tempDir();
    const env = { FERRYMQ_KAFKA__TOPICS_MAX: '2', FERRYMQ_KAFKA__AUTO_CREATE_TOPICS: 'false' };
    let broker = await spawnBroker({ dataDir, env });
    await broker.ready;
    let raw = await RawKafka.open(broker.listeners().kafka as string);
    const res = await createTopics(
      raw,
      createReq([
        {
          name: 'keep',
          partitions: 2,
          configs: { 'retention.ms': '120000', 'flush.messages': '1', 'max.message.bytes': '4096' },
        },
        { name: 'second' },
        { name: 'third' },
      ]),
    );
    expect(res.map((t) => t.errorCode)).toEqual([0, 0, 44]);
    expect(res[2]?.errorMessage).toMatch(/topics_max/);
    expect(
      (await incremental(raw, 'keep', [{ name: 'retention.bytes', op: SET, value: '123456' }])).errorCode,
    ).toBe(0);
    raw.close();
    broker.signal('SIGTERM');
    expect((await broker.exited).code).toBe(0);

    broker = await spawnBroker({ dataDir, env });
    await broker.ready;
    try {
      raw = await RawKafka.open(broker.listeners().kafka as string);
      const t = await describeTopic(raw, 'keep');
      expect(configOf(t, 'retention.ms')).toMatchObject({ value: '120000', configSource: 1 });
      expect(configOf(t, 'retention.bytes')).toMatchObject({ value: '123456', configSource: 1 });
      expect(configOf(t, 'flush.messages')).toMatchObject({ value: '1', configSource: 1, readOnly: true });
      expect((await metadataNames(raw, ['keep']))[0]?.partitions).toHaveLength(2);
      const metrics = await (await fetch(`${broker.adminUrl()}/metrics`)).text();
      expect(metrics).toMatch(/^ferrymq_kafka_topics({[^}]*})? 2$/m);
      expect(metrics).toMatch(/^ferrymq_kafka_partitions({[^}]*})? 3$/m);
      // max.message.bytes still applies after the restart.
      const kafka = kafkaFor(broker.listeners().kafka as string);
      await expect(produce(kafka, 'keep', 1, 8000)).rejects.toMatchObject({ type: 'MESSAGE_TOO_LARGE' });
      raw.close();
    } finally {
      broker.signal('SIGTERM');
      await broker.exited;
    }
  });
});
