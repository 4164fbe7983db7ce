/**
 * The raw-disk side of the storage bench: where scratch files go (never
 * tmpfs, whose "fsync" proves nothing), and sequential 1 MiB writes with
 * fio, dd and plain Node syscalls, so the Shard adapter's durable appends are
 * compared with what the same disk does without FerryMQ in the way.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MIB = 1 << 20;
const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;
const now = () => performance.now();

export function fsTypeOf(dir: string): string {
  try {
    return execFileSync('df', ['--output=fstype', dir], { encoding: 'utf8' }).split('\n')[1]?.trim() ?? '';
  } catch {
    return '';
  }
}

export function scratchDir(repoRoot: string): { dir: string; note: string } {
  const wanted = process.env.BENCH_DIR ?? tmpdir();
  let base = wanted;
  let note = '';
  if (['tmpfs', 'ramfs'].includes(fsTypeOf(wanted))) {
    base = join(repoRoot, 'node_modules', '.cache', 'ferrymq-bench');
    note = `${wanted} is ${fsTypeOf(wanted)}; using ${base} instead`;
  }
  mkdirSync(base, { recursive: true });
  return { dir: mkdtempSync(join(base, 'ferrymq-bench-')), note };
}

export function fioAvailable(): boolean {
  return spawnSync('fio', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** fio writing `mib` sequential 1 MiB blocks to `path` with the given flags; MB/s as fio reports it. */
function fioWrite(path: string, mib: number, name: string, flags: string[]): number {
  const out = execFileSync(
    'fio',
    [
      `--name=${name}`,
      `--filename=${path}`,
      '--rw=write',
      '--bs=1M',
      `--size=${mib}M`,
      '--ioengine=psync',
      ...flags,
      '--output-format=json',
    ],
    { encoding: 'utf8' },
  );
  const j = JSON.parse(out) as { jobs: { write: { bw_bytes: number } }[] };
  unlinkSync(path);
  return (j.jobs[0]?.write.bw_bytes ?? Number.NaN) / 1e6;
}

export function rawFio(path: string, mib: number): number {
  return fioWrite(path, mib, 'raw', ['--direct=1', '--iodepth=1', '--end_fsync=1']);
}

/** Buffered 1 MiB writes with an fdatasync after each: the page-cache path with one sync per write, no group commit. */
export function fioBufferedSyncEach(path: string, mib: number): number {
  return fioWrite(path, mib, 'buffered-sync', ['--direct=0', '--fdatasync=1']);
}

export function rawDd(path: string, mib: number): number {
  const r = spawnSync(
    'dd',
    ['if=/dev/zero', `of=${path}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=fdatasync'],
    { encoding: 'utf8' },
  );
  unlinkSync(path);
  const m = /copied, ([\d.]+) s/.exec(r.stderr);
  return m ? mbps(mib * MIB, Number(m[1])) : Number.NaN;
}

/** Node writing `mib` random 1 MiB chunks with writeSync, an fdatasync after each or one at the end. */
function nodeWrite(path: string, mib: number, syncEach: boolean): number {
  const chunk = randomFillSync(Buffer.allocUnsafe(MIB));
  const fd = openSync(path, 'w');
  const t0 = now();
  for (let i = 0; i < mib; i++) {
    writeSync(fd, chunk);
    if (syncEach) fdatasyncSync(fd);
  }
  if (!syncEach) fdatasyncSync(fd);
  const s = (now() - t0) / 1000;
  closeSync(fd);
  unlinkSync(path);
  return mbps(mib * MIB, s);
}

export function rawNode(path: string, mib: number): number {
  return nodeWrite(path, mib, true);
}

/** Buffered writes only, one fdatasync at the end: what the page cache path can sustain at best. */
export function rawNodeBuffered(path: string, mib: number): number {
  return nodeWrite(path, mib, false);
}
