/**
 * Fetch's reusable read buffers (kafka.fetch_read_buffers_max), end to end
 * on the segment engine: answers from reused buffers carry exactly the
 * stored records under concurrent consumers, a batch longer than a buffer
 * and a read larger than one still come back whole, DeleteRecords is never
 * answered from stale buffer bytes, and a consumer that stops reading its
 * socket holds at most the pool (others keep fetching) and gives it back
 * when it goes.
 */
import { connect } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKey,
  DeleteRecords,
  encodeRequestHeader,
  Fetch,
  requestHeaderVersion,
} from '../../kafka/protocol/generated/index.ts';
import { decodeBatches, type StoredRecord } from '../../storage/records.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';
import { until } from '../helpers/until.ts';

const BUFFER_BYTES = 64 * 1024;
const BUFFERS = 4;
const FETCH_VERSION = 11;

function fetchBody(topic: string, offset: number, partitionMaxBytes: number): Buffer {
  return Fetch.encodeFetchRequest(FETCH_VERSION, {
    ...Fetch.defaultFetchRequest(),
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 50 << 20,
    topics: [
      {
        ...Fetch.defaultFetchTopic(),
        topic,
        partitions: [
          { ...Fetch.defaultFetchPartition(), partition: 0, fetchOffset: BigInt(offset), partitionMaxBytes },
        ],
      },
    ],
  });
}

async function fetchOnce(
  raw: RawKafka,
  topic: string,
  offset: number,
  partitionMaxBytes = BUFFER_BYTES,
): Promise<Fetch.PartitionData> {
  const r = await raw.request(ApiKey.Fetch, FETCH_VERSION, fetchBody(topic, offset, partitionMaxBytes));
  const p = Fetch.decodeFetchResponse(FETCH_VERSION, r).responses[0]?.partitions[0];
  if (!p) throw new Error('no partition in the fetch response');
  return p;
}

/** Every record from `from` to `end`, one fetch at a time. */
async function fetchAll(raw: RawKafka, topic: string, from: number, end: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let next = from;
  while (next < end) {
    const p = await fetchOnce(raw, topic, next);
    expect(p.errorCode).toBe(0);
    const recs = decodeBatches(p.records ?? Buffer.alloc(0), next);
    if (recs.length === 0) throw new Error(`no records at ${next}`);
    out.push(...recs);
    next = (recs.at(-1) as StoredRecord).offset + 1;
  }
  return out;
}

const recordValue = (topic: string, i: number, bytes = 700): Buffer =>
  Buffer.from(`${topic}#${i}:`.padEnd(bytes, String.fromCharCode(97 + (i % 26))));

describe('kafka fetch read buffers', () => {
  let broker: BrokerProcess;
  let addr: string;
  let kafka: Kafka;

  beforeAll(async () => {
    broker = await spawnBroker({
      env: {
        FERRYMQ_STORAGE__ENGINE: 'segment',
        FERRYMQ_KAFKA__FETCH_READ_BUFFERS_MAX: String(BUFFERS),
        FERRYMQ_KAFKA__FETCH_READ_BUFFER_BYTES: String(BUFFER_BYTES),
      },
    });
    await broker.ready;
    addr = broker.listeners().kafka as string;
    kafka = new Kafka({ brokers: [addr], clientId: 'fetch-buffers', logLevel: logLevel.NOTHING });
  });

  afterAll(async () => {
    await broker?.signal('SIGTERM');
    await broker?.exited;
  });

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${broker.adminUrl()}/metrics`)).text();
    // With the node's default labels: name{node_id="1"} value
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    if (!line) throw new Error(`no ${name} in /metrics`);
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  async function lentBecomes(n: number): Promise<void> {
    await until(
      `ferrymq_kafka_fetch_read_buffers_lent = ${n}`,
      async () => ((await metric('ferrymq_kafka_fetch_read_buffers_lent')) === n ? true : undefined),
      10_000,
    );
  }

  async function produce(topic: string, values: Buffer[]): Promise<void> {
    const p = kafka.producer();
    await p.connect();
    // Several sends: several batches, so fetches end on batch boundaries.
    for (let i = 0; i < values.length; i += 20)
      await p.send({ topic, messages: values.slice(i, i + 20).map((value) => ({ value })) });
    await p.disconnect();
  }

  it('serves exactly the stored records to concurrent consumers sharing four buffers', async () => {
    const topics = ['rb-a', 'rb-b', 'rb-c'];
    const n = 400;
    for (const t of topics)
      await produce(
        t,
        Array.from({ length: n }, (_, i) => recordValue(t, i)),
      );
    const conns = await Promise.all(topics.flatMap(() => [RawKafka.open(addr), RawKafka.open(addr)]));
    try {
      const got = await Promise.all(conns.map((c, i) => fetchAll(c, topics[i >> 1] as string, 0, n)));
      got.forEach((recs, i) => {
        const t = topics[i >> 1] as string;
        expect(recs.map((r) => r.offset)).toEqual(Array.from({ length: n }, (_, j) => j));
        for (const r of recs) expect(r.value?.equals(recordValue(t, r.offset))).toBe(true);
      });
      // Six consumers at once on four buffers, never more made.
      const made = await metric('ferrymq_kafka_fetch_read_buffers_made');
      expect(made).toBeGreaterThanOrEqual(1);
      expect(made).toBeLessThanOrEqual(BUFFERS);
      await lentBecomes(0);
    } finally {
      for (const c of conns) c.close();
    }
  });

  it('answers a sequential consumer from its read-ahead, with exactly the stored records', async () => {
    const t = 'rb-ahead';
    const n = 600;
    await produce(
      t,
      Array.from({ length: n }, (_, i) => recordValue(t, i)),
    );
    const hitsBefore = await metric('ferrymq_kafka_fetch_read_ahead_hits_total');
    const raw = await RawKafka.open(addr);
    try {
      const recs = await fetchAll(raw, t, 0, n);
      expect(recs.map((r) => r.offset)).toEqual(Array.from({ length: n }, (_, j) => j));
      for (const r of recs) expect(r.value?.equals(recordValue(t, r.offset))).toBe(true);
      // ~420 KiB in 64 KiB answers: every fetch after the first could come from a read-ahead.
      expect(await metric('ferrymq_kafka_fetch_read_ahead_hits_total')).toBeGreaterThan(hitsBefore + 2);
      // Fetching another offset than the one read ahead reads the log, and is still exact.
      const p = await fetchOnce(raw, t, 5);
      expect(decodeBatches(p.records ?? Buffer.alloc(0), 5)[0]?.value?.equals(recordValue(t, 5))).toBe(true);
    } finally {
      raw.close();
    }
    await lentBecomes(0);
  });

  it('returns a batch longer than a buffer whole, and reads larger than a buffer', async () => {
    const big = recordValue('rb-big', 0, 3 * BUFFER_BYTES);
    await produce('rb-big', [recordValue('rb-big', 1), big, recordValue('rb-big', 2)]);
    const raw = await RawKafka.open(addr);
    try {
      const p = await fetchOnce(raw, 'rb-big', 1);
      const recs = decodeBatches(p.records ?? Buffer.alloc(0), 1);
      expect(recs[0]?.offset).toBe(1);
      expect(recs[0]?.value?.equals(big)).toBe(true);
      const missesBefore = await metric('ferrymq_kafka_fetch_read_buffer_misses_total');
      const all = decodeBatches(
        (await fetchOnce(raw, 'rb-big', 0, 8 * BUFFER_BYTES)).records ?? Buffer.alloc(0),
      );
      expect(all.map((r) => r.value?.length)).toEqual([700, big.length, 700]);
      // Larger than a buffer: read the allocating way, and counted.
      expect(await metric('ferrymq_kafka_fetch_read_buffer_misses_total')).toBe(missesBefore + 1);
    } finally {
      raw.close();
    }
  });

  it('after DeleteRecords answers out of range below the new start and the new start above it', async () => {
    const t = 'rb-del';
    await produce(
      t,
      Array.from({ length: 200 }, (_, i) => recordValue(t, i)),
    );
    const raw = await RawKafka.open(addr);
    try {
      expect((await fetchAll(raw, t, 0, 200)).length).toBe(200);
      const version = 2;
      const r = await raw.request(
        ApiKey.DeleteRecords,
        version,
        DeleteRecords.encodeDeleteRecordsRequest(version, {
          ...DeleteRecords.defaultDeleteRecordsRequest(),
          timeoutMs: 5000,
          topics: [
            {
              ...DeleteRecords.defaultDeleteRecordsTopic(),
              name: t,
              partitions: [
                { ...DeleteRecords.defaultDeleteRecordsPartition(), partitionIndex: 0, offset: 120n },
              ],
            },
          ],
        }),
      );
      const low = DeleteRecords.decodeDeleteRecordsResponse(version, r).topics[0]?.partitions[0];
      expect(low?.errorCode).toBe(0);
      expect((await fetchOnce(raw, t, 10)).errorCode).toBe(1); // OFFSET_OUT_OF_RANGE
      const p = await fetchOnce(raw, t, 120);
      expect(p.errorCode).toBe(0);
      expect(p.logStartOffset).toBeGreaterThanOrEqual(0n);
      const recs = decodeBatches(p.records ?? Buffer.alloc(0), 120).filter((x) => x.offset >= 120);
      expect(recs[0]?.offset).toBe(120);
      for (const x of recs) expect(x.value?.equals(recordValue(t, x.offset))).toBe(true);
    } finally {
      raw.close();
    }
  });

  it('a consumer that stops reading holds at most the pool, others keep fetching, and it gives the buffers back on close', async () => {
    const t = 'rb-stuck';
    const n = 200;
    await produce(
      t,
      Array.from({ length: n }, (_, i) => recordValue(t, i)),
    );
    // 1,000 answers of ~64 KiB, never read: more than the kernel's socket buffers hold.
    const stuck = connect({ host: '127.0.0.1', port: Number(addr.slice(addr.lastIndexOf(':') + 1)) });
    await new Promise((resolve) => stuck.once('connect', resolve));
    stuck.pause();
    const frames: Buffer[] = [];
    for (let i = 1; i <= 1000; i++) {
      const head = encodeRequestHeader(requestHeaderVersion(ApiKey.Fetch, FETCH_VERSION), {
        requestApiKey: ApiKey.Fetch,
        requestApiVersion: FETCH_VERSION,
        correlationId: i,
        clientId: 'stuck',
      });
      const body = fetchBody(t, 0, BUFFER_BYTES);
      const size = Buffer.alloc(4);
      size.writeInt32BE(head.length + body.length);
      frames.push(size, head, body);
    }
    stuck.write(Buffer.concat(frames));
    try {
      await lentBecomes(BUFFERS);
      const raw = await RawKafka.open(addr);
      try {
        const recs = await fetchAll(raw, t, 0, n);
        expect(recs.length).toBe(n);
        for (const r of recs) expect(r.value?.equals(recordValue(t, r.offset))).toBe(true);
      } finally {
        raw.close();
      }
      expect(await metric('ferrymq_kafka_fetch_read_buffers_lent')).toBe(BUFFERS);
    } finally {
      stuck.destroy();
    }
    await lentBecomes(0);
  });
});
