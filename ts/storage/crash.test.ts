/**
 * kill -9 durability through the Shard adapter: a child (crash-writer.ts)
 * appends with durability `always` on segment and rocks shards, several
 * appends in flight per shard; the test SIGKILLs it at a random moment,
 * reopens the store here and checks, after every kill:
 *
 * (a) every acknowledged record is readable at its acknowledged offset with
 *     exactly its value;
 * (b) offsets run contiguously from the earliest one, with no gap;
 * (c) every record returned decodes and has the value its sequence number
 *     dictates, so the readable log is exactly a prefix of what the writer
 *     produced (acknowledged records, plus perhaps some written whose ack
 *     was not out yet) and nothing past a torn tail comes back; for segment
 *     shards the recovered end is exactly the end of the last whole batch
 *     in the file;
 * (d) the next writer resumes right at the recovered end (it reads its
 *     last record) and its records continue the same sequence.
 *
 * In some rounds the test also tears the tail of a segment shard's last
 * file before reopening, cutting only bytes past the batch that holds the
 * last acknowledged record (or the last record verified earlier): those are
 * unacknowledged, so the torn batch and anything after it must go and
 * everything before it must stay, and the file must be truncated there.
 *
 * What this proves: the process-crash guarantee and the recovery/torn-tail
 * logic. SIGKILL leaves the kernel's page cache intact, so even durability
 * `none` would pass the "acknowledged is readable" part here; losing
 * unsynced data takes a machine crash or power loss, which this test does
 * not simulate. What it does catch: acknowledging before the write
 * (adapter or native), recovery that drops or keeps the wrong bytes, offset
 * or index bugs across reopen and segment rolls, a writer that cannot
 * resume.
 *
 * "Acknowledged" is every complete ack line the test reads from the
 * writer, including lines still in the pipe when the kill came: the writer
 * prints a line only after its append resolved, so this is stricter than
 * trusting only the lines seen before the kill. (Node writes stdout to a
 * pipe asynchronously, so lines still queued inside the writer die with it;
 * those records count as written but unacknowledged.)
 *
 * FERRYMQ_CRASH_ITERATIONS sets the number of kills (default 25). Each
 * round verifies the records written since the previous round (plus a
 * window before them and random samples of older ones); the end of the test
 * reads every shard in full once more.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { loadNative } from '../native/load.ts';
import { repoRoot, tempDir } from '../test/helpers/broker.ts';
import { CRASH_SHARDS, crashValue } from './crash-writer.ts';
import { decodeBatches } from './records.ts';
import type { Shard } from './shard.ts';
import { Storage } from './storage.ts';

const ITERATIONS = Number(process.env.FERRYMQ_CRASH_ITERATIONS ?? 25);
const WRITER = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const defaults = resolveConfig(undefined, '(test)', {}).storage;
/** Records before the previous round's end that each round re-reads in full. */
const WINDOW = 2_000;
/** Random single-record reads of older data per shard per round. */
const SAMPLES = 200;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

interface WriterRun {
  /** Per shard: where the writer says it resumed. */
  starts: Map<number, { seq: number; next: number }>;
  /** Per shard: acknowledged [seq, offset], in the order the lines came. */
  acks: Map<number, [number, number][]>;
  ackedBeforeKill: number;
  ackedTotal: number;
}

/** Start a writer, SIGKILL it `delayMs` after its first ack, and collect every complete line it wrote. */
async function runWriter(dataDir: string, delayMs: number): Promise<WriterRun> {
  const proc = spawn(process.execPath, [WRITER, dataDir], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const run: WriterRun = { starts: new Map(), acks: new Map(), ackedBeforeKill: -1, ackedTotal: 0 };
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let timer: NodeJS.Timeout | undefined;
  const kill = (): void => {
    if (run.ackedBeforeKill < 0) run.ackedBeforeKill = run.ackedTotal;
    proc.kill('SIGKILL');
  };
  // A writer that never acknowledges anything is a failure, not a hang.
  const guard = setTimeout(kill, 20_000);
  const bad: string[] = [];
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  rl.on('line', (line) => {
    const f = line.split(' ');
    if (f[0] === 'START') {
      run.starts.set(Number(f[1]), { seq: Number(f[2]), next: Number(f[3]) });
      return;
    }
    const [shard, seq, offset] = f.map(Number) as [number, number, number];
    if (f.length !== 3 || !Number.isSafeInteger(shard + seq + offset)) {
      bad.push(line);
      return;
    }
    const list = run.acks.get(shard) ?? [];
    if (list.length === 0) run.acks.set(shard, list);
    list.push([seq, offset]);
    run.ackedTotal++;
    timer ??= setTimeout(kill, delayMs);
  });
  const lines = new Promise<void>((resolve) => rl.on('close', resolve));
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('close', (code, signal) => resolve({ code, signal })),
  );
  await lines;
  children.delete(proc);
  clearTimeout(timer);
  clearTimeout(guard);
  if (exit.signal !== 'SIGKILL' || run.ackedBeforeKill <= 0)
    throw new Error(
      `writer ended with code ${exit.code} signal ${exit.signal} after ${run.ackedTotal} acks; stderr: ${stderr}`,
    );
  expect(bad, 'malformed ack lines').toEqual([]);
  return run;
}

// --- segment files (layout: crates/ferry-storage/src/segment/mod.rs) ------

interface BatchSpan {
  start: number;
  end: number;
  base: number;
  last: number;
}

const native = loadNative();

function segmentDir(dataDir: string, shard: number): string {
  return join(dataDir, 'storage', 'segments', String(shard).padStart(20, '0'));
}

/**
 * The last `.log` of a segment shard, and the whole batches in it: length
 * and CRC-32C. A durable segment is preallocated, so a batch the kill cut
 * short is followed by zeros, not by the end of the file, and only its CRC
 * tells it is torn.
 */
function lastSegment(dataDir: string, shard: number): { path: string; base: number; batches: BatchSpan[] } {
  const dir = segmentDir(dataDir, shard);
  const name = readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort()
    .at(-1);
  if (!name) throw new Error(`no segment in ${dir}`);
  const path = join(dir, name);
  const buf = readFileSync(path);
  const batches: BatchSpan[] = [];
  let at = 0;
  while (at + 61 <= buf.length) {
    const end = at + 12 + buf.readInt32BE(at + 8);
    if (end > buf.length || end < at + 61) break; // torn: a prefix of a batch
    if (native.crc32c(buf.subarray(at + 21, end)) !== buf.readUInt32BE(at + 17)) break; // torn: zeros after a prefix
    const base = Number(buf.readBigInt64BE(at));
    batches.push({ start: at, end, base, last: base + buf.readInt32BE(at + 23) });
    at = end;
  }
  return { path, base: Number.parseInt(name, 10), batches };
}

/** Recovered end and file size expected for a last segment cut (or not) to `len` bytes. */
function expectedAfterCut(seg: { base: number; batches: BatchSpan[] }, len: number) {
  const torn = seg.batches.find((b) => b.end > len);
  if (torn) return { next: torn.base, size: torn.start };
  const last = seg.batches.at(-1);
  return last ? { next: last.last + 1, size: last.end } : { next: seg.base, size: 0 };
}

// --- reading back ----------------------------------------------------------

/** Read `[from, to)` of a shard in full and check every record: contiguous offsets, value = crashValue(shard, offset). */
async function readRange(shard: Shard, from: number, to: number): Promise<Buffer[]> {
  const values: Buffer[] = [];
  let at = from;
  while (at < to) {
    const r = await shard.read(at, { maxBytes: 4 << 20 });
    const recs = decodeBatches(r.bytes, at);
    if (recs.length === 0) throw new Error(`shard ${shard.id}: empty read at ${at} (log end ${to})`);
    for (const rec of recs) {
      if (rec.offset >= to) break;
      if (rec.offset !== at) throw new Error(`shard ${shard.id}: expected offset ${at}, read ${rec.offset}`);
      const want = crashValue(shard.id, at);
      const got = rec.value?.toString('latin1');
      if (got !== want)
        throw new Error(
          `shard ${shard.id} offset ${at}: value ${JSON.stringify(got?.slice(0, 40))}, want ${JSON.stringify(want.slice(0, 40))}`,
        );
      values.push(rec.value as Buffer);
      at++;
    }
  }
  return values;
}

async function readOne(shard: Shard, offset: number): Promise<string | undefined> {
  const r = await shard.read(offset, { maxBytes: 1 });
  return decodeBatches(r.bytes, offset)
    .find((x) => x.offset === offset)
    ?.value?.toString('latin1');
}

async function crashRounds(dataDir: string): Promise<void> {
  const recovered = new Map<number, number>(CRASH_SHARDS.map((s) => [s.id, 0]));
  const segmentShards = CRASH_SHARDS.filter((s) => s.options.engine === 'segment').map((s) => s.id);
  const stats = {
    acked: 0,
    ackedAfterKill: 0,
    cuts: 0,
    maxTailLost: 0,
    maxUnackedKept: 0,
    verified: 0,
    sampled: 0,
  };
  const started = performance.now();

  for (let round = 0; round < ITERATIONS; round++) {
    const run = await runWriter(dataDir, 50 + Math.floor(Math.random() * 351));
    stats.acked += run.ackedTotal;
    stats.ackedAfterKill += run.ackedTotal - run.ackedBeforeKill;

    // (d) The writer resumed exactly at the end the previous round recovered.
    const mustKeep = new Map<number, number>();
    for (const { id } of CRASH_SHARDS) {
      const prev = recovered.get(id) as number;
      expect(run.starts.get(id), `round ${round} shard ${id} start`).toEqual({ seq: prev, next: prev });
      const acks = run.acks.get(id) ?? [];
      // Acks come in offset order, contiguous from the start, and seq = offset.
      acks.forEach(([seq, offset], i) => {
        if (seq !== prev + i || offset !== seq)
          throw new Error(`round ${round} shard ${id}: ack #${i} is seq ${seq} offset ${offset}`);
      });
      // The highest offset that must survive: the last ack, or what was verified before.
      mustKeep.set(id, Math.max(prev - 1, acks.at(-1)?.[1] ?? -1));
    }

    // Tear some segment tails, only past the batch holding the last record that must stay.
    const expectNext = new Map<number, { next: number; size: number; path: string; lost: number }>();
    for (const id of segmentShards) {
      const seg = lastSegment(dataDir, id);
      const size = statSync(seg.path).size;
      const whole = expectedAfterCut(seg, size);
      const keep = mustKeep.get(id) as number;
      let minLen = 0;
      if (keep >= seg.base) {
        const b = seg.batches.find((x) => x.base <= keep && keep <= x.last);
        // Acknowledged data missing from the file: no cut, the checks below report it.
        minLen = b ? b.end : size;
      }
      if (size > minLen && Math.random() < 0.5) {
        const len = minLen + Math.floor(Math.random() * (size - minLen));
        truncateSync(seg.path, len);
        const e = expectedAfterCut(seg, len);
        expectNext.set(id, { ...e, path: seg.path, lost: whole.next - e.next });
        stats.cuts++;
      } else {
        expectNext.set(id, { ...whole, path: seg.path, lost: 0 });
      }
    }

    // The killed writer's RocksDB LOCK went with its process; ours is closed before the next writer.
    const storage = await Storage.open(dataDir, defaults);
    try {
      for (const { id } of CRASH_SHARDS) {
        const shard = storage.shard(id);
        const { earliest, latest } = shard.offsets();
        const prev = recovered.get(id) as number;
        const keep = mustKeep.get(id) as number;
        const where = `round ${round} shard ${id} (${shard.engine})`;
        expect(earliest, `${where}: earliest`).toBe(0);
        if (latest <= keep)
          throw new Error(`${where}: log ends at ${latest}, but offset ${keep} was acknowledged`);
        const seg = expectNext.get(id);
        if (seg) {
          // Exactly the whole batches before the torn point, and the file cut back to them.
          expect(latest, `${where}: recovered end`).toBe(seg.next);
          expect(statSync(seg.path).size, `${where}: file size after recovery`).toBe(seg.size);
          stats.maxTailLost = Math.max(stats.maxTailLost, seg.lost);
        }
        stats.maxUnackedKept = Math.max(stats.maxUnackedKept, latest - 1 - keep);
        // (b), (c): everything new since last round, and a window before it, in full.
        const from = Math.max(0, prev - WINDOW);
        const values = await readRange(shard, from, latest);
        stats.verified += values.length;
        // (a): every acknowledged record of this round at its offset, exactly.
        for (const [seq, offset] of run.acks.get(id) ?? []) {
          const v = values[offset - from];
          if (v?.toString('latin1') !== crashValue(id, seq))
            throw new Error(`${where}: acknowledged seq ${seq} is not at offset ${offset}`);
        }
        // Older records: random single reads (the final pass reads them all).
        for (let i = 0; i < Math.min(SAMPLES, from); i++) {
          const o = Math.floor(Math.random() * from);
          expect(await readOne(shard, o), `${where}: sample at ${o}`).toBe(crashValue(id, o));
          stats.sampled++;
        }
        // Reading past the end returns nothing (no ghost records beyond it).
        expect((await shard.read(latest, { maxBytes: 1 << 20 })).bytes.length, `${where}: past end`).toBe(0);
        recovered.set(id, latest);
      }
    } finally {
      await storage.close();
    }
  }

  // Final pass: every record of every shard, from offset 0.
  const storage = await Storage.open(dataDir, defaults);
  let total = 0;
  const segments: number[] = [];
  try {
    for (const { id } of CRASH_SHARDS) {
      const shard = storage.shard(id);
      expect(shard.offsets()).toMatchObject({ earliest: 0, latest: recovered.get(id) });
      total += (await readRange(shard, 0, recovered.get(id) as number)).length;
      if (shard.engine === 'segment') segments.push(shard.stats().segments);
    }
  } finally {
    await storage.close();
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `crash test: ${ITERATIONS} kills in ${secs}s; acked ${stats.acked} records (${stats.ackedAfterKill} of them read after the kill); ` +
      `recovered ${total} records (per shard ${[...recovered.values()].join('/')}, segment files ${segments.join('/')}); ` +
      `tails torn ${stats.cuts}x, max tail lost ${stats.maxTailLost} records; max unacked records kept ${stats.maxUnackedKept}; ` +
      `verified ${stats.verified} records in rounds + ${stats.sampled} samples`,
  );
  expect(total).toBe([...recovered.values()].reduce((a, b) => a + b, 0));
}

describe('kill -9 through the Shard adapter', () => {
  it(`loses no acknowledged record and returns nothing past a torn tail (${ITERATIONS} kills)`, async () => {
    const dataDir = await tempDir('ferrymq-crash-');
    try {
      await crashRounds(dataDir);
    } catch (err) {
      console.error(`crash test: data dir kept for inspection: ${dataDir}`);
      throw err;
    }
    // A full run leaves some 100 MB behind otherwise.
    rmSync(dataDir, { recursive: true, force: true });
  }, 300_000);
});
