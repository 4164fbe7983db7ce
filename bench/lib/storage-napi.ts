/**
 * Section 3 of bench/storage.bench.ts: what one call into the native addon
 * costs (trivial sync calls, appendPackedSync, an AsyncTask round trip).
 */
import { randomFillSync } from 'node:crypto';
import type { NativeBinding, NativeStore } from '../../ts/native/load.ts';
import { packRecords } from '../../ts/storage/records.ts';
import { type MicroOp, micro, timerOverheadUs } from './micro.ts';
import { fmt, fmtUs } from './stats.ts';
import { MIB, records, type StorageBenchContext } from './storage-context.ts';
/** Section 3: the cost of one N-API crossing, sync and AsyncTask, on the native store directly. */
export async function napiBench(
  ctx: StorageBenchContext,
  native: NativeBinding,
  store: NativeStore,
): Promise<void> {
  const opt = ctx.settings;
  const id = ctx.shardId();
  await store.createShard(id, { engine: 'memory', durability: 'none' });
  const packed = packRecords(records(1, 100));
  const empty = Buffer.alloc(0);
  const b16 = randomFillSync(Buffer.alloc(16));
  const resolved = Promise.resolve();
  const atEnd = () => store.offsets(id).next;
  const ops: MicroOp[] = [
    { name: 'JS baseline: await an already-resolved promise', calls: 200_000, async: () => resolved },
    { name: 'crc32c(0 B) (sync)', calls: 500_000, sync: () => native.crc32c(empty) },
    { name: 'crc32c(16 B) (sync)', calls: 500_000, sync: () => native.crc32c(b16) },
    { name: 'offsets(shard) (sync, returns an object)', calls: 500_000, sync: () => store.offsets(id) },
    {
      name: 'appendPackedSync, one 100 B record, memory shard',
      calls: 200_000,
      sync: () => store.appendPackedSync(id, packed, -1),
    },
    {
      name: 'readSync at log end, memory shard',
      calls: 200_000,
      sync: () => store.readSync(id, atEnd(), MIB),
    },
    {
      name: 'appendPacked (AsyncTask), one 100 B record, memory shard',
      calls: 20_000,
      async: () => store.appendPacked(id, packed, -1),
    },
    {
      name: 'read (AsyncTask) at log end, memory shard',
      calls: 20_000,
      async: () => store.read(id, atEnd(), MIB),
    },
  ];
  const rows: string[][] = [];
  for (const op of ops) {
    const m = await micro(opt.runs, op);
    rows.push([op.name, fmtUs(m.us), fmtUs(m.p50), fmtUs(m.p99), fmt(m.spread, 0)]);
  }
  await store.deleteShard(id);
  ctx.emit(3, {
    title: 'Cost of one N-API crossing (native NativeStore, no adapter)',
    columns: ['call', 'µs/call', 'p50 µs', 'p99 µs', 'spread %'],
    rows,
    notes: [
      `µs/call: median of ${opt.runs} untimed loops; p50/p99: one extra pass timing each call (performance.now() costs ${timerOverheadUs().toFixed(3)} µs, included).`,
      'readSync/read at log end include one offsets() call to find the end.',
      `AsyncTask calls run on the libuv thread pool (UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}) and resolve on the next event-loop turn.`,
    ],
  });
}
