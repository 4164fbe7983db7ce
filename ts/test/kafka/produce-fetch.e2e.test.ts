/**
 * The Kafka listener end to end against the real broker: kafkajs produces
 * (keys, headers, topic auto-created) and lists offsets; consumption goes
 * through raw Fetch requests built with the generated codec (consumer groups
 * are not served yet). Bad input closes only the offending connection.
 */
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKey,
  ApiVersions,
  encodeRequestHeader,
  ListOffsets,
  Produce,
} from '../../kafka/protocol/generated/index.ts';
import { decodeBatches, type StoredRecord } from '../../storage/records.ts';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';

describe('kafka produce and fetch (kafkajs + raw codec)', () => {
  let broker: BrokerProcess;
  let addr: string;
  let kafka: Kafka;

  beforeAll(async () => {
    broker = await spawnBroker();
    await broker.ready;
    addr = broker.listeners().kafka as string;
    kafka = new Kafka({
      brokers: [addr],
      clientId: 'ferrymq-e2e',
      logLevel: logLevel.NOTHING,
      retry: { retries: 2 },
    });
  });

  afterAll(async () => {
    await broker?.signal('SIGTERM');
    await broker?.exited;
  });

  /** Fetch from `from` until `count` records arrived (following the stored batches). */
  async function fetchAll(
    raw: RawKafka,
    topic: string,
    from: number,
    count: number,
  ): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    let next = from;
    while (out.length < count) {
      const p = await raw.fetch(topic, next, { maxWaitMs: 1000 });
      expect(p.errorCode).toBe(0);
      const recs = decodeBatches(p.records ?? Buffer.alloc(0), next);
      if (recs.length === 0) throw new Error(`no records at ${next}`);
      out.push(...recs);
      next = (recs[recs.length - 1] as StoredRecord).offset + 1;
    }
    return out;
  }

  it('produces with keys and headers to an auto-created topic and fetches every record back intact', async () => {
    const topic = `e2e-${randomUUID()}`;
    const producer = kafka.producer();
    await producer.connect();
    const sent = Array.from({ length: 25 }, (_, i) => ({
      key: `key-${i}`,
      value: `value-${i}-${'x'.repeat(i * 10)}`,
      headers: { seq: String(i), kind: i % 2 === 0 ? 'even' : 'odd' },
    }));
    const before = Date.now();
    // Several produce requests, so several stored batches.
    for (let i = 0; i < sent.length; i += 10) {
      const res = await producer.send({ topic, messages: sent.slice(i, i + 10), acks: -1 });
      expect(res[0]?.errorCode).toBe(0);
      expect(Number(res[0]?.baseOffset)).toBe(i);
    }
    await producer.disconnect();

    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets).toEqual([{ partition: 0, offset: '25', low: '0', high: '25' }]);
    const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, before - 60_000);
    expect(byTime).toEqual([{ partition: 0, offset: '0' }]);
    // Past the last timestamp the broker answers -1; kafkajs turns that into the latest offset.
    const future = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() + 3_600_000);
    expect(future).toEqual([{ partition: 0, offset: '25' }]);
    await admin.disconnect();

    const raw = await RawKafka.open(addr);
    try {
      const got = await fetchAll(raw, topic, 0, sent.length);
      expect(got).toHaveLength(sent.length);
      expect(got.map((r) => r.offset)).toEqual(sent.map((_, i) => i));
      got.forEach((r, i) => {
        const m = sent[i] as (typeof sent)[number];
        expect(r.key?.toString()).toBe(m.key);
        expect(r.value?.toString()).toBe(m.value);
        expect(Object.fromEntries(r.headers.map((h) => [h.key.toString(), h.value?.toString()]))).toEqual(
          m.headers,
        );
      });
      // Fetching from the middle starts at the batch containing it.
      const mid = await fetchAll(raw, topic, 13, 1);
      expect(mid[0]?.offset).toBe(13);
      const p = await raw.fetch(topic, 0);
      expect(p.highWatermark).toBe(25n);
      expect(p.logStartOffset).toBe(0n);
      expect((await raw.fetch(topic, 26)).errorCode).toBe(1); // OFFSET_OUT_OF_RANGE
      expect((await raw.fetch(`missing-${randomUUID()}`, 0)).errorCode).toBe(3); // UNKNOWN_TOPIC_OR_PARTITION

      // ListOffsets earliest/latest through the codec too.
      const lo = await raw.request(
        ApiKey.ListOffsets,
        5,
        ListOffsets.encodeListOffsetsRequest(5, {
          ...ListOffsets.defaultListOffsetsRequest(),
          topics: [
            {
              name: topic,
              partitions: [
                { ...ListOffsets.defaultListOffsetsPartition(), partitionIndex: 0, timestamp: -2n },
                { ...ListOffsets.defaultListOffsetsPartition(), partitionIndex: 0, timestamp: -1n },
                {
                  ...ListOffsets.defaultListOffsetsPartition(),
                  partitionIndex: 0,
                  timestamp: BigInt(before - 60_000),
                },
                {
                  ...ListOffsets.defaultListOffsetsPartition(),
                  partitionIndex: 0,
                  timestamp: BigInt(Date.now() + 3_600_000),
                },
              ],
            },
          ],
        }),
      );
      const parts = ListOffsets.decodeListOffsetsResponse(5, lo).topics[0]?.partitions;
      expect(parts?.map((x) => [x.errorCode, x.offset])).toEqual([
        [0, 0n],
        [0, 25n],
        [0, 0n],
        [0, -1n],
      ]);
    } finally {
      raw.close();
    }
  });

  it('long-polls a fetch at the log end until a produce wakes it', async () => {
    const topic = `e2e-poll-${randomUUID()}`;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'first' }] });
    const raw = await RawKafka.open(addr);
    try {
      const started = performance.now();
      const polled = raw.fetch(topic, 1, { maxWaitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 300));
      await producer.send({ topic, messages: [{ value: 'second' }] });
      const p = await polled;
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(waited).toBeLessThan(5000);
      expect(decodeBatches(p.records ?? Buffer.alloc(0), 1).map((r) => r.value?.toString())).toEqual([
        'second',
      ]);
      // An empty poll returns after max_wait_ms with no records.
      const t0 = performance.now();
      const empty = await raw.fetch(topic, 2, { maxWaitMs: 200 });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
      expect(empty.errorCode).toBe(0);
      expect(empty.records?.length ?? 0).toBe(0);
    } finally {
      raw.close();
      await producer.disconnect();
    }
  });

  it('answers a bad CRC with CORRUPT_MESSAGE and an oversized batch with MESSAGE_TOO_LARGE', async () => {
    const topic = `e2e-bad-${randomUUID()}`;
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'a valid record' }] });
    const raw = await RawKafka.open(addr);
    try {
      const stored = (await raw.fetch(topic, 0)).records as Buffer;
      const bad = Buffer.from(stored);
      bad[bad.length - 3] = (bad[bad.length - 3] as number) ^ 0xff; // inside the record, under the CRC
      const produce = async (records: Buffer): Promise<number | undefined> => {
        const req: Produce.ProduceRequest = {
          ...Produce.defaultProduceRequest(),
          acks: 1,
          timeoutMs: 5000,
          topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
        };
        const r = await raw.request(ApiKey.Produce, 7, Produce.encodeProduceRequest(7, req));
        return Produce.decodeProduceResponse(7, r).responses[0]?.partitionResponses[0]?.errorCode;
      };
      expect(await produce(bad)).toBe(2);
      expect(await produce(Buffer.from(stored))).toBe(0);
      await expect(
        producer.send({ topic, messages: [{ value: Buffer.alloc(1_100_000, 1) }] }),
      ).rejects.toMatchObject({ type: 'MESSAGE_TOO_LARGE' });
      // Nothing bad was stored.
      expect((await raw.fetch(topic, 0)).highWatermark).toBe(2n);
    } finally {
      raw.close();
      await producer.disconnect();
    }
  });

  it('answers an unknown ApiVersions version with error 35 in a v0 response listing what it serves', async () => {
    const raw = await RawKafka.open(addr);
    try {
      // Version 99: the body is whatever a future client sends; the server must not try to decode it.
      const r = await raw.request(ApiKey.ApiVersions, 99, Buffer.from([0, 0, 0]));
      const res = ApiVersions.decodeApiVersionsResponse(0, r);
      expect(res.errorCode).toBe(35);
      const keys = new Map(res.apiKeys.map((k) => [k.apiKey, [k.minVersion, k.maxVersion]]));
      expect(keys.get(ApiKey.ApiVersions)).toEqual([0, 4]);
      // The connection stays usable: a served version works next.
      const ok = ApiVersions.decodeApiVersionsResponse(
        3,
        await raw.request(
          ApiKey.ApiVersions,
          3,
          ApiVersions.encodeApiVersionsRequest(3, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' }),
        ),
      );
      expect(ok.errorCode).toBe(0);
      // Other APIs join the list as they are served; these must stay.
      expect(ok.apiKeys.map((k) => k.apiKey)).toEqual(expect.arrayContaining([0, 1, 2, 3, 18, 22]));
      // Advertised from 0 as Kafka 4 does (KAFKA-18659); v0-2 requests are refused (idempotence.e2e.test.ts).
      expect(ok.apiKeys.find((k) => k.apiKey === ApiKey.Produce)?.minVersion).toBe(0);
    } finally {
      raw.close();
    }
  });

  it('closes only the connection that sends garbage, an unknown API, a truncated request or an oversized frame', async () => {
    const other = await RawKafka.open(addr);
    const ping = async (): Promise<void> => {
      const r = await other.request(
        ApiKey.ApiVersions,
        0,
        ApiVersions.encodeApiVersionsRequest(0, ApiVersions.defaultApiVersionsRequest()),
      );
      expect(ApiVersions.decodeApiVersionsResponse(0, r).errorCode).toBe(0);
    };
    try {
      await ping();
      const bad: Buffer[] = [
        // Garbage: an unknown API key and noise.
        Buffer.from([0, 0, 0, 10, 0x7f, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8]),
        // A frame shorter than a request header.
        Buffer.from([0, 0, 0, 3, 0, 1, 0]),
        // A negative size and one over kafka.frame_bytes_max.
        Buffer.from([0xff, 0xff, 0xff, 0xff]),
        Buffer.from([0x7f, 0xff, 0xff, 0xff]),
      ];
      // A Metadata v1 request cut inside its topic array.
      const head = encodeRequestHeader(1, {
        requestApiKey: 3,
        requestApiVersion: 1,
        correlationId: 7,
        clientId: 'x',
      });
      const body = Buffer.from([0, 0, 0, 5, 0, 20, 0x61]);
      const size = Buffer.alloc(4);
      size.writeInt32BE(head.length + body.length);
      bad.push(Buffer.concat([size, head, body]));
      for (const bytes of bad) {
        const victim = await RawKafka.open(addr);
        victim.socket.write(bytes);
        await victim.closed;
        await ping();
      }
    } finally {
      other.close();
    }
  });
});

describe('kafka topics across a restart', () => {
  it('keeps topics, their records and the shard-id counter', async () => {
    const dataDir = await tempDir();
    const run = async <T>(fn: (kafka: Kafka, addr: string) => Promise<T>): Promise<T> => {
      const b = await spawnBroker({ dataDir });
      try {
        await b.ready;
        const addr = b.listeners().kafka as string;
        return await fn(
          new Kafka({ brokers: [addr], clientId: 'restart', logLevel: logLevel.NOTHING }),
          addr,
        );
      } finally {
        await b.signal('SIGTERM');
        await b.exited;
      }
    };
    await run(async (kafka) => {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: 'kept',
        messages: [
          { key: 'a', value: '1' },
          { key: 'b', value: '2' },
        ],
      });
      await producer.disconnect();
    });
    await run(async (kafka, addr) => {
      const producer = kafka.producer();
      await producer.connect();
      // A topic created after the restart must get its own shard, not reuse kept's.
      await producer.send({ topic: 'fresh', messages: [{ value: 'x' }] });
      await producer.send({ topic: 'kept', messages: [{ key: 'c', value: '3' }] });
      await producer.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      expect(await admin.fetchTopicOffsets('kept')).toEqual([
        { partition: 0, offset: '3', low: '0', high: '3' },
      ]);
      expect(await admin.fetchTopicOffsets('fresh')).toEqual([
        { partition: 0, offset: '1', low: '0', high: '1' },
      ]);
      expect((await admin.listTopics()).sort()).toEqual(['fresh', 'kept']);
      await admin.disconnect();
      const raw = await RawKafka.open(addr);
      try {
        const p = await raw.fetch('kept', 0);
        expect(decodeBatches(p.records ?? Buffer.alloc(0)).map((r) => r.key?.toString())).toEqual([
          'a',
          'b',
          'c',
        ]);
      } finally {
        raw.close();
      }
    });
  });
});

describe('kafka connection limit', () => {
  it('closes connections past kafka.connections_max on accept and counts them; open ones keep working', async () => {
    const b = await spawnBroker({ env: { FERRYMQ_KAFKA__CONNECTIONS_MAX: '2' } });
    try {
      await b.ready;
      const [host, port] = (b.listeners().kafka as string).split(':') as [string, string];
      const open = (): Promise<{ socket: Socket; closed: Promise<void> }> =>
        new Promise((resolve, reject) => {
          const socket = connect(Number(port), host, () => resolve({ socket, closed }));
          const closed = new Promise<void>((r) => socket.once('close', () => r()));
          socket.once('error', reject);
        });
      const first = await open();
      const second = await open();
      const third = await open();
      await third.closed; // refused on accept
      const admin = new Kafka({
        brokers: [`${host}:${port}`],
        clientId: 'limit',
        logLevel: logLevel.NOTHING,
      });
      first.socket.destroy();
      await first.closed;
      // A slot is free again: a real client gets through.
      const a = admin.admin();
      await a.connect();
      expect(Array.isArray(await a.listTopics())).toBe(true);
      await a.disconnect();
      second.socket.destroy();
      const metrics = await (await fetch(`${b.adminUrl()}/metrics`)).text();
      expect(metrics).toMatch(/^ferrymq_kafka_refused_connections_total\{node_id="1"\} [1-9]/m);
    } finally {
      b.signal('SIGTERM');
      await b.exited;
    }
  });
});
