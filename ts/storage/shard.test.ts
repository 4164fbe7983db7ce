import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import type { StorageConfig } from '../config/schema.ts';
import { tempDir } from '../test/helpers/broker.ts';
import {
  decodeBatches,
  OUT_OF_LINE_VALUE_BYTES,
  packedInlineSize,
  packInto,
  type Record,
} from './records.ts';
import type { Engine, ShardMetrics } from './shard.ts';
import { Storage } from './storage.ts';

const defaults = resolveConfig(undefined, '(test)', {}).storage;
const open: Storage[] = [];

async function openStorage(dir?: string, overrides: Partial<StorageConfig> = {}, metrics?: ShardMetrics) {
  const s = await Storage.open(
    dir ?? (await tempDir('ferrymq-storage-')),
    { ...defaults, ...overrides },
    metrics,
  );
  open.push(s);
  return s;
}

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
});

function countingMetrics() {
  const m = { calls: 0, records: 0, errors: [] as string[] };
  const metrics: ShardMetrics = {
    appendCalls: (_e, n) => {
      m.calls += n;
    },
    appendedRecords: (_e, n) => {
      m.records += n;
    },
    appendedBytes: () => {},
    appendErrors: (_e, code) => m.errors.push(code),
    readErrors: (_e, code) => m.errors.push(code),
  };
  return { m, metrics };
}

const rec = (value: string, extra: Partial<Record> = {}): Record => ({ value: Buffer.from(value), ...extra });

describe.each(['memory', 'segment', 'rocks'] as Engine[])('Shard on the %s engine', (engine) => {
  it('appends records with contiguous offsets and reads them back exactly', async () => {
    const storage = await openStorage();
    const shard = await storage.createShard(1, { engine, durability: 'always' });
    const a = await shard.append([
      rec('one', { key: Buffer.from('k1'), timestampMs: 1_700_000_000_000 }),
      rec('two', {
        headers: [
          { key: 'mqtt.qos', value: Buffer.from([1]) },
          { key: 'nil', value: null },
        ],
      }),
    ]);
    expect(a).toMatchObject({ baseOffset: 0, lastOffset: 1 });
    const b = await shard.append([{ key: null, value: null }]);
    expect(b).toMatchObject({ baseOffset: 2, lastOffset: 2 });
    expect(shard.offsets()).toEqual({ earliest: 0, latest: 3, highWatermark: 3 });

    const r = await shard.read(0, { maxBytes: 1 << 20 });
    expect(r.nextOffset).toBe(3);
    const got = decodeBatches(r.bytes);
    expect(got.map((x) => x.offset)).toEqual([0, 1, 2]);
    expect(got[0]?.key?.toString()).toBe('k1');
    expect(got[0]?.timestampMs).toBe(1_700_000_000_000);
    expect(got[1]?.value?.toString()).toBe('two');
    expect(got[1]?.headers.map((h) => [h.key.toString(), h.value])).toEqual([
      ['mqtt.qos', Buffer.from([1])],
      ['nil', null],
    ]);
    expect(got[2]).toMatchObject({ key: null, value: null });
    // A read from the middle starts at the containing batch; decoding skips what is before.
    expect(decodeBatches((await shard.read(1, { maxBytes: 1 })).bytes, 1).map((x) => x.offset)).toEqual([1]);
  });

  it('groups appends made in the same tick into one native call', async () => {
    const { m, metrics } = countingMetrics();
    const storage = await openStorage(undefined, {}, metrics);
    const shard = await storage.createShard(7, { engine });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => shard.append([rec(`m${i}`)])));
    expect(results.map((r) => r.baseOffset)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // The first append goes alone; the 199 queued behind it share one call.
    expect(m.calls).toBeLessThanOrEqual(engine === 'memory' ? 200 : 2);
    expect(m.records).toBe(200);
    const values = decodeBatches((await shard.read(0, { maxBytes: 1 << 20 })).bytes).map((r) =>
      r.value?.toString(),
    );
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });

  it('group-commits appends past batch_bytes_max as several batches in one call', async () => {
    const { m, metrics } = countingMetrics();
    const storage = await openStorage(undefined, { batch_bytes_max: 4096 }, metrics);
    const shard = await storage.createShard(3, { engine, durability: 'always' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => shard.append([{ value: Buffer.alloc(1000, i) }])),
    );
    expect(results.map((r) => r.baseOffset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(m.calls).toBeLessThanOrEqual(engine === 'memory' ? 20 : 2);
    const r = await shard.read(0, { maxBytes: 1 << 20 });
    const decoded = decodeBatches(r.bytes);
    expect(decoded.map((x) => x.value?.[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // Every stored batch respects the limit.
    let at = 0;
    while (at < r.bytes.length) {
      const len = 12 + r.bytes.readInt32BE(at + 8);
      expect(len).toBeLessThanOrEqual(4096);
      at += len;
    }
  });

  it('stores large values passed out of line, mixed with small ones, byte for byte', async () => {
    // The packer leaves exactly the values from OUT_OF_LINE_VALUE_BYTES up out of the packed Buffer.
    const probe = [OUT_OF_LINE_VALUE_BYTES - 1, OUT_OF_LINE_VALUE_BYTES, 3].map((n) => ({
      value: Buffer.alloc(n),
    }));
    const outOfLine: Buffer[] = [];
    const inline = packedInlineSize(probe);
    expect(packInto(probe, Buffer.alloc(inline), 0, 0, outOfLine)).toBe(inline);
    expect(outOfLine).toEqual([probe[1]?.value]);
    const storage = await openStorage(undefined, { batch_bytes_max: 256 * 1024 });
    const shard = await storage.createShard(4, { engine, durability: 'always' });
    // Sizes around OUT_OF_LINE_VALUE_BYTES, several callers per call and per batch.
    const sizes = [OUT_OF_LINE_VALUE_BYTES - 1, OUT_OF_LINE_VALUE_BYTES, 100_000, 5, 200_000, 0, 70_000];
    const values = sizes.map((n, i) => randomBytes(n).fill(i, 0, Math.min(n, 1)));
    const results = await Promise.all(
      values.map((v, i) => shard.append([{ key: Buffer.from(`k${i}`), value: v }, rec(`small${i}`)])),
    );
    expect(results.map((r) => r.baseOffset)).toEqual(values.map((_, i) => 2 * i));
    const got: Buffer[] = [];
    while (got.length < 2 * values.length) {
      const r = await shard.read(got.length, { maxBytes: 1 << 20 });
      for (const x of decodeBatches(r.bytes, got.length)) got.push(x.value as Buffer);
    }
    const big = got.filter((_, i) => i % 2 === 0);
    for (const [i, b] of big.entries()) expect(b.equals(values[i] as Buffer), `value ${i}`).toBe(true);
    expect(got.filter((_, i) => i % 2 === 1).map((b) => b.toString())).toEqual(
      values.map((_, i) => `small${i}`),
    );
  });

  it('stores Kafka batches as they came and serves the same bytes', async () => {
    const storage = await openStorage();
    const src = await storage.createShard(1, { engine });
    await src.append([rec('a'), rec('b')]);
    await src.append([rec('c')]);
    const stored = (await src.read(0, { maxBytes: 1 << 20 })).bytes;
    const dst = await storage.createShard(2, { engine });
    await dst.append([rec('x')]);
    const copy = Buffer.from(stored);
    const r = await dst.appendBatches(copy);
    expect(r).toMatchObject({ baseOffset: 1, lastOffset: 3 });
    const out = await dst.read(1, { maxBytes: 1 << 20 });
    const decoded = decodeBatches(out.bytes, 1);
    expect(decoded.map((x) => [x.offset, x.value?.toString()])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
    // Offsets were patched in place in the caller's buffer.
    expect(copy.readBigInt64BE(0)).toBe(1n);
  });

  it('refuses a batch with a bad CRC without failing appends grouped with it', async () => {
    const storage = await openStorage();
    const src = await storage.createShard(1, { engine });
    await src.append([rec('payload')]);
    const good = (await src.read(0, { maxBytes: 1 << 20 })).bytes;
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    const dst = await storage.createShard(2, { engine });
    const [okA, broken, okB] = await Promise.allSettled([
      dst.append([rec('first')]),
      dst.appendBatches(bad),
      dst.appendBatches(Buffer.from(good)),
    ]);
    expect(okA.status).toBe('fulfilled');
    expect(broken).toMatchObject({ status: 'rejected', reason: { code: 'FERRY_ERR_INVALID_BATCH' } });
    expect(okB.status).toBe('fulfilled');
    expect(dst.offsets().latest).toBe(2);
  });

  it('appends Kafka batches made in one turn in one native call, patching each caller its own offsets', async () => {
    const { m, metrics } = countingMetrics();
    const storage = await openStorage(undefined, {}, metrics);
    const src = await storage.createShard(1, { engine });
    await src.append([rec('a'), rec('b')]);
    const two = (await src.read(0, { maxBytes: 1 << 20 })).bytes;
    const dst = await storage.createShard(2, { engine });
    const calls = m.calls;
    const parts = [Buffer.from(two), Buffer.from(two), Buffer.from(two)];
    const results = await Promise.all(parts.map((b) => dst.appendBatches(b)));
    expect(m.calls - calls).toBe(1);
    expect(results.map((r) => [r.baseOffset, r.lastOffset])).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(parts.map((b) => b.readBigInt64BE(0))).toEqual([0n, 2n, 4n]);
    const out = await dst.read(0, { maxBytes: 1 << 20 });
    expect(decodeBatches(out.bytes, 0).map((x) => [x.offset, x.value?.toString()])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'a'],
      [3, 'b'],
      [4, 'a'],
      [5, 'b'],
    ]);
  });

  it('appends Kafka batches of more than 64 KiB made in one turn (past the synchronous memory path)', async () => {
    const storage = await openStorage();
    const src = await storage.createShard(1, { engine });
    await src.append([{ value: Buffer.alloc(20_000, 1) }]);
    const one = (await src.read(0, { maxBytes: 1 << 20 })).bytes;
    const dst = await storage.createShard(2, { engine });
    const parts = Array.from({ length: 5 }, () => Buffer.from(one));
    const results = await Promise.all(parts.map((b) => dst.appendBatches(b)));
    expect(results.map((r) => r.baseOffset)).toEqual([0, 1, 2, 3, 4]);
    expect(parts.map((b) => b.readBigInt64BE(0))).toEqual([0n, 1n, 2n, 3n, 4n]);
    const out = await dst.read(0, { maxBytes: 1 << 20 });
    const values = decodeBatches(out.bytes, 0).map((x) => x.value as Buffer);
    expect(values).toHaveLength(5);
    for (const v of values) expect(v.equals(Buffer.alloc(20_000, 1))).toBe(true);
  });

  it('isolates a bad Kafka batch made in the same turn as good ones, keeping their order', async () => {
    const storage = await openStorage();
    const src = await storage.createShard(1, { engine });
    await src.append([rec('payload')]);
    const good = (await src.read(0, { maxBytes: 1 << 20 })).bytes;
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    const dst = await storage.createShard(2, { engine });
    const [a, broken, b] = await Promise.allSettled([
      dst.appendBatches(Buffer.from(good)),
      dst.appendBatches(bad),
      dst.appendBatches(Buffer.from(good)),
    ]);
    expect(a).toMatchObject({ status: 'fulfilled', value: { baseOffset: 0 } });
    expect(broken).toMatchObject({ status: 'rejected', reason: { code: 'FERRY_ERR_INVALID_BATCH' } });
    expect(b).toMatchObject({ status: 'fulfilled', value: { baseOffset: 1 } });
    expect(dst.offsets().latest).toBe(2);
  });

  it('refuses an append over batch_bytes_max with FERRY_ERR_RECORD_TOO_LARGE', async () => {
    const storage = await openStorage(undefined, { batch_bytes_max: 4096 });
    const shard = await storage.createShard(1, { engine });
    await expect(shard.append([{ value: Buffer.alloc(5000) }])).rejects.toMatchObject({
      code: 'FERRY_ERR_RECORD_TOO_LARGE',
    });
    expect((await shard.append([rec('small')])).baseOffset).toBe(0);
  });

  it('finds offsets by timestamp, truncates and deletes before an offset', async () => {
    const storage = await openStorage();
    const shard = await storage.createShard(1, { engine });
    for (let i = 0; i < 5; i++) await shard.append([rec(`v${i}`, { timestampMs: 1000 * (i + 1) })]);
    expect(await shard.offsetForTimestamp(2500)).toEqual({ offset: 2, timestampMs: 3000 });
    expect(await shard.offsetForTimestamp(99_999)).toBeNull();
    expect(await shard.truncate(4)).toBe(4);
    expect(shard.offsets().latest).toBe(4);
    expect(await shard.deleteBefore(2)).toBe(2);
    expect(shard.offsets().earliest).toBe(2);
    await expect(shard.read(0, { maxBytes: 1024 })).rejects.toMatchObject({
      code: 'FERRY_ERR_OFFSET_OUT_OF_RANGE',
    });
    expect((await shard.append([rec('next')])).baseOffset).toBe(4);
  });
});

describe('long-poll reads', () => {
  it('wake on the next append, with no polling', async () => {
    const storage = await openStorage();
    const shard = await storage.createShard(1, { engine: 'segment' });
    const t0 = performance.now();
    const pending = shard.read(0, { maxBytes: 1024, maxWaitMs: 30_000 });
    setTimeout(() => void shard.append([rec('hello')]), 50);
    const r = await pending;
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(decodeBatches(r.bytes).map((x) => x.value?.toString())).toEqual(['hello']);
  });

  it('return empty at the timeout, or when aborted', async () => {
    const storage = await openStorage();
    const shard = await storage.createShard(1, { engine: 'memory' });
    expect((await shard.read(0, { maxBytes: 1024, maxWaitMs: 30 })).bytes.length).toBe(0);
    const ac = new AbortController();
    const p = shard.read(0, { maxBytes: 1024, maxWaitMs: 60_000, signal: ac.signal });
    ac.abort();
    expect((await p).bytes.length).toBe(0);
    expect(shard.stats().readWaiters).toBe(0);
  });

  it('are bounded by read_waiters_max', async () => {
    const { m, metrics } = countingMetrics();
    const storage = await openStorage(undefined, { read_waiters_max: 2 }, metrics);
    const shard = await storage.createShard(1, { engine: 'memory' });
    const ac = new AbortController();
    const parked = [0, 1].map(() => shard.read(0, { maxBytes: 1024, maxWaitMs: 60_000, signal: ac.signal }));
    await new Promise((r) => setTimeout(r, 10));
    await expect(shard.read(0, { maxBytes: 1024, maxWaitMs: 60_000 })).rejects.toMatchObject({
      code: 'FERRY_ERR_OVERLOADED',
    });
    expect(m.errors).toContain('FERRY_ERR_OVERLOADED');
    ac.abort();
    await Promise.all(parked);
  });

  it('waitFor: at once when the offset is held, else on the append that brings it, a timeout or an abort', async () => {
    const storage = await openStorage();
    const shard = await storage.createShard(1, { engine: 'segment' });
    await shard.append([rec('a')]);
    const t0 = performance.now();
    await shard.waitFor(0, 60_000);
    expect(performance.now() - t0).toBeLessThan(10_000);
    // Three parked at offsets 1, 2 and 1: the append of offset 1 wakes only those at 1.
    const woken: number[] = [];
    const ac = new AbortController();
    const parked = [1, 2, 1].map((o, i) => shard.waitFor(o, 60_000, ac.signal).then(() => woken.push(i)));
    await new Promise((r) => setTimeout(r, 10));
    expect(shard.stats().readWaiters).toBe(3);
    await shard.append([rec('b')]);
    await new Promise((r) => setTimeout(r, 10));
    expect(woken.sort()).toEqual([0, 2]);
    expect(shard.stats().readWaiters).toBe(1);
    ac.abort();
    await Promise.all(parked);
    expect(woken.sort()).toEqual([0, 1, 2]);
    expect(shard.stats().readWaiters).toBe(0);
    const t1 = performance.now();
    await shard.waitFor(5, 30);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(25);
  });

  it('end when the shard is deleted', async () => {
    const storage = await openStorage();
    const shard = await storage.createShard(1, { engine: 'segment' });
    const p = shard.read(0, { maxBytes: 1024, maxWaitMs: 60_000 });
    await new Promise((r) => setTimeout(r, 10));
    await storage.deleteShard(1);
    expect((await p).bytes.length).toBe(0);
    await expect(shard.append([rec('x')])).rejects.toMatchObject({ code: 'FERRY_ERR_SHARD_NOT_FOUND' });
  });
});

describe('Storage', () => {
  it('bounds queued appends with append_queue_bytes_max', async () => {
    const storage = await openStorage(undefined, { append_queue_bytes_max: 4096 });
    const shard = await storage.createShard(1, { engine: 'segment', durability: 'always' });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => shard.append([{ value: Buffer.alloc(1000) }])),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatchObject({ reason: { code: 'FERRY_ERR_OVERLOADED' } });
    // Accepted appends still got contiguous offsets.
    const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.baseOffset] : []));
    expect(ok).toEqual(Array.from({ length: ok.length }, (_, i) => i));
  });

  it.each(['segment', 'rocks'] as Engine[])(
    'pipelines %s appends under "always": calls in flight, resolved in order, offsets in call order, kept after reopen',
    async (engine) => {
      const dir = await tempDir('ferrymq-storage-');
      let inFlight = 0;
      let maxInFlight = 0;
      const { metrics } = countingMetrics();
      metrics.appendCallsInFlight = (_e, d) => {
        inFlight += d;
        maxInFlight = Math.max(maxInFlight, inFlight);
      };
      const K = 4;
      const first = await openStorage(dir, { append_calls_in_flight_max: K }, metrics);
      const shard = await first.createShard(1, { engine, durability: 'always' });
      const resolved: number[] = [];
      const pending: Promise<{ i: number; baseOffset: number; lastOffset: number }>[] = [];
      let i = 0;
      for (let burst = 0; burst < 30; burst++) {
        // A few appends per tick (one call), then yield so the next burst
        // goes down while earlier calls still wait for their fdatasync.
        for (let k = 0; k < 1 + (burst % 4); k++) {
          const n = i++;
          const records = Array.from({ length: 1 + (n % 3) }, (_, j) => rec(`v${n}.${j}`));
          pending.push(
            shard.append(records).then((r) => {
              resolved.push(n);
              return { i: n, ...r };
            }),
          );
        }
        await new Promise((r) => setImmediate(r));
      }
      const results = await Promise.all(pending);
      expect(resolved).toEqual(results.map((r) => r.i));
      let next = 0;
      for (const r of results) {
        expect(r.baseOffset).toBe(next);
        expect(r.lastOffset - r.baseOffset).toBe(r.i % 3);
        next = r.lastOffset + 1;
      }
      expect(maxInFlight).toBeGreaterThanOrEqual(2);
      expect(maxInFlight).toBeLessThanOrEqual(K);
      expect(inFlight).toBe(0);
      await first.close();
      const second = await openStorage(dir);
      const got: string[] = [];
      let at = 0;
      while (at < next) {
        const recs = decodeBatches((await second.shard(1).read(at, { maxBytes: 1 << 20 })).bytes, at);
        for (const r of recs) got.push(`${r.offset}:${r.value?.toString()}`);
        at = (recs.at(-1)?.offset ?? at) + 1;
      }
      const want = results.flatMap((r) =>
        Array.from({ length: (r.i % 3) + 1 }, (_, j) => `${r.baseOffset + j}:v${r.i}.${j}`),
      );
      expect(got).toEqual(want);
    },
  );

  it('keeps segment and rocks shards across a reopen; memory shards restart empty', async () => {
    const dir = await tempDir('ferrymq-storage-');
    const first = await openStorage(dir);
    for (const [id, engine] of [
      [1, 'segment'],
      [2, 'rocks'],
      [3, 'memory'],
    ] as const) {
      const s = await first.createShard(id, { engine, durability: 'always' });
      await s.append([rec(`kept-${engine}`)]);
    }
    await first.close();
    const second = await openStorage(dir);
    expect(second.shards().map((s) => [s.id, s.engine])).toEqual(
      expect.arrayContaining([
        [1, 'segment'],
        [2, 'rocks'],
        [3, 'memory'],
      ]),
    );
    for (const id of [1, 2]) {
      const r = await second.shard(id).read(0, { maxBytes: 1024 });
      expect(decodeBatches(r.bytes).length).toBe(1);
    }
    expect(second.shard(3).offsets().latest).toBe(0);
  });

  it('reports corrupt bytes on disk as FERRY_ERR_CORRUPT and goes on serving other shards', async () => {
    const dir = await tempDir('ferrymq-storage-');
    const first = await openStorage(dir);
    const bad = await first.createShard(1, { engine: 'segment', durability: 'always' });
    const good = await first.createShard(2, { engine: 'segment', durability: 'always' });
    for (let i = 0; i < 3; i++) await bad.append([rec(`record-${i}-${'x'.repeat(100)}`)]);
    await good.append([rec('fine')]);
    await first.close();
    const segDir = join(dir, 'storage', 'segments', '1'.padStart(20, '0'));
    const log = readdirSync(segDir).find((f) => f.endsWith('.log')) as string;
    const bytes = readFileSync(join(segDir, log));
    // Flip one byte inside the first batch's records (covered by its CRC).
    bytes[80] = (bytes[80] as number) ^ 0xff;
    writeFileSync(join(segDir, log), bytes);
    const second = await openStorage(dir);
    await expect(second.shard(1).read(0, { maxBytes: 1 << 20 })).rejects.toMatchObject({
      code: 'FERRY_ERR_CORRUPT',
    });
    const r = await second.shard(2).read(0, { maxBytes: 1024 });
    expect(decodeBatches(r.bytes)[0]?.value?.toString()).toBe('fine');
  });

  it('refuses a duplicate shard and an unknown one with typed errors', async () => {
    const storage = await openStorage();
    await storage.createShard(1);
    await expect(storage.createShard(1)).rejects.toMatchObject({ code: 'FERRY_ERR_SHARD_EXISTS' });
    expect(() => storage.shard(99)).toThrow(expect.objectContaining({ code: 'FERRY_ERR_SHARD_NOT_FOUND' }));
  });

  it('serves the KV API: put, get, delete, atomic write, prefix scan with paging', async () => {
    const { kv } = await openStorage();
    await kv.put('sessions', 'client-1', 'a', { sync: true });
    expect((await kv.get('sessions', 'client-1'))?.toString()).toBe('a');
    expect(await kv.get('retained', 'client-1')).toBeNull();
    await kv.write([
      { ns: 'sessions', key: 'client-2', value: 'b' },
      { ns: 'sessions', key: 'client-3', value: 'c' },
      { ns: 'sessions', key: 'client-1', delete: true },
    ]);
    expect(await kv.get('sessions', 'client-1')).toBeNull();
    const page1 = await kv.scan('sessions', 'client-', { limit: 1 });
    expect(page1.map((e) => e.key.toString())).toEqual(['client-2']);
    const page2 = await kv.scan('sessions', 'client-', { limit: 10, startAfter: 'client-2' });
    expect(page2.map((e) => [e.key.toString(), e.value.toString()])).toEqual([['client-3', 'c']]);
    await kv.delete('sessions', 'client-2');
    expect(await kv.get('sessions', 'client-2')).toBeNull();
    await expect(kv.put('n'.repeat(300), 'k', 'v')).rejects.toMatchObject({
      code: 'FERRY_ERR_SHARD_CONFIG_INVALID',
    });
  });
});
