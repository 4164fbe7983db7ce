/**
 * Shard.read with `into` (Fetch's reusable buffers): the bytes are a view of
 * the caller's buffer and equal a plain read's, bounded by the buffer; a
 * first batch longer than the buffer comes back whole in a Buffer of its
 * own; long polls read into it too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { tempDir } from '../test/helpers/broker.ts';
import { batchSpans, decodeBatches } from './records.ts';
import type { Engine } from './shard.ts';
import { Storage } from './storage.ts';

const defaults = resolveConfig(undefined, '(test)', {}).storage;
const open: Storage[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
});

async function shardWith(engine: Engine, values: number[]) {
  const s = await Storage.open(await tempDir('ferrymq-readinto-'), defaults);
  open.push(s);
  const shard = await s.createShard(1, { engine });
  for (const [i, n] of values.entries()) await shard.append([{ value: Buffer.alloc(n, 97 + (i % 26)) }]);
  return shard;
}

describe.each(['segment', 'memory', 'rocks'] as Engine[])('Shard.read into a buffer (%s)', (engine) => {
  it('reads whole batches into the buffer, as many as fit, equal to a plain read', async () => {
    const shard = await shardWith(
      engine,
      Array.from({ length: 50 }, () => 3000),
    );
    const into = Buffer.alloc(100 * 1024, 0xee);
    const plain = await shard.read(0, { maxBytes: 80 * 1024 });
    const got = await shard.read(0, { maxBytes: 80 * 1024, into });
    expect(got.bytes.equals(plain.bytes)).toBe(true);
    // Memory-engine reads of at most 64 KiB answer synchronously into a fresh Buffer instead.
    if (engine !== 'memory') expect(got.bytes.buffer).toBe(into.buffer);
    const small = Buffer.alloc(10_000);
    const some = await shard.read(0, { maxBytes: 80 * 1024, into: small });
    expect(some.bytes.buffer).toBe(small.buffer);
    expect([...batchSpans(some.bytes)].length).toBe(3);
    expect(plain.bytes.subarray(0, some.bytes.length).equals(some.bytes)).toBe(true);
  });

  it('returns a first batch longer than the buffer whole, in its own Buffer', async () => {
    const shard = await shardWith(engine, [100, 200_000, 100]);
    const into = Buffer.alloc(100 * 1024);
    const r = await shard.read(1, { maxBytes: 100 * 1024, into });
    expect(r.bytes.buffer).not.toBe(into.buffer);
    expect(decodeBatches(r.bytes, 1)[0]?.value?.length).toBe(200_000);
  });

  it('long-polls into the buffer', async () => {
    const shard = await shardWith(engine, [100]);
    const into = Buffer.alloc(100 * 1024);
    const waiting = shard.read(1, { maxBytes: 100 * 1024, maxWaitMs: 5000, into });
    await shard.append([{ value: Buffer.from('late') }]);
    const r = await waiting;
    expect(decodeBatches(r.bytes, 1).map((x) => x.value?.toString())).toEqual(['late']);
  });
});
