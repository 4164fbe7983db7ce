/**
 * Read-ahead against a real segment shard: it serves only the exact fetch
 * it was read for, never bytes from before a truncation, gives its buffer
 * back when unused (expiry, another offset, close) and only once its read
 * settled, and takes only spare buffers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/load.ts';
import { ReadBuffers } from '../../storage/read-buffers.ts';
import { decodeBatches } from '../../storage/records.ts';
import { Storage } from '../../storage/storage.ts';
import { tempDir } from '../../test/helpers/broker.ts';
import { offsetAfter, ReadAhead } from './fetch-reads.ts';

const defaults = resolveConfig(undefined, '(test)', {}).storage;
const open: Storage[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
});

async function shardWith(values: string[]) {
  const s = await Storage.open(await tempDir('ferrymq-ahead-'), defaults);
  open.push(s);
  const shard = await s.createShard(1, { engine: 'segment' });
  for (const v of values) await shard.append([{ value: Buffer.from(v) }]);
  return shard;
}

function counting() {
  const n = { hit: 0, unused: 0 };
  return { n, metrics: { hit: () => n.hit++, unused: () => n.unused++ } };
}

const values = (bytes: Buffer, from: number) => decodeBatches(bytes, from).map((r) => r.value?.toString());

describe('ReadAhead', () => {
  it('serves the exact fetch it read for, once, and its lease is a pool buffer', async () => {
    const shard = await shardWith(['a', 'b', 'c', 'd']);
    const pool = new ReadBuffers({ bytes: 4096, max: 4 });
    const { n, metrics } = counting();
    const ahead = new ReadAhead(pool, 10_000, metrics);
    ahead.start(shard, 2, 4096);
    expect(pool.lent).toBe(1);
    const got = await ahead.take(shard, 2, 4096);
    expect(values(got?.bytes as Buffer, 2)).toEqual(['c', 'd']);
    expect(got?.bytes.buffer).toBe(got?.lease.buffer);
    expect(await ahead.take(shard, 2, 4096)).toBeUndefined();
    expect(n).toEqual({ hit: 1, unused: 0 });
    pool.give(got?.lease as Buffer);
    expect(pool.lent).toBe(0);
  });

  it('another offset or byte limit reads the log: the read-ahead goes back unused', async () => {
    const shard = await shardWith(['a', 'b', 'c']);
    const pool = new ReadBuffers({ bytes: 4096, max: 4 });
    const { n, metrics } = counting();
    const ahead = new ReadAhead(pool, 10_000, metrics);
    ahead.start(shard, 1, 4096);
    expect(await ahead.take(shard, 0, 4096)).toBeUndefined();
    ahead.start(shard, 1, 4096);
    expect(await ahead.take(shard, 1, 1000)).toBeUndefined();
    expect(n).toEqual({ hit: 0, unused: 2 });
    await new Promise((r) => setTimeout(r, 50));
    expect(pool.lent).toBe(0);
  });

  it('never serves bytes read before a truncation', async () => {
    const shard = await shardWith(['a', 'b', 'c', 'd']);
    const pool = new ReadBuffers({ bytes: 4096, max: 4 });
    const { n, metrics } = counting();
    const ahead = new ReadAhead(pool, 10_000, metrics);
    ahead.start(shard, 2, 4096);
    await new Promise((r) => setTimeout(r, 20));
    await shard.truncate(2);
    await shard.append([{ value: Buffer.from('X') }]);
    await shard.append([{ value: Buffer.from('Y') }]);
    expect(await ahead.take(shard, 2, 4096)).toBeUndefined();
    expect(n.unused).toBe(1);
    expect(values((await shard.read(2, { maxBytes: 4096 })).bytes, 2)).toEqual(['X', 'Y']);
  });

  it('gives an unfetched read-ahead back after its time, and everything on close', async () => {
    const shard = await shardWith(['a', 'b', 'c']);
    const other = await shardWith(['x', 'y']);
    const pool = new ReadBuffers({ bytes: 4096, max: 8 });
    const { n, metrics } = counting();
    const ahead = new ReadAhead(pool, 30, metrics);
    ahead.start(shard, 1, 4096);
    await new Promise((r) => setTimeout(r, 120));
    expect([pool.lent, n.unused]).toEqual([0, 1]);
    const long = new ReadAhead(pool, 10_000, metrics);
    long.start(shard, 1, 4096);
    long.start(other, 0, 4096);
    expect(pool.lent).toBe(2);
    long.close();
    // Back once each read has settled (a native read may still be filling it).
    await new Promise((r) => setTimeout(r, 50));
    expect([pool.lent, n.unused]).toEqual([0, 3]);
    long.start(shard, 1, 4096);
    expect(pool.lent).toBe(0);
  });

  it('takes only spare buffers: never the last half of the pool', async () => {
    const shard = await shardWith(['a', 'b']);
    const pool = new ReadBuffers({ bytes: 4096, max: 4 });
    const held = [pool.take(10), pool.take(10)];
    const ahead = new ReadAhead(pool, 10_000);
    ahead.start(shard, 1, 4096);
    expect(pool.lent).toBe(2);
    for (const b of held) pool.give(b as Buffer);
    ahead.start(shard, 1, 8192);
    expect(pool.lent).toBe(0);
  });

  it('offsetAfter: the offset after the last whole batch', async () => {
    const shard = await shardWith(['a', 'b', 'c']);
    const all = (await shard.read(0, { maxBytes: 4096 })).bytes;
    expect(offsetAfter(all)).toBe(3);
    expect(offsetAfter(all.subarray(0, all.length - 1))).toBe(2);
    expect(offsetAfter(Buffer.alloc(0))).toBeUndefined();
  });
});
