/**
 * Section 2 of bench/storage.bench.ts: sequential reads through the Shard
 * adapter (1 KB records, maxBytes 1 MiB) of data just written.
 */
import { batchOffsetCount } from '../../ts/storage/records.ts';
import type { Engine } from '../../ts/storage/shard.ts';
import type { Storage } from '../../ts/storage/storage.ts';
import { fmt, fmtUs, median, Samples, spreadPct } from './stats.ts';
import { MIB, mbps, now, records, type StorageBenchContext } from './storage-context.ts';

/** The offset after the last batch in `buf` (whole magic-2 batches), or `from` if empty. */
function offsetAfter(buf: Buffer, from: number): number {
  if (buf.length === 0) return from;
  let at = 0;
  let last = 0;
  while (at < buf.length) {
    last = at;
    at += 12 + buf.readInt32BE(at + 8);
  }
  return Number(buf.readBigInt64BE(last)) + batchOffsetCount(buf, last);
}

async function readCell(
  ctx: StorageBenchContext,
  storage: Storage,
  engine: Engine,
  batch: number,
): Promise<string[]> {
  const opt = ctx.settings;
  const id = ctx.shardId();
  const shard = await storage.createShard(id, {
    engine,
    durability: 'none',
    memoryBytesMax: 4 * opt.readFillMib * MIB,
    memoryBatchesMax: 4_000_000,
  });
  const recs = records(batch, 1024);
  const total = (opt.readFillMib * MIB) / 1024;
  for (let n = 0; n < total; n += batch) await shard.append(recs);
  await shard.sync();
  const stats = shard.stats();
  const rates: number[] = [];
  const bytesRates: number[] = [];
  const lat = new Samples();
  let calls = 0;
  for (let r = -1; r < opt.runs; r++) {
    let off = shard.offsets().earliest;
    const end = shard.offsets().latest;
    let bytes = 0;
    let n = 0;
    const t0 = now();
    while (off < end) {
      const t = now();
      const res = await shard.read(off, { maxBytes: MIB });
      if (r >= 0) lat.add((now() - t) * 1000);
      bytes += res.bytes.length;
      // res.nextOffset is the log end (high watermark), not where this read stopped.
      off = offsetAfter(res.bytes, off);
      n++;
    }
    const s = (now() - t0) / 1000;
    if (r < 0) continue; // warm-up pass
    calls = n;
    rates.push((end - stats.earliestOffset) / s);
    bytesRates.push(mbps(bytes, s));
  }
  await storage.deleteShard(id);
  return [
    engine,
    `${batch}`,
    fmt(stats.bytes / MIB, 1),
    fmt(calls),
    fmt(median(rates)),
    fmt(median(bytesRates), 0),
    fmtUs(lat.p(50)),
    fmtUs(lat.p(99)),
    fmt(spreadPct(bytesRates), 0),
  ];
}

/** Section 2: sequential read throughput per engine, from shards of 100-record and 1-record batches. */
export async function readBench(ctx: StorageBenchContext, storage: Storage): Promise<void> {
  const opt = ctx.settings;
  const rows: string[][] = [];
  for (const engine of ['memory', 'segment', 'rocks'] as Engine[]) {
    for (const batch of [100, 1]) {
      const row = await readCell(ctx, storage, engine, batch);
      rows.push(row);
      console.log(`  ${row.join(' | ')}`);
    }
  }
  ctx.emit(2, {
    title: 'Sequential read throughput (1 KB records, maxBytes 1 MiB, through the Shard adapter)',
    columns: [
      'engine',
      'records per stored batch',
      'stored MiB',
      'reads per pass',
      'records/s',
      'MB/s (stored bytes)',
      'p50 µs/read',
      'p99 µs/read',
      'spread %',
    ],
    rows,
    notes: [
      `One pass reads the whole shard from its earliest offset with await shard.read(offset, { maxBytes: 1 MiB }); median of ${opt.runs} passes after one warm-up pass.`,
      'The data was just written: segment and rocks reads come from the page cache / block cache, not the device.',
    ],
  });
}
