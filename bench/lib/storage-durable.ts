/**
 * Section 4 of bench/storage.bench.ts: durable (durability "always")
 * segment appends of 1 MiB, through the adapter and on the native store
 * directly, against raw sequential writes of the same size to the same disk
 * (fio if installed, dd, a Node writeSync+fdatasync loop), the methods
 * interleaved and their order rotated per run.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { NativeStore } from '../../ts/native/load.ts';
import { packRecords } from '../../ts/storage/records.ts';
import type { Shard } from '../../ts/storage/shard.ts';
import { Storage } from '../../ts/storage/storage.ts';
import { fioAvailable, fioBufferedSyncEach, rawDd, rawFio, rawNode, rawNodeBuffered } from './raw-disk.ts';
import { fmt, median } from './stats.ts';
import { MIB, mbps, now, records, type StorageBenchContext } from './storage-context.ts';

interface SyncResult {
  name: string;
  mbps: number[];
}

/** One 1 MiB record per append (its stored batch is just under 1 MiB, within batch_bytes_max). */
const BIG_VALUE_BYTES = MIB - 128;

async function segmentAdapter(
  ctx: StorageBenchContext,
  storage: Storage,
  inFlight: number,
  mib: number,
): Promise<number> {
  const id = ctx.shardId();
  const shard: Shard = await storage.createShard(id, { engine: 'segment', durability: 'always' });
  const recs = records(1, BIG_VALUE_BYTES);
  let issued = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (issued++ < mib) await shard.append(recs);
    }),
  );
  const s = (now() - t0) / 1000;
  const bytes = shard.stats().bytes;
  await storage.deleteShard(id);
  return mbps(bytes, s);
}

async function segmentNative(
  ctx: StorageBenchContext,
  store: NativeStore,
  inFlight: number,
  mib: number,
): Promise<number> {
  const id = ctx.shardId();
  await store.createShard(id, { engine: 'segment', durability: 'always' });
  const packed = packRecords(records(1, BIG_VALUE_BYTES));
  let issued = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (issued++ < mib) await store.appendPacked(id, packed, -1);
    }),
  );
  const s = (now() - t0) / 1000;
  const bytes = store.stats(id).bytes;
  await store.deleteShard(id);
  return mbps(bytes, s);
}

export interface SyncSummary {
  raw: string;
  rawMbps: number;
  bestAdapter: { name: string; mbps: number };
  bestNative: { name: string; mbps: number };
}

/**
 * Section 4: group-committed durable segment appends (adapter and native)
 * against raw sequential writes to the same disk, interleaved in the same runs.
 */
export async function groupCommitBench(
  ctx: StorageBenchContext,
  storage: Storage,
  store: NativeStore,
): Promise<SyncSummary> {
  const opt = ctx.settings;
  const k = opt.config.append_calls_in_flight_max;
  const extra: { k: number; storage: Storage }[] = [];
  for (const x of opt.extraCallsInFlight.filter((x) => x !== k))
    extra.push({
      k: x,
      storage: await Storage.open(join(opt.dir, `adapter-k${x}`), {
        ...opt.config,
        append_calls_in_flight_max: x,
      }),
    });
  try {
    return await groupCommitRuns(ctx, storage, store, extra);
  } finally {
    for (const e of extra) await e.storage.close();
  }
}

async function groupCommitRuns(
  ctx: StorageBenchContext,
  storage: Storage,
  store: NativeStore,
  extra: { k: number; storage: Storage }[],
): Promise<SyncSummary> {
  const opt = ctx.settings;
  const k = opt.config.append_calls_in_flight_max;
  const hasFio = fioAvailable();
  if (!hasFio)
    console.log('  note: fio not installed (apt-get install -y fio); the raw reference is dd only');
  const mib = opt.syncMib;
  const methods: { name: string; kind: 'raw' | 'adapter' | 'native'; run: () => Promise<number> | number }[] =
    [
      ...(hasFio
        ? [
            {
              name: 'raw: fio, sequential 1 MiB writes, O_DIRECT, fsync at end',
              kind: 'raw' as const,
              run: () => rawFio(join(opt.dir, 'raw.fio'), mib),
            },
          ]
        : []),
      {
        name: 'raw: dd bs=1M oflag=direct conv=fdatasync (zeros)',
        kind: 'raw',
        run: () => rawDd(join(opt.dir, 'raw.dd'), mib),
      },
      ...(hasFio
        ? [
            {
              name: 'fio: buffered 1 MiB writes, fdatasync after each',
              kind: 'raw' as const,
              run: () => fioBufferedSyncEach(join(opt.dir, 'buffered.fio'), mib),
            },
          ]
        : []),
      {
        name: 'node: writeSync 1 MiB + fdatasync, loop',
        kind: 'raw',
        run: () => rawNode(join(opt.dir, 'raw.node'), mib),
      },
      {
        name: 'node: writeSync 1 MiB × N, one fdatasync at the end',
        kind: 'raw',
        run: () => rawNodeBuffered(join(opt.dir, 'raw.buffered'), mib),
      },
      ...[1, 8, 32].map((w) => ({
        name: `segment/always via adapter (${k} calls in flight), ${w} × 1 MiB appends in flight`,
        kind: 'adapter' as const,
        run: () => segmentAdapter(ctx, storage, w, mib),
      })),
      ...extra.map((e) => ({
        name: `segment/always via adapter (${e.k} call${e.k === 1 ? '' : 's'} in flight), 32 × 1 MiB appends in flight`,
        kind: 'adapter' as const,
        run: () => segmentAdapter(ctx, e.storage, 32, mib),
      })),
      ...[1, 8, 32].map((w) => ({
        name: `segment/always via native appendPacked directly, ${w} in flight`,
        kind: 'native' as const,
        run: () => segmentNative(ctx, store, w, mib),
      })),
    ];
  const results: SyncResult[] = methods.map((m) => ({ name: m.name, mbps: [] }));
  for (let r = 0; r < opt.runs; r++) {
    // Rotate the order each run so drifting disk speed hits every method alike.
    for (let k = 0; k < methods.length; k++) {
      const i = (k + r) % methods.length;
      const m = methods[i] as (typeof methods)[number];
      (results[i] as SyncResult).mbps.push(await m.run());
    }
    console.log(
      `  run ${r + 1}/${opt.runs}: ${results.map((x) => fmt(x.mbps[r] ?? Number.NaN, 0)).join(' | ')}`,
    );
  }
  const med = results.map((x) => median(x.mbps));
  // The raw reference is the best of the direct-I/O writers (fio, dd), so the ratio is never flattered.
  const rawIdx = methods
    .map((_m, i) => i)
    .filter((i) => methods[i]?.name.startsWith('raw:'))
    .reduce((a, b) => ((med[b] as number) > (med[a] as number) ? b : a));
  const rawMbps = med[rawIdx] as number;
  const nodeIdx = methods.findIndex((m) => m.name.startsWith('node:'));
  const nodeMbps = med[nodeIdx] as number;
  ctx.emit(4, {
    title: `Durable appends vs the raw disk (${mib} MiB per measurement, same disk, same run)`,
    columns: ['writer', 'MB/s', 'min', 'max', '% of best raw', '% of node loop'],
    rows: results.map((x, i) => [
      x.name,
      fmt(med[i] as number, 0),
      fmt(Math.min(...x.mbps), 0),
      fmt(Math.max(...x.mbps), 0),
      fmt(((med[i] as number) / rawMbps) * 100, 0),
      fmt(((med[i] as number) / nodeMbps) * 100, 0),
    ]),
    notes: [
      `Median of ${opt.runs} interleaved runs (order rotated per run). Segment MB/s counts stored bytes (one ~1 MiB batch per append).`,
      `Raw reference ("% of best raw"): the faster median of the direct-I/O rows, here ${methods[rawIdx]?.name.startsWith('raw: fio') ? 'fio' : 'dd'} (${hasFio ? `${execFileSync('fio', ['--version'], { encoding: 'utf8' }).trim()}: psync, iodepth 1, MB/s as fio reports it` : 'fio not installed'}); the fio buffered row and the node rows write through the page cache, like the segment engine.`,
      `The adapter keeps up to storage.append_calls_in_flight_max (${k}) native appends in flight per shard, each carrying what queued (up to storage.append_call_bytes_max, 2 MiB, as several batches); tickets keep offsets in call order and let call N+1 write while call N fdatasyncs. The "1 call in flight" row is the unpipelined adapter. The native rows call appendPacked concurrently (each call takes a ticket too) and let the engine group-commit.`,
    ],
  });
  const pick = (kind: 'adapter' | 'native') => {
    let best = { name: '', mbps: -1 };
    methods.forEach((m, i) => {
      if (m.kind === kind && (med[i] as number) > best.mbps) best = { name: m.name, mbps: med[i] as number };
    });
    return best;
  };
  return {
    raw: (methods[rawIdx]?.name ?? '').startsWith('raw: fio') ? 'fio' : 'dd',
    rawMbps,
    bestAdapter: pick('adapter'),
    bestNative: pick('native'),
  };
}
