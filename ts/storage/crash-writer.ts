/**
 * The child process of crash.test.ts: opens Storage on a data dir, creates
 * (or reopens) the shards in `CRASH_SHARDS` with durability `always`, and
 * appends forever with several appends in flight per shard, until the test
 * kills it with SIGKILL.
 *
 * Run as `node ts/storage/crash-writer.ts <dataDir>` (Node 24 strips the
 * types). Protocol on stdout, one line each:
 *
 * - `START <shard> <seq> <nextOffset>` once per shard after opening: the
 *   sequence number it resumes from (read from the last stored record) and
 *   the shard's log end;
 * - `<shard> <seq> <offset>` for every record of an append whose promise
 *   resolved, written only after it resolved: an acknowledgement.
 *
 * Record `seq` of a shard always has the value `crashValue(shard, seq)` and
 * lands at offset `seq` (the logs start at 0 and nothing deletes). Any
 * failure goes to stderr and exits non-zero, which the test reports.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../config/load.ts';
import { decodeBatches, type Record } from './records.ts';
import type { Shard } from './shard.ts';
import { type ShardOptions, Storage } from './storage.ts';

export interface CrashShard {
  id: number;
  options: ShardOptions;
}

export const CRASH_SHARDS: readonly CrashShard[] = [
  { id: 1, options: { engine: 'segment', durability: 'always' } },
  { id: 2, options: { engine: 'rocks', durability: 'always' } },
  // Small segments: kills land around rolls, and sealed segments get reopened.
  { id: 3, options: { engine: 'segment', durability: 'always', segmentBytesMax: 128 * 1024 } },
];

/** Appends kept in flight per shard (so the adapter groups them and the engine group-commits). */
const IN_FLIGHT = 8;

function mix(shard: number, seq: number): number {
  let h = Math.imul(seq ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(shard, 0xc2b2ae35);
  h ^= h >>> 13;
  h = Math.imul(h, 0x27d4eb2f);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The value of record `seq` of `shard`: `s<shard>-<seq>-<padding>`, padding 0..200 bytes, sometimes a few KiB. */
export function crashValue(shard: number, seq: number): string {
  const h = mix(shard, seq);
  const len = h % 61 === 0 ? 3000 + (h % 6000) : h % 201;
  const c = 97 + (seq % 26);
  return `s${shard}-${seq}-${String.fromCharCode(c).repeat(len)}`;
}

/** Records per append, from the first record's seq: 1..3. */
export function crashAppendSize(shard: number, seq: number): number {
  return 1 + (mix(shard + 100, seq) % 3);
}

function die(msg: string): never {
  process.stderr.write(`crash-writer: ${msg}\n`);
  process.exit(1);
}

async function resumeSeq(shard: Shard): Promise<number> {
  const { earliest, latest } = shard.offsets();
  if (latest === earliest) return 0;
  const r = await shard.read(latest - 1, { maxBytes: 1 });
  const last = decodeBatches(r.bytes, latest - 1).at(-1);
  const m = /^s(\d+)-(\d+)-/.exec(last?.value?.toString('latin1') ?? '');
  if (!last || last.offset !== latest - 1 || !m || Number(m[1]) !== shard.id)
    die(`shard ${shard.id}: cannot read the last record at ${latest - 1}`);
  return Number(m[2]) + 1;
}

async function writeForever(shard: Shard, firstSeq: number, firstOffset: number): Promise<never> {
  let nextSeq = firstSeq;
  const loop = async (): Promise<never> => {
    for (;;) {
      // Seqs are taken and the append queued in the same synchronous step,
      // so the adapter's queue order (= offset order) is seq order.
      const seq = nextSeq;
      const n = crashAppendSize(shard.id, seq);
      nextSeq += n;
      const records: Record[] = [];
      for (let i = 0; i < n; i++) records.push({ value: Buffer.from(crashValue(shard.id, seq + i)) });
      let r: Awaited<ReturnType<Shard['append']>>;
      try {
        r = await shard.append(records);
      } catch (err) {
        die(`shard ${shard.id}: append of seq ${seq} failed: ${(err as Error).message}`);
      }
      if (r.baseOffset - seq !== firstOffset - firstSeq || r.lastOffset !== r.baseOffset + n - 1)
        die(`shard ${shard.id}: seq ${seq} (x${n}) got offsets ${r.baseOffset}..${r.lastOffset}`);
      let lines = '';
      for (let i = 0; i < n; i++) lines += `${shard.id} ${seq + i} ${r.baseOffset + i}\n`;
      process.stdout.write(lines);
    }
  };
  return Promise.race(Array.from({ length: IN_FLIGHT }, loop));
}

async function main(dataDir: string): Promise<void> {
  process.stdout.on('error', () => process.exit(2)); // the test went away
  // Never outlive a test that forgot us.
  setTimeout(() => process.exit(3), 60_000).unref();
  const storage = await Storage.open(dataDir, resolveConfig(undefined, '(crash-writer)', {}).storage);
  const runs: Promise<never>[] = [];
  for (const { id, options } of CRASH_SHARDS) {
    const shard = storage.has(id) ? storage.shard(id) : await storage.createShard(id, options);
    const seq = await resumeSeq(shard);
    const next = shard.offsets().latest;
    process.stdout.write(`START ${id} ${seq} ${next}\n`);
    runs.push(writeForever(shard, seq, next));
  }
  await Promise.all(runs);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) die('usage: crash-writer.ts <dataDir>');
  main(dir).catch((err: unknown) => die(String((err as Error)?.stack ?? err)));
}
