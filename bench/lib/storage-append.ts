/**
 * Section 1 of bench/storage.bench.ts: append throughput through the Shard
 * adapter per engine x durability x record size x batch size, batch 1 both
 * sequential and with CONCURRENCY appends in flight; each run bounded by time.
 */
import type { Engine } from '../../ts/storage/shard.ts';
import type { Durability, Storage } from '../../ts/storage/storage.ts';
import { fmt, fmtUs, median, Samples, spreadPct } from './stats.ts';
import { CONCURRENCY, mbps, now, records, type StorageBenchContext } from './storage-context.ts';

type Mode = 'seq' | 'conc';
interface AppendCell {
  engine: Engine;
  durability: Durability;
  size: number;
  batch: number;
  mode: Mode;
}

function modeLabel(c: AppendCell): string {
  return c.mode === 'seq' ? `${c.batch}, sequential` : `${c.batch}, ${CONCURRENCY} in flight`;
}

async function appendCell(ctx: StorageBenchContext, storage: Storage, c: AppendCell): Promise<string[]> {
  const opt = ctx.settings;
  const id = ctx.shardId();
  const shard = await storage.createShard(id, { engine: c.engine, durability: c.durability });
  const recs = records(c.batch, c.size);
  const lat = new Samples();
  const once = async (ms: number, record: boolean) => {
    const calls0 = ctx.counts.calls;
    let appends = 0;
    const t0 = now();
    const deadline = t0 + ms;
    const loop = async () => {
      let t = now();
      while (t < deadline) {
        await shard.append(recs);
        const t1 = now();
        if (record) lat.add((t1 - t) * 1000);
        appends++;
        t = t1;
      }
    };
    if (c.mode === 'seq') await loop();
    else await Promise.all(Array.from({ length: CONCURRENCY }, loop));
    const s = (now() - t0) / 1000;
    return { recordsPerSec: (appends * c.batch) / s, appends, calls: ctx.counts.calls - calls0 };
  };
  await once(opt.warmupMs, false);
  const rates: number[] = [];
  let appends = 0;
  let calls = 0;
  for (let r = 0; r < opt.runs; r++) {
    const x = await once(opt.cellMs, true);
    rates.push(x.recordsPerSec);
    appends += x.appends;
    calls += x.calls;
  }
  // Not timed: leave no dirty pages behind for the next cell, free the space.
  await shard.sync();
  await storage.deleteShard(id);
  const rate = median(rates);
  return [
    c.engine,
    c.engine === 'memory' ? 'n/a' : c.durability,
    c.size === 1024 ? '1 KB' : `${c.size} B`,
    modeLabel(c),
    fmt(rate),
    fmt(mbps(rate * c.size, 1), 1),
    fmt((appends * c.batch) / calls, 1),
    fmtUs(lat.p(50)),
    fmtUs(lat.p(99)),
    fmt(spreadPct(rates), 0),
  ];
}

/** Section 1: append throughput per engine x durability x record size x batch shape. */
export async function appendMatrix(ctx: StorageBenchContext, storage: Storage): Promise<void> {
  const opt = ctx.settings;
  const engines: Engine[] = ['memory', 'segment', 'rocks'];
  const durabilities: Durability[] = ['none', 'interval', 'always'];
  const shapes: [number, Mode][] = [
    [1, 'seq'],
    [1, 'conc'],
    [100, 'seq'],
    [1000, 'seq'],
  ];
  for (const engine of engines) {
    const rows: string[][] = [];
    for (const durability of engine === 'memory' ? (['none'] as Durability[]) : durabilities) {
      for (const size of [100, 1024]) {
        for (const [batch, mode] of shapes) {
          const row = await appendCell(ctx, storage, { engine, durability, size, batch, mode });
          rows.push(row);
          console.log(`  ${row.join(' | ')}`);
        }
      }
    }
    ctx.emit(1, {
      title: `Append throughput, ${engine} engine (through the Shard adapter)`,
      columns: [
        'engine',
        'durability',
        'record',
        'records per append, mode',
        'records/s',
        'MB/s',
        'records/native call',
        'p50 µs/append',
        'p99 µs/append',
        'spread %',
      ],
      rows,
      notes: [
        `MB/s counts record values only (${opt.cellMs} ms per run, median of ${opt.runs}); p50/p99 are per append call, from call to resolve (in flight: includes queueing).`,
        ...(engine === 'memory' ? ['The memory engine ignores the durability policy.'] : []),
        'interval = fdatasync at most every durability_interval_ms (100 ms default); always = fdatasync before the append resolves.',
      ],
    });
  }
}
