/**
 * Produce answers carry the partition's log start offset: after
 * DeleteRecords moved it, a plain batch, an idempotent batch and a retried
 * idempotent batch (answered from the producer state, nothing appended)
 * all report the new start, as Kafka's LogAppendInfo.logStartOffset does.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBatch, type TestBatch } from '../../kafka/producers/test-batches.ts';
import { ApiKey, DeleteRecords, InitProducerId, Produce } from '../../kafka/protocol/generated/index.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';

const PLAIN = { producerId: -1n, producerEpoch: -1, baseSequence: -1 };

async function produce(
  raw: RawKafka,
  topic: string,
  batch: TestBatch,
): Promise<Produce.PartitionProduceResponse> {
  const version = 9;
  const body = Produce.encodeProduceRequest(version, {
    ...Produce.defaultProduceRequest(),
    acks: -1,
    timeoutMs: 10_000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch(batch) }] }],
  });
  const res = Produce.decodeProduceResponse(version, await raw.request(ApiKey.Produce, version, body));
  const p = res.responses[0]?.partitionResponses[0];
  if (!p) throw new Error('no partition in the produce response');
  return p;
}

async function deleteRecords(raw: RawKafka, topic: string, offset: bigint): Promise<bigint> {
  const req = {
    ...DeleteRecords.defaultDeleteRecordsRequest(),
    timeoutMs: 1000,
    topics: [
      {
        ...DeleteRecords.defaultDeleteRecordsTopic(),
        name: topic,
        partitions: [{ ...DeleteRecords.defaultDeleteRecordsPartition(), partitionIndex: 0, offset }],
      },
    ],
  };
  const res = DeleteRecords.decodeDeleteRecordsResponse(
    2,
    await raw.request(ApiKey.DeleteRecords, 2, DeleteRecords.encodeDeleteRecordsRequest(2, req)),
  );
  const p = res.topics[0]?.partitions[0];
  expect(p?.errorCode).toBe(0);
  return p?.lowWatermark ?? -1n;
}

describe('produce answers the log start offset', () => {
  let broker: BrokerProcess;
  let raw: RawKafka;

  beforeAll(async () => {
    broker = await spawnBroker();
    await broker.ready;
    raw = await RawKafka.open(broker.listeners().kafka as string);
  });

  afterAll(async () => {
    raw?.socket.destroy();
    await broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('for plain, idempotent and retried batches, after DeleteRecords moved it', async () => {
    const topic = `log-start-${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      const p = await produce(raw, topic, { ...PLAIN, values: ['a', 'b'] });
      expect(p.errorCode).toBe(0);
      expect(p.baseOffset).toBe(BigInt(i * 2));
      expect(p.logStartOffset).toBe(0n);
    }
    const start = await deleteRecords(raw, topic, 4n);
    expect(start).toBe(4n);
    const plain = await produce(raw, topic, { ...PLAIN, values: ['c'] });
    expect([plain.errorCode, plain.baseOffset, plain.logStartOffset]).toEqual([0, 6n, 4n]);

    const init = InitProducerId.decodeInitProducerIdResponse(
      4,
      await raw.request(
        ApiKey.InitProducerId,
        4,
        InitProducerId.encodeInitProducerIdRequest(4, {
          ...InitProducerId.defaultInitProducerIdRequest(),
          transactionalId: null,
          transactionTimeoutMs: 60_000,
          producerId: -1n,
          producerEpoch: -1,
        }),
      ),
    );
    expect(init.errorCode).toBe(0);
    const idem = {
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      baseSequence: 0,
      values: ['d', 'e'],
    };
    const first = await produce(raw, topic, idem);
    expect([first.errorCode, first.baseOffset, first.logStartOffset]).toEqual([0, 7n, 4n]);
    const retried = await produce(raw, topic, idem);
    expect([retried.errorCode, retried.baseOffset, retried.logStartOffset]).toEqual([0, 7n, 4n]);

    // A retry after the start moved again reports the start as it is now.
    expect(await deleteRecords(raw, topic, 8n)).toBe(8n);
    const late = await produce(raw, topic, idem);
    expect([late.errorCode, late.baseOffset, late.logStartOffset]).toEqual([0, 7n, 8n]);
  });
});
