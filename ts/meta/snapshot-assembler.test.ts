import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { Storage } from '../storage/storage.ts';
import { tempDir } from '../test/helpers/broker.ts';
import { SnapshotAssembler, type SnapshotChunk, SnapshotChunkError } from './snapshot-assembler.ts';
import { chunksOf } from './snapshot-sender.ts';
import {
  KvSnapshotStaging,
  MemorySnapshotStaging,
  type SnapshotStaging,
  STAGING_NS,
} from './snapshot-staging.ts';

const storageConfig = resolveConfig(undefined, '(test)', {}).storage;
const opened: Storage[] = [];
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => {});
});

interface Transfer {
  term: number;
  index: number;
  data: Uint8Array;
  from?: number;
}

/** The chunks a leader would send for `t`, `size` bytes each. */
function chunks(t: Transfer, size: number, group = 1): SnapshotChunk[] {
  const sum = crc32(t.data);
  return chunksOf(t.data.length, size).map(({ offset, end }) => ({
    from: t.from ?? 2,
    to: 1,
    group,
    term: t.term,
    seq: 9,
    index: t.index,
    snapshotTerm: t.term,
    voters: [1, 2, 3],
    totalBytes: t.data.length,
    crc32: sum,
    offset,
    data: t.data.subarray(offset, end),
    done: end === t.data.length,
  }));
}

async function refusal(p: Promise<unknown>): Promise<SnapshotChunkError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SnapshotChunkError);
  return err as SnapshotChunkError;
}

function assembler(staging: SnapshotStaging, terms = new Map<number, number>(), timeoutMs = 10_000) {
  const registry = new Registry();
  const a = new SnapshotAssembler({
    staging,
    bytesMax: 1 << 20,
    timeoutMs,
    termOf: (g) => terms.get(g) ?? 0,
    registry,
  });
  const refused = async (reason: string): Promise<number> => {
    const m = await registry.getSingleMetric('ferrymq_meta_snapshot_chunks_refused_total')?.get();
    return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  };
  return { a, refused };
}

async function stagings(): Promise<[string, () => Promise<SnapshotStaging>][]> {
  return [
    ['memory', async () => new MemorySnapshotStaging()],
    [
      'KV',
      async () => {
        const s = await Storage.open(await tempDir('ferrymq-staging-'), storageConfig);
        opened.push(s);
        return new KvSnapshotStaging(s.kv);
      },
    ],
  ];
}

describe.each(await stagings())('snapshot assembler (%s staging)', (_name, makeStaging) => {
  it('assembles chunks sent in order into one InstallSnapshot, exactly once', async () => {
    const { a } = assembler(await makeStaging());
    const t = { term: 3, index: 500, data: randomBytes(10_000) };
    const cs = chunks(t, 1024);
    expect(cs.length).toBe(10);
    for (const c of cs.slice(0, -1)) {
      const r = await a.accept(c);
      expect(r.install).toBeUndefined();
      expect(r.nextOffset).toBe(c.offset + c.data.length);
    }
    expect(a.stagedBytes).toBe(9 * 1024);
    const last = await a.accept(cs.at(-1) as SnapshotChunk);
    expect(last.nextOffset).toBe(10_000);
    const m = last.install;
    expect(m?.type).toBe('install-snapshot');
    expect(m?.term).toBe(3);
    expect(m?.from).toBe(2);
    expect(m?.seq).toBe(9);
    expect(m?.snapshot.meta).toEqual({ index: 500, term: 3, voters: [1, 2, 3] });
    expect(Buffer.from(m?.snapshot.data ?? []).equals(t.data)).toBe(true);
    // Installed means forgotten: nothing staged, no transfer left.
    expect(a.active).toBe(0);
    expect(a.stagedBytes).toBe(0);
  });

  it('acknowledges a repeated chunk without storing it twice, refuses gaps and going back', async () => {
    const { a, refused } = assembler(await makeStaging());
    const t = { term: 2, index: 40, data: randomBytes(5000) };
    const [c0, c1, c2, c3, c4] = chunks(t, 1000) as [
      SnapshotChunk,
      SnapshotChunk,
      SnapshotChunk,
      SnapshotChunk,
      SnapshotChunk,
    ];
    await a.accept(c0);
    await a.accept(c1);
    // The ack of c1 was lost and the leader sends it again: same answer, nothing stored twice.
    expect((await a.accept(c1)).nextOffset).toBe(2000);
    expect(a.stagedBytes).toBe(2000);
    // A chunk past the gap is refused with the offset expected.
    const gap = await refusal(a.accept(c3));
    expect(gap.reason).toBe('out_of_order');
    expect(gap.expectedOffset).toBe(2000);
    // Going back further than the last chunk is refused too.
    const back = await refusal(a.accept({ ...c1, offset: 500 }));
    expect(back.reason).toBe('out_of_order');
    expect(back.expectedOffset).toBe(2000);
    expect(await refused('out_of_order')).toBe(2);
    // The transfer is still intact: the rest completes it.
    await a.accept(c2);
    await a.accept(c3);
    const r = await a.accept(c4);
    expect(Buffer.from(r.install?.snapshot.data ?? []).equals(t.data)).toBe(true);
  });

  it('refuses chunks of a stale term: below the group term, or below the transfer in progress', async () => {
    const terms = new Map([[1, 5]]);
    const { a, refused } = assembler(await makeStaging(), terms);
    const old = chunks({ term: 4, index: 100, data: randomBytes(3000) }, 1000);
    const e = await refusal(a.accept(old[0] as SnapshotChunk));
    expect(e.reason).toBe('stale_term');
    // A transfer of term 6 is in progress; a leader of term 5 cannot replace it, even from offset 0.
    const cur = chunks({ term: 6, index: 120, data: randomBytes(3000), from: 3 }, 1000);
    await a.accept(cur[0] as SnapshotChunk);
    const five = chunks({ term: 5, index: 110, data: randomBytes(3000) }, 1000);
    expect((await refusal(a.accept(five[0] as SnapshotChunk))).reason).toBe('stale_term');
    expect(await refused('stale_term')).toBe(2);
    await a.accept(cur[1] as SnapshotChunk);
    // The group moves on to term 7 before the last chunk: the complete snapshot is not installed.
    terms.set(1, 7);
    expect((await refusal(a.accept(cur[2] as SnapshotChunk))).reason).toBe('stale_term');
    expect(a.active).toBe(0);
    expect(a.stagedBytes).toBe(0);
  });

  it('a transfer started over replaces the staged one; a chunk of the replaced one is refused', async () => {
    const { a } = assembler(await makeStaging());
    const first = chunks({ term: 2, index: 50, data: randomBytes(4000) }, 1000);
    await a.accept(first[0] as SnapshotChunk);
    await a.accept(first[1] as SnapshotChunk);
    // The leader compacted further and starts over with a newer snapshot (same term).
    const second = { term: 2, index: 80, data: randomBytes(2500) };
    const cs = chunks(second, 1000);
    await a.accept(cs[0] as SnapshotChunk);
    expect(a.stagedBytes).toBe(1000);
    const stale = await refusal(a.accept(first[2] as SnapshotChunk));
    expect(stale.reason).toBe('out_of_order');
    expect(stale.expectedOffset).toBe(0);
    await a.accept(cs[1] as SnapshotChunk);
    const r = await a.accept(cs[2] as SnapshotChunk);
    expect(r.install?.snapshot.meta.index).toBe(80);
    expect(Buffer.from(r.install?.snapshot.data ?? []).equals(second.data)).toBe(true);
    // The same snapshot sent again from offset 0 (a restarted transfer) assembles again.
    for (const c of cs.slice(0, -1)) await a.accept(c);
    expect((await a.accept(cs[2] as SnapshotChunk)).install?.snapshot.meta.index).toBe(80);
  });

  it('refuses a chunk whose bytes do not match the checksum, oversize and malformed chunks', async () => {
    const { a, refused } = assembler(await makeStaging());
    const t = { term: 1, index: 10, data: randomBytes(2000) };
    const cs = chunks(t, 1000);
    await a.accept(cs[0] as SnapshotChunk);
    const bad = { ...(cs[1] as SnapshotChunk), data: Buffer.alloc(1000, 7) };
    expect((await refusal(a.accept(bad))).reason).toBe('checksum');
    expect(await refused('checksum')).toBe(1);
    expect(a.active).toBe(0);
    const big = { ...(cs[0] as SnapshotChunk), totalBytes: 2 << 20 };
    expect((await refusal(a.accept(big))).reason).toBe('too_large');
    const notDone = { ...(cs[1] as SnapshotChunk), offset: 0, done: true };
    expect((await refusal(a.accept(notDone))).reason).toBe('malformed');
    const past = { ...(cs[1] as SnapshotChunk), offset: 1500 };
    expect((await refusal(a.accept(past))).reason).toBe('malformed');
  });

  it('drops a transfer that stalls past the timeout, staging included', async () => {
    const staging = await makeStaging();
    const { a, refused } = assembler(staging, new Map(), 100);
    const cs = chunks({ term: 1, index: 10, data: randomBytes(3000) }, 1000);
    await a.accept(cs[0] as SnapshotChunk);
    await a.accept(cs[1] as SnapshotChunk);
    await new Promise((r) => setTimeout(r, 250));
    expect(a.active).toBe(0);
    expect(await refused('expired')).toBe(1);
    await expect(staging.read(1, 0)).resolves.toHaveLength(0);
    expect((await refusal(a.accept(cs[2] as SnapshotChunk))).expectedOffset).toBe(0);
  });

  it('keeps groups apart: two transfers at once', async () => {
    const { a } = assembler(await makeStaging());
    const t1 = { term: 1, index: 10, data: randomBytes(3000) };
    const t2 = { term: 1, index: 20, data: randomBytes(2000) };
    const c1 = chunks(t1, 1000, 1);
    const c2 = chunks(t2, 1000, 2);
    await Promise.all([a.accept(c1[0] as SnapshotChunk), a.accept(c2[0] as SnapshotChunk)]);
    await a.accept(c1[1] as SnapshotChunk);
    const r2 = await a.accept(c2[1] as SnapshotChunk);
    const r1 = await a.accept(c1[2] as SnapshotChunk);
    expect(Buffer.from(r1.install?.snapshot.data ?? []).equals(t1.data)).toBe(true);
    expect(Buffer.from(r2.install?.snapshot.data ?? []).equals(t2.data)).toBe(true);
  });
});

describe('close while a chunk is staged', () => {
  it('refuses that chunk with a SnapshotChunkError, not a TypeError', async () => {
    let release = (): void => {};
    const staged = new Promise<void>((r) => {
      release = r;
    });
    const staging = new MemorySnapshotStaging();
    const slow: SnapshotStaging = {
      put: async (g, o, d) => {
        await staged;
        await staging.put(g, o, d);
      },
      read: (g, n) => staging.read(g, n),
      discard: (g) => staging.discard(g),
      clear: () => staging.clear(),
    };
    const { a, refused } = assembler(slow);
    const c = chunks({ term: 1, index: 10, data: randomBytes(2000) }, 1000);
    const pending = a.accept(c[0] as SnapshotChunk);
    await new Promise((r) => setImmediate(r));
    a.close();
    release();
    expect((await refusal(pending)).reason).toBe('out_of_order');
    expect(await refused('out_of_order')).toBe(1);
  });
});

describe('KV staging', () => {
  it('clear() empties the namespace (a restart forgets partial transfers)', async () => {
    const s = await Storage.open(await tempDir('ferrymq-staging-'), storageConfig);
    opened.push(s);
    const staging = new KvSnapshotStaging(s.kv);
    for (let i = 0; i < 600; i++) await staging.put(i % 3, i * 10, Buffer.alloc(10, i));
    expect((await s.kv.scan(STAGING_NS, Buffer.alloc(0), { limit: 1000 })).length).toBe(600);
    await staging.discard(1);
    expect((await s.kv.scan(STAGING_NS, Buffer.alloc(0), { limit: 1000 })).length).toBe(400);
    await staging.clear();
    expect(await s.kv.scan(STAGING_NS, Buffer.alloc(0), { limit: 1000 })).toEqual([]);
  });
});
