/**
 * The idempotent append path over a real Storage (memory and segment
 * shards): duplicates, gaps, pipelined and concurrent appends, failures,
 * and the state read back from the log after a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/load.ts';
import { batchSpans, decodeBatches } from '../../storage/records.ts';
import type { Shard } from '../../storage/shard.ts';
import { Storage } from '../../storage/storage.ts';
import { tempDir } from '../../test/helpers/broker.ts';
import { ProducerErrorCode } from './codes.ts';
import { Idempotence, type ProduceOutcome } from './idempotence.ts';
import { ProducerEpochs, ProducerStateTable } from './state.ts';
import { buildBatch, type TestBatch } from './test-batches.ts';

const defaults = resolveConfig(undefined, '(test)', {}).storage;
const open: Storage[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
});

async function storageAt(dir: string): Promise<Storage> {
  const s = await Storage.open(dir, defaults);
  open.push(s);
  return s;
}

function idempotence(recoveryBytesMax = 1 << 20) {
  const counts = { duplicates: 0, refused: [] as number[] };
  const i = new Idempotence({
    table: new ProducerStateTable({ max: 1000, expirationMs: 3_600_000 }),
    epochs: new ProducerEpochs(1000),
    recoveryBytesMax,
    metrics: {
      duplicate: () => counts.duplicates++,
      refused: (code) => counts.refused.push(code),
      recovered: () => {},
    },
  });
  return { i, counts };
}

function send(i: Idempotence, shard: Shard, ...batches: TestBatch[]): Promise<ProduceOutcome> {
  const records = Buffer.concat(batches.map(buildBatch));
  return i.append(shard, records, [...batchSpans(records)]);
}

const b = (baseSequence: number, values: string[], producerId = 1n, producerEpoch = 0): TestBatch => ({
  producerId,
  producerEpoch,
  baseSequence,
  values,
});

async function stored(shard: Shard): Promise<string[]> {
  const res = await shard.read(0, { maxBytes: 1 << 20 });
  return decodeBatches(res.bytes).map((r) => r.value?.toString() ?? '');
}

describe('idempotent append', () => {
  it('answers a resent batch with its original offset and appends nothing', async () => {
    const s = await storageAt(await tempDir('ferrymq-idem-'));
    const shard = await s.createShard(1, { engine: 'memory' });
    const { i, counts } = idempotence();
    expect(await send(i, shard, b(0, ['a', 'b']))).toEqual({
      ok: true,
      baseOffset: 0,
      duplicate: false,
      earliestOffset: 0,
    });
    expect(await send(i, shard, b(2, ['c']))).toEqual({
      ok: true,
      baseOffset: 2,
      duplicate: false,
      earliestOffset: 0,
    });
    expect(await send(i, shard, b(0, ['a', 'b']))).toEqual({ ok: true, baseOffset: 0, duplicate: true });
    expect(await send(i, shard, b(2, ['c']))).toEqual({ ok: true, baseOffset: 2, duplicate: true });
    expect(shard.offsets().latest).toBe(3);
    expect(await stored(shard)).toEqual(['a', 'b', 'c']);
    expect(counts.duplicates).toBe(2);
  });

  it('refuses a gap, a stale epoch, and a transactional or control batch, appending nothing', async () => {
    const s = await storageAt(await tempDir('ferrymq-idem-'));
    const shard = await s.createShard(1, { engine: 'memory' });
    const { i, counts } = idempotence();
    await send(i, shard, b(0, ['a'], 1n, 2));
    expect(await send(i, shard, b(5, ['x'], 1n, 2))).toMatchObject({
      ok: false,
      errorCode: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(await send(i, shard, b(1, ['x'], 1n, 1))).toMatchObject({
      errorCode: ProducerErrorCode.INVALID_PRODUCER_EPOCH,
    });
    expect(await send(i, shard, { ...b(1, ['x']), attributes: 0x10 })).toMatchObject({
      errorCode: ProducerErrorCode.INVALID_TXN_STATE,
    });
    expect(await send(i, shard, { ...b(1, ['x']), attributes: 0x20 })).toMatchObject({
      errorCode: ProducerErrorCode.INVALID_RECORD,
    });
    expect(shard.offsets().latest).toBe(1);
    expect(counts.refused).toHaveLength(4);
    // The refusals left the state as it was: the right next batch still goes in.
    expect(await send(i, shard, b(1, ['b'], 1n, 2))).toMatchObject({ ok: true, baseOffset: 1 });
  });

  it('refuses a batch with a bad CRC before its sequence counts', async () => {
    const s = await storageAt(await tempDir('ferrymq-idem-'));
    const shard = await s.createShard(1, { engine: 'memory' });
    const { i } = idempotence();
    const bad = buildBatch(b(0, ['a']));
    bad.writeUInt8(bad.readUInt8(bad.length - 1) ^ 0xff, bad.length - 1);
    const res = await i.append(shard, bad, [...batchSpans(bad)]);
    expect(res).toMatchObject({ ok: false, errorCode: 2 });
    expect(await send(i, shard, b(0, ['a']))).toMatchObject({ ok: true, baseOffset: 0 });
  });

  it('keeps pipelined batches in order, and answers a retry of an in-flight batch once it lands', async () => {
    const s = await storageAt(await tempDir('ferrymq-idem-'));
    const shard = await s.createShard(1, { engine: 'segment', durability: 'always' });
    const { i } = idempotence();
    // Ten requests in flight at once (no await between them), then a retry of the eighth
    // (one of the last five, which are all that is remembered).
    const sends = Array.from({ length: 10 }, (_, k) =>
      send(i, shard, b(k * 2, [`v${k * 2}`, `v${k * 2 + 1}`])),
    );
    const retry = send(i, shard, b(14, ['v14', 'v15']));
    const tooOld = send(i, shard, b(4, ['v4', 'v5']));
    const results = await Promise.all(sends);
    expect(results.map((r) => (r.ok ? r.baseOffset : -1))).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(await retry).toEqual({ ok: true, baseOffset: 14, duplicate: true });
    expect(await tooOld).toMatchObject({ errorCode: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(await stored(shard)).toEqual(Array.from({ length: 20 }, (_, k) => `v${k}`));
  });

  it('checks several batches of one request in order, and refuses mixing a retry with new batches', async () => {
    const s = await storageAt(await tempDir('ferrymq-idem-'));
    const shard = await s.createShard(1, { engine: 'memory' });
    const { i } = idempotence();
    // Two producers and a plain batch in one request.
    const plain = { ...b(-1, ['p'], -1n, -1) };
    expect(await send(i, shard, b(0, ['a']), b(1, ['b', 'c']), b(0, ['z'], 2n), plain)).toMatchObject({
      ok: true,
      baseOffset: 0,
    });
    // A second batch that skips within the request fails the whole request.
    expect(await send(i, shard, b(3, ['d']), b(5, ['e']))).toMatchObject({
      errorCode: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(await send(i, shard, b(1, ['b', 'c']), b(3, ['d']))).toMatchObject({
      errorCode: ProducerErrorCode.INVALID_RECORD,
    });
    // Both batches retried together: the first one's original offset.
    expect(await send(i, shard, b(0, ['a']), b(1, ['b', 'c']))).toEqual({
      ok: true,
      baseOffset: 0,
      duplicate: true,
    });
    expect(await send(i, shard, b(1, ['z'], 2n))).toMatchObject({ ok: true, baseOffset: 5 });
    expect(await stored(shard)).toEqual(['a', 'b', 'c', 'z', 'p', 'z']);
  });

  it('takes a failed append out of the state, so its retry is accepted', async () => {
    const s = await storageAt(await tempDir('ferrymq-idem-'));
    const shard = await s.createShard(1, { engine: 'memory' });
    const { i } = idempotence();
    await send(i, shard, b(0, ['a']));
    await s.deleteShard(1);
    expect(await send(i, shard, b(1, ['b']))).toMatchObject({ ok: false });
    const again = await s.createShard(2, { engine: 'memory' });
    // Same producer, other partition: unknown there, any sequence goes.
    expect(await send(i, again, b(1, ['b']))).toMatchObject({ ok: true, baseOffset: 0 });
  });

  it('rebuilds the state from the log after a restart: the last batches are still duplicates', async () => {
    const dir = await tempDir('ferrymq-idem-');
    let s = await storageAt(dir);
    let shard = await s.createShard(1, { engine: 'segment', durability: 'always' });
    let { i } = idempotence();
    for (let k = 0; k < 300; k++) {
      // Two producers interleaved; producer 2 moved to epoch 1 half way.
      await send(i, shard, b(k, [`a${k}`], 1n));
      const epoch = k < 150 ? 0 : 1;
      await send(i, shard, b(k < 150 ? k : k - 150, [`b${k}`], 2n, epoch));
    }
    await s.close();
    open.splice(open.indexOf(s), 1);

    s = await storageAt(dir);
    shard = s.shard(1);
    ({ i } = idempotence());
    // The last five of each producer are duplicates; the one before is out of order; the next goes in.
    expect(await send(i, shard, b(299, ['a299'], 1n))).toEqual({
      ok: true,
      baseOffset: 598,
      duplicate: true,
    });
    expect(await send(i, shard, b(295, ['a295'], 1n))).toEqual({
      ok: true,
      baseOffset: 590,
      duplicate: true,
    });
    expect(await send(i, shard, b(294, ['a294'], 1n))).toMatchObject({
      errorCode: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(await send(i, shard, b(149, ['b299'], 2n, 1))).toEqual({
      ok: true,
      baseOffset: 599,
      duplicate: true,
    });
    expect(await send(i, shard, b(149, ['b149'], 2n, 0))).toMatchObject({
      errorCode: ProducerErrorCode.INVALID_PRODUCER_EPOCH,
    });
    expect(await send(i, shard, b(300, ['a300'], 1n))).toMatchObject({ ok: true, baseOffset: 600 });
  });

  it('reads back no more than its byte budget: a producer further back is unknown', async () => {
    const dir = await tempDir('ferrymq-idem-');
    let s = await storageAt(dir);
    let shard = await s.createShard(1, { engine: 'segment' });
    let { i } = idempotence();
    await send(i, shard, b(0, ['old'], 9n));
    for (let k = 0; k < 200; k++) await send(i, shard, b(k, ['x'.repeat(200)], 1n));
    await s.close();
    open.splice(open.indexOf(s), 1);

    s = await storageAt(dir);
    shard = s.shard(1);
    ({ i } = idempotence(8 * 1024));
    // Producer 1's tail is within the budget: still known.
    expect(await send(i, shard, b(199, ['x'.repeat(200)], 1n))).toMatchObject({ duplicate: true });
    // Producer 9 is beyond it: unknown, so its resend is accepted as new (Kafka's rule for unknown producers).
    expect(await send(i, shard, b(0, ['old'], 9n))).toMatchObject({ ok: true, duplicate: false });
  });
});
