/**
 * Section 5 of bench/storage.bench.ts: one-record appends to the memory
 * engine in µs, through the adapter (sequential and CONCURRENCY in flight)
 * and on the native store (pre-packed, and packing each time).
 */
import type { NativeStore } from '../../ts/native/load.ts';
import { packRecords } from '../../ts/storage/records.ts';
import type { Storage } from '../../ts/storage/storage.ts';
import { micro } from './micro.ts';
import { fmtUs, median, Samples } from './stats.ts';
import { CONCURRENCY, now, records, type StorageBenchContext } from './storage-context.ts';
/** Section 5: memory-engine one-record appends in µs; returns the adapter's sequential 100 B figure. */
export async function memoryAppendBench(
  ctx: StorageBenchContext,
  storage: Storage,
  store: NativeStore,
): Promise<number> {
  const opt = ctx.settings;
  const rows: string[][] = [];
  let best = Number.NaN;
  for (const size of [100, 1024]) {
    const id = ctx.shardId();
    const shard = await storage.createShard(id, { engine: 'memory' });
    const nid = ctx.shardId();
    await store.createShard(nid, { engine: 'memory', durability: 'none' });
    const recs = records(1, size);
    const packed = packRecords(recs);
    const label = size === 1024 ? '1 KB' : `${size} B`;
    const row = (path: string, us: number, p50: number, p99: number) =>
      rows.push([path, label, fmtUs(us), fmtUs(p50), fmtUs(p99)]);
    const seq = await micro(opt.runs, {
      name: 'adapter',
      calls: 100_000,
      async: () => shard.append(recs),
    });
    if (size === 100) best = seq.us;
    row('adapter: await shard.append([record]), sequential', seq.us, seq.p50, seq.p99);

    // Many in flight: µs per append amortized; p50/p99 are per-append latency (call to resolve).
    const per: number[] = [];
    const lat = new Samples();
    const total = 200_000;
    for (let r = -1; r < opt.runs; r++) {
      let issued = 0;
      const t0 = now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (issued++ < total) {
            const t = now();
            await shard.append(recs);
            if (r >= 0) lat.add((now() - t) * 1000);
          }
        }),
      );
      if (r >= 0) per.push(((now() - t0) * 1000) / total);
    }
    row(
      `adapter: shard.append([record]), ${CONCURRENCY} in flight (amortized)`,
      median(per),
      lat.p(50),
      lat.p(99),
    );

    const direct = await micro(opt.runs, {
      name: 'direct',
      calls: 200_000,
      sync: () => store.appendPackedSync(nid, packed, -1),
    });
    row('native: appendPackedSync(pre-packed buffer)', direct.us, direct.p50, direct.p99);
    const withPack = await micro(opt.runs, {
      name: 'pack',
      calls: 200_000,
      sync: () => store.appendPackedSync(nid, packRecords(recs), -1),
    });
    row('native: packRecords + appendPackedSync', withPack.us, withPack.p50, withPack.p99);
    await storage.deleteShard(id);
    await store.deleteShard(nid);
  }
  ctx.emit(5, {
    title: 'Memory engine, one-record appends',
    columns: ['path', 'record', 'µs/append', 'p50 µs', 'p99 µs'],
    rows,
    notes: [
      `µs/append: median of ${opt.runs} runs (untimed loop); p50/p99 from a per-call-timed pass. Goal: single-digit µs.`,
    ],
  });
  return best;
}
