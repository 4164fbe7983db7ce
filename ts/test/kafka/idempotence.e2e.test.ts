/**
 * The idempotent producer end to end against the real broker: kafkajs with
 * `idempotent: true`, and raw requests built with the generated codec and
 * hand-made magic-2 batches (real CRC-32C) that resend, skip and fence;
 * a SIGKILL and restart between a batch and its resend; Produce v0-2
 * advertised but refused; compressed batches stored as sent; Fetch
 * isolation levels.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProducerFields } from '../../kafka/producers/batch-header.ts';
import { buildBatch, type TestBatch } from '../../kafka/producers/test-batches.ts';
import { ApiKey, ApiVersions, Fetch, InitProducerId, Produce } from '../../kafka/protocol/generated/index.ts';
import { batchSpans, decodeBatches } from '../../storage/records.ts';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';

const OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
const INVALID_PRODUCER_EPOCH = 47;
const COORDINATOR_NOT_AVAILABLE = 15;

async function initProducerId(
  raw: RawKafka,
  opts: {
    version?: number;
    transactionalId?: string | null;
    producerId?: bigint;
    producerEpoch?: number;
  } = {},
): Promise<InitProducerId.InitProducerIdResponse> {
  const version = opts.version ?? 4;
  const body = InitProducerId.encodeInitProducerIdRequest(version, {
    ...InitProducerId.defaultInitProducerIdRequest(),
    transactionalId: opts.transactionalId ?? null,
    transactionTimeoutMs: 60_000,
    producerId: opts.producerId ?? -1n,
    producerEpoch: opts.producerEpoch ?? -1,
  });
  return InitProducerId.decodeInitProducerIdResponse(
    version,
    await raw.request(ApiKey.InitProducerId, version, body),
  );
}

async function produce(
  raw: RawKafka,
  topic: string,
  batches: TestBatch[],
  version = 9,
): Promise<Produce.PartitionProduceResponse> {
  const body = Produce.encodeProduceRequest(version, {
    ...Produce.defaultProduceRequest(),
    acks: -1,
    timeoutMs: 10_000,
    topicData: [
      { name: topic, partitionData: [{ index: 0, records: Buffer.concat(batches.map(buildBatch)) }] },
    ],
  });
  const res = Produce.decodeProduceResponse(version, await raw.request(ApiKey.Produce, version, body));
  const p = res.responses[0]?.partitionResponses[0];
  if (!p) throw new Error('no partition in the produce response');
  return p;
}

async function fetchAt(
  raw: RawKafka,
  topic: string,
  offset: number,
  isolationLevel: number,
  version = 11,
): Promise<Fetch.PartitionData> {
  const req: Fetch.FetchRequest = {
    ...Fetch.defaultFetchRequest(),
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel,
    topics: [
      {
        ...Fetch.defaultFetchTopic(),
        topic,
        partitions: [
          {
            ...Fetch.defaultFetchPartition(),
            partition: 0,
            fetchOffset: BigInt(offset),
            partitionMaxBytes: 1 << 20,
          },
        ],
      },
    ],
  };
  const res = Fetch.decodeFetchResponse(
    version,
    await raw.request(ApiKey.Fetch, version, Fetch.encodeFetchRequest(version, req)),
  );
  const p = res.responses[0]?.partitions[0];
  if (!p) throw new Error('no partition in the fetch response');
  return p;
}

/** Every stored batch of a partition, whole, following the log to its end. */
async function storedBatches(raw: RawKafka, topic: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let next = 0;
  for (;;) {
    const p = await fetchAt(raw, topic, next, 0);
    expect(p.errorCode).toBe(0);
    const bytes = p.records ?? Buffer.alloc(0);
    if (bytes.length === 0) return out;
    for (const [start, end] of batchSpans(bytes)) {
      const b = bytes.subarray(start, end);
      const base = Number(b.readBigInt64BE(0));
      const last = base + b.readInt32BE(23);
      if (last < next) continue;
      out.push(b);
      next = last + 1;
    }
    if (BigInt(next) >= p.highWatermark) return out;
  }
}

describe('kafka idempotent producer', () => {
  let broker: BrokerProcess;
  let addr: string;

  beforeAll(async () => {
    broker = await spawnBroker();
    await broker.ready;
    addr = broker.listeners().kafka as string;
  });

  afterAll(async () => {
    await broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('kafkajs with idempotent: true produces many records, each stored once, with its producer id and contiguous sequences', async () => {
    const topic = `idem-${randomUUID()}`;
    const kafka = new Kafka({ brokers: [addr], clientId: 'ferrymq-idem', logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const total = 3000;
    for (let i = 0; i < total; i += 150) {
      const messages = Array.from({ length: 150 }, (_, k) => ({ key: `k${i + k}`, value: `v${i + k}` }));
      const res = await producer.send({ topic, messages, acks: -1 });
      expect(res[0]?.errorCode).toBe(0);
      expect(Number(res[0]?.baseOffset)).toBe(i);
    }
    await producer.disconnect();

    const raw = await RawKafka.open(addr);
    try {
      const batches = await storedBatches(raw, topic);
      const values = batches.flatMap((b) => decodeBatches(b).map((r) => r.value?.toString()));
      expect(values).toEqual(Array.from({ length: total }, (_, i) => `v${i}`));
      const fields = batches.map((b) => readProducerFields(b, 0));
      const pid = fields[0]?.producerId ?? -1;
      expect(pid).toBeGreaterThanOrEqual(0);
      let seq = 0;
      for (const [i, f] of fields.entries()) {
        expect(f.producerId).toBe(pid);
        expect(f.producerEpoch).toBe(0);
        // One producer on a fresh partition: a batch's first sequence is its base offset.
        expect(f.firstSeq).toBe(seq);
        expect(Number((batches[i] as Buffer).readBigInt64BE(0))).toBe(seq);
        seq = f.lastSeq + 1;
      }
      expect(seq).toBe(total);
    } finally {
      raw.close();
    }
  });

  it('answers a resent batch with its original offset and appends nothing; refuses a gap and a fenced epoch', async () => {
    const topic = `idem-raw-${randomUUID()}`;
    const raw = await RawKafka.open(addr);
    try {
      const init = await initProducerId(raw);
      expect(init.errorCode).toBe(0);
      expect(init.producerEpoch).toBe(0);
      const pid = init.producerId;
      const b = (seq: number, values: string[], epoch = 0): TestBatch => ({
        producerId: pid,
        producerEpoch: epoch,
        baseSequence: seq,
        values,
      });

      expect(await produce(raw, topic, [b(0, ['a', 'b', 'c'])])).toMatchObject({
        errorCode: 0,
        baseOffset: 0n,
      });
      expect(await produce(raw, topic, [b(3, ['d'])])).toMatchObject({ errorCode: 0, baseOffset: 3n });
      // The same batches again (a retry whose answer was lost): the original offsets, nothing appended.
      expect(await produce(raw, topic, [b(0, ['a', 'b', 'c'])])).toMatchObject({
        errorCode: 0,
        baseOffset: 0n,
      });
      expect(await produce(raw, topic, [b(3, ['d'])])).toMatchObject({ errorCode: 0, baseOffset: 3n });
      expect((await fetchAt(raw, topic, 0, 0)).highWatermark).toBe(4n);

      // A skipped sequence: OUT_OF_ORDER_SEQUENCE_NUMBER, nothing appended.
      expect((await produce(raw, topic, [b(6, ['x'])])).errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
      expect((await fetchAt(raw, topic, 0, 0)).highWatermark).toBe(4n);

      // Re-initialising with the current id and epoch bumps the epoch (KIP-360); the old epoch is fenced.
      const bumped = await initProducerId(raw, { producerId: pid, producerEpoch: 0 });
      expect(bumped).toMatchObject({ errorCode: 0, producerId: pid, producerEpoch: 1 });
      expect((await produce(raw, topic, [b(4, ['stale'])])).errorCode).toBe(INVALID_PRODUCER_EPOCH);
      expect((await produce(raw, topic, [b(3, ['x'], 1)])).errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
      expect(await produce(raw, topic, [b(0, ['e'], 1)])).toMatchObject({ errorCode: 0, baseOffset: 4n });

      const values = (await storedBatches(raw, topic)).flatMap((x) =>
        decodeBatches(x).map((r) => r.value?.toString()),
      );
      expect(values).toEqual(['a', 'b', 'c', 'd', 'e']);

      // Transactions are not served: a transactional id gets the answer of a missing coordinator.
      const tx = await initProducerId(raw, { transactionalId: 'tx-1' });
      expect(tx).toMatchObject({ errorCode: COORDINATOR_NOT_AVAILABLE, producerId: -1n });
    } finally {
      raw.close();
    }
  });

  it('answers every request of a pipelined burst in order, and a resend of the burst with the original offsets', async () => {
    const topic = `idem-burst-${randomUUID()}`;
    const raw = await RawKafka.open(addr);
    try {
      const { producerId } = await initProducerId(raw);
      const burst = (): Promise<Produce.PartitionProduceResponse>[] =>
        Array.from({ length: 5 }, (_, k) =>
          produce(raw, topic, [
            { producerId, producerEpoch: 0, baseSequence: k * 10, values: Array(10).fill(`r${k}`) },
          ]),
        );
      const first = await Promise.all(burst());
      expect(first.map((p) => [p.errorCode, p.baseOffset])).toEqual(
        [0, 1, 2, 3, 4].map((k) => [0, BigInt(k * 10)]),
      );
      const again = await Promise.all(burst());
      expect(again.map((p) => [p.errorCode, p.baseOffset])).toEqual(
        [0, 1, 2, 3, 4].map((k) => [0, BigInt(k * 10)]),
      );
      expect((await fetchAt(raw, topic, 0, 0)).highWatermark).toBe(50n);
    } finally {
      raw.close();
    }
  });

  it('stores compressed batches as they came (codec bits and bytes), with no decompression on produce', async () => {
    const topic = `idem-codec-${randomUUID()}`;
    const raw = await RawKafka.open(addr);
    try {
      const { producerId } = await initProducerId(raw);
      const sent = (['gzip', 'zstd'] as const).map((codec, k) =>
        buildBatch({ producerId, producerEpoch: 0, baseSequence: k * 3, values: ['x', 'y', 'z'], codec }),
      );
      for (const [k, batch] of sent.entries()) {
        const body = Produce.encodeProduceRequest(9, {
          ...Produce.defaultProduceRequest(),
          acks: -1,
          timeoutMs: 10_000,
          topicData: [{ name: topic, partitionData: [{ index: 0, records: Buffer.from(batch) }] }],
        });
        const res = Produce.decodeProduceResponse(9, await raw.request(ApiKey.Produce, 9, body));
        expect(res.responses[0]?.partitionResponses[0]).toMatchObject({
          errorCode: 0,
          baseOffset: BigInt(k * 3),
        });
      }
      const stored = await storedBatches(raw, topic);
      expect(stored).toHaveLength(2);
      for (const [k, s] of stored.entries()) {
        const original = sent[k] as Buffer;
        expect(s.readInt16BE(21) & 0x07).toBe(k === 0 ? 1 : 4);
        // Everything the CRC covers (attributes to the end) is byte for byte what was sent.
        expect(s.subarray(17).equals(original.subarray(17))).toBe(true);
      }
    } finally {
      raw.close();
    }
  });

  it('answers both isolation levels: last stable offset = high watermark, aborted transactions [] or null', async () => {
    const topic = `idem-iso-${randomUUID()}`;
    const raw = await RawKafka.open(addr);
    try {
      const { producerId } = await initProducerId(raw);
      await produce(raw, topic, [{ producerId, producerEpoch: 0, baseSequence: 0, values: ['a', 'b'] }]);
      for (const version of [4, 11, 12]) {
        const committed = await fetchAt(raw, topic, 0, 1, version);
        expect(committed).toMatchObject({ errorCode: 0, highWatermark: 2n, lastStableOffset: 2n });
        expect(committed.abortedTransactions).toEqual([]);
        expect(decodeBatches(committed.records ?? Buffer.alloc(0)).map((r) => r.value?.toString())).toEqual([
          'a',
          'b',
        ]);
        const uncommitted = await fetchAt(raw, topic, 0, 0, version);
        expect(uncommitted).toMatchObject({ errorCode: 0, highWatermark: 2n, lastStableOffset: 2n });
        expect(uncommitted.abortedTransactions).toBeNull();
      }
    } finally {
      raw.close();
    }
  });

  it('advertises Produce 0-12 and InitProducerId 0-5, and closes a connection that sends Produce v2, as Kafka 4 does', async () => {
    const topic = `idem-v2-${randomUUID()}`;
    const raw = await RawKafka.open(addr);
    const other = await RawKafka.open(addr);
    try {
      const av = ApiVersions.decodeApiVersionsResponse(
        3,
        await raw.request(
          ApiKey.ApiVersions,
          3,
          ApiVersions.encodeApiVersionsRequest(3, ApiVersions.defaultApiVersionsRequest()),
        ),
      );
      expect(av.apiKeys.find((a) => a.apiKey === ApiKey.Produce)).toMatchObject({
        minVersion: 0,
        maxVersion: 12,
      });
      expect(av.apiKeys.find((a) => a.apiKey === ApiKey.InitProducerId)).toMatchObject({
        minVersion: 0,
        maxVersion: 5,
      });

      // A Produce v2 body by hand (the v3+ codec cannot write it): acks, timeout, one topic, one partition.
      const name = Buffer.from(topic);
      const batch = buildBatch({ producerId: -1n, producerEpoch: -1, baseSequence: -1, values: ['v2'] });
      const body = Buffer.alloc(2 + 4 + 4 + 2 + name.length + 4 + 4 + 4 + batch.length);
      let at = body.writeInt16BE(-1, 0);
      at = body.writeInt32BE(10_000, at);
      at = body.writeInt32BE(1, at);
      at = body.writeInt16BE(name.length, at);
      at += name.copy(body, at);
      at = body.writeInt32BE(1, at);
      at = body.writeInt32BE(0, at);
      at = body.writeInt32BE(batch.length, at);
      batch.copy(body, at);
      await expect(raw.request(ApiKey.Produce, 2, body)).rejects.toThrow('connection closed');
      await raw.closed;

      // Only that connection: the other one still produces, and nothing of the v2 request was stored.
      expect(
        await produce(other, topic, [
          { producerId: -1n, producerEpoch: -1, baseSequence: -1, values: ['v9'] },
        ]),
      ).toMatchObject({
        errorCode: 0,
        baseOffset: 0n,
      });
    } finally {
      raw.close();
      other.close();
    }
  });
});

describe('kafka idempotent producer across a SIGKILL', () => {
  it('rebuilds producer state from the log: the last batch resent after a restart is not stored twice', async () => {
    const dataDir = await tempDir('ferrymq-idem-kill-');
    const env = { FERRYMQ_STORAGE__DURABILITY: 'always' };
    const topic = `idem-kill-${randomUUID()}`;
    let broker = await spawnBroker({ dataDir, env });
    await broker.ready;
    let raw = await RawKafka.open(broker.listeners().kafka as string);
    const { producerId } = await initProducerId(raw);
    const b = (seq: number, values: string[]): TestBatch => ({
      producerId,
      producerEpoch: 0,
      baseSequence: seq,
      values,
    });
    for (let k = 0; k < 20; k++) {
      expect(await produce(raw, topic, [b(k * 2, [`m${k * 2}`, `m${k * 2 + 1}`])])).toMatchObject({
        errorCode: 0,
      });
    }
    raw.close();
    broker.signal('SIGKILL');
    expect((await broker.exited).signal).toBe('SIGKILL');

    broker = await spawnBroker({ dataDir, env });
    try {
      await broker.ready;
      raw = await RawKafka.open(broker.listeners().kafka as string);
      // The last batch, and one before it, resent with their sequences: the original offsets.
      expect(await produce(raw, topic, [b(38, ['m38', 'm39'])])).toMatchObject({
        errorCode: 0,
        baseOffset: 38n,
      });
      expect(await produce(raw, topic, [b(32, ['m32', 'm33'])])).toMatchObject({
        errorCode: 0,
        baseOffset: 32n,
      });
      // A gap is still a gap, and the next sequence goes on where the log ended.
      expect((await produce(raw, topic, [b(41, ['x'])])).errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
      expect(await produce(raw, topic, [b(40, ['m40'])])).toMatchObject({ errorCode: 0, baseOffset: 40n });
      // A new producer id after the restart is not one handed out before it.
      const again = await initProducerId(raw);
      expect(again.producerId).toBeGreaterThan(producerId);
      const values = (await storedBatches(raw, topic)).flatMap((x) =>
        decodeBatches(x).map((r) => r.value?.toString()),
      );
      expect(values).toEqual(Array.from({ length: 41 }, (_, i) => `m${i}`));
      raw.close();
    } finally {
      broker.signal('SIGTERM');
      await broker.exited;
    }
  });
});
