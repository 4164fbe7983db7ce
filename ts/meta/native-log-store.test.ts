import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { runLogStoreContract } from '../raft/log-store.contract.ts';
import type { LogEntry } from '../raft/types.ts';
import { Storage } from '../storage/storage.ts';
import { repoRoot, tempDir } from '../test/helpers/broker.ts';
import { encodeEntry, entryKey, groupPrefix, indexOfEntryKey, KEY_ENTRY, KEY_RUN, RAFT_NS } from './codec.ts';
import { RaftKvWriter } from './kv-writer.ts';
import { CRASH_GROUPS, crashEntryData, crashTerm } from './log-crash-writer.ts';
import { NativeLogStore, RUN_ENTRIES_MAX } from './native-log-store.ts';

const config = resolveConfig(undefined, '(test)', {}).storage;
const opened: Storage[] = [];
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => {});
});

async function openStorage(dir: string): Promise<Storage> {
  const s = await Storage.open(dir, config);
  opened.push(s);
  return s;
}

// Each store is its own data dir; reopen closes the whole Storage and
// reads the group back from a fresh one, as a restart does.
const dirs = new WeakMap<NativeLogStore, { dir: string; storage: Storage }>();
runLogStoreContract('native (RocksDB KV)', {
  open: async () => {
    const dir = await tempDir('ferrymq-raftlog-');
    const storage = await openStorage(dir);
    const store = await NativeLogStore.open(storage.kv, new RaftKvWriter(storage.kv), 7);
    dirs.set(store, { dir, storage });
    return store;
  },
  reopen: async (store) => {
    const at = dirs.get(store as NativeLogStore);
    if (!at) throw new Error('unknown store');
    await at.storage.close();
    const storage = await openStorage(at.dir);
    const again = await NativeLogStore.open(storage.kv, new RaftKvWriter(storage.kv), 7);
    dirs.set(again, { dir: at.dir, storage });
    return again;
  },
});

describe('NativeLogStore', () => {
  it('keeps groups apart and batches concurrent syncs into fewer fsynced writes', async () => {
    const storage = await openStorage(await tempDir('ferrymq-raftlog-'));
    const writer = new RaftKvWriter(storage.kv);
    const a = await NativeLogStore.open(storage.kv, writer, 1);
    const b = await NativeLogStore.open(storage.kv, writer, 2);
    const syncs: Promise<void>[] = [];
    for (let i = 1; i <= 50; i++) {
      a.append([{ type: 'command', index: i, term: 1, data: new Uint8Array([1, i]) }]);
      b.append([{ type: 'noop', index: i, term: 2 }]);
      syncs.push(a.sync(), b.sync());
    }
    await Promise.all(syncs);
    expect(writer.batches).toBe(100);
    expect(writer.writes).toBeLessThan(100);
    const a2 = await NativeLogStore.open(storage.kv, writer, 1);
    const b2 = await NativeLogStore.open(storage.kv, writer, 2);
    expect(a2.lastIndex()).toBe(50);
    expect(a2.entries(50, 51)[0]).toEqual({
      type: 'command',
      index: 50,
      term: 1,
      data: new Uint8Array([1, 50]),
    });
    expect(b2.entries(1, 51).every((e) => e.type === 'noop' && e.term === 2)).toBe(true);
  });

  it('writes runs: one row per Ready, split at a truncation, dropped by compaction, read back whole', async () => {
    const dir = await tempDir('ferrymq-raftlog-');
    let storage = await openStorage(dir);
    const cmd = (i: number, term = 1): LogEntry => ({
      type: 'command',
      index: i,
      term,
      data: new Uint8Array([i % 256, 7]),
    });
    const range = (lo: number, hi: number, term = 1) =>
      Array.from({ length: hi - lo + 1 }, (_, k) => cmd(lo + k, term));
    const rows = async () =>
      (await storage.kv.scan(RAFT_NS, groupPrefix(3, KEY_RUN), { limit: 10_000 })).length;
    let s = await NativeLogStore.open(storage.kv, new RaftKvWriter(storage.kv), 3);
    // 1,200 entries in one Ready: rows of RUN_ENTRIES_MAX, not 1,200 rows.
    s.append(range(1, 1200));
    await s.sync();
    expect(await rows()).toBe(Math.ceil(1200 / RUN_ENTRIES_MAX));
    // Cut inside the second row and append a new suffix of another term.
    s.truncateFrom(700);
    s.append(range(700, 710, 2));
    await s.sync();
    // Compact inside the first row: it straddles the snapshot and stays.
    s.saveSnapshot({ meta: { index: 100, term: 1, voters: [1] }, data: new Uint8Array([1]) });
    await s.sync();
    const reopen = async () => {
      await storage.close();
      storage = await openStorage(dir);
      return NativeLogStore.open(storage.kv, new RaftKvWriter(storage.kv), 3);
    };
    s = await reopen();
    expect(s.firstIndex()).toBe(101);
    expect(s.lastIndex()).toBe(710);
    expect(s.entries(101, 711)).toEqual([...range(101, 699), ...range(700, 710, 2)]);
    // A compaction past the end of every row but the newest drops them.
    s.saveSnapshot({ meta: { index: 705, term: 2, voters: [1] }, data: new Uint8Array([2]) });
    await s.sync();
    expect(await rows()).toBe(1);
    s = await reopen();
    expect(s.entries(706, 711)).toEqual(range(706, 710, 2));
    // An install replaces everything.
    s.saveSnapshot({ meta: { index: 900, term: 3, voters: [1] }, data: new Uint8Array([3]) });
    await s.sync();
    expect(await rows()).toBe(0);
    s = await reopen();
    expect(s.firstIndex()).toBe(901);
    expect(s.lastIndex()).toBe(900);
  });

  it('reads a log written one row per entry (the earlier layout) and deletes those rows as it goes', async () => {
    const storage = await openStorage(await tempDir('ferrymq-raftlog-'));
    await storage.kv.write(
      [1, 2, 3, 4].map((i) => ({
        ns: RAFT_NS,
        key: entryKey(5, i),
        value: encodeEntry({ type: 'noop', index: i, term: 1 }),
      })),
      { sync: true },
    );
    const s = await NativeLogStore.open(storage.kv, new RaftKvWriter(storage.kv), 5);
    expect(s.lastIndex()).toBe(4);
    s.append([{ type: 'noop', index: 5, term: 2 }]);
    s.truncateFrom(4);
    s.saveSnapshot({ meta: { index: 2, term: 1, voters: [1] }, data: new Uint8Array(0) });
    await s.sync();
    const old = await storage.kv.scan(RAFT_NS, groupPrefix(5, KEY_ENTRY), { limit: 100 });
    expect(old.map((r) => indexOfEntryKey(r.key))).toEqual([3]);
    const again = await NativeLogStore.open(storage.kv, new RaftKvWriter(storage.kv), 5);
    expect(again.entries(3, 4)).toEqual([{ type: 'noop', index: 3, term: 1 }]);
    expect(again.lastIndex()).toBe(3);
  });

  it('fails a sync queued behind a closed store instead of throwing out of the writer', async () => {
    const storage = await Storage.open(await tempDir('ferrymq-raftlog-'), config);
    const writer = new RaftKvWriter(storage.kv);
    const s = await NativeLogStore.open(storage.kv, writer, 1);
    s.append([{ type: 'noop', index: 1, term: 1 }]);
    const first = s.sync();
    s.append([{ type: 'noop', index: 2, term: 1 }]);
    const second = s.sync();
    await storage.close();
    await first.catch(() => {});
    await expect(second).rejects.toThrow(/closed/);
  }, 5000);

  it('refuses a group id that does not fit the key', async () => {
    const storage = await openStorage(await tempDir('ferrymq-raftlog-'));
    await expect(NativeLogStore.open(storage.kv, new RaftKvWriter(storage.kv), 70_000)).rejects.toThrow(
      RangeError,
    );
  });
});

const WRITER = fileURLToPath(new URL('./log-crash-writer.ts', import.meta.url));
const KILLS = Number(process.env.FERRYMQ_CRASH_ITERATIONS ?? 5);

/** Runs the writer until it has acknowledged `minAcks` syncs plus a random extra, then SIGKILLs it. */
async function runAndKill(dir: string, minAcks: number): Promise<Map<number, number>> {
  const proc: ChildProcess = spawn(process.execPath, [WRITER, dir], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const acked = new Map<number, number>();
  let acks = 0;
  const target = minAcks + Math.floor(Math.random() * minAcks);
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  const closed = new Promise<void>((resolve) => rl.once('close', () => resolve()));
  rl.on('line', (line) => {
    const [g, i, t] = line.split(' ').map(Number) as [number, number, number];
    expect(t).toBe(crashTerm(i));
    acked.set(g, Math.max(acked.get(g) ?? 0, i));
    if (++acks === target) proc.kill('SIGKILL');
  });
  await exited;
  // Lines already in the pipe when the kill came were acknowledged too.
  await closed;
  if (acks < target) throw new Error(`writer exited early after ${acks} acks: ${stderr}`);
  return acked;
}

describe('NativeLogStore survives kill -9', () => {
  it(`holds every acknowledged entry after ${KILLS} SIGKILLs`, async () => {
    const dir = await tempDir('ferrymq-raftcrash-');
    const highest = new Map<number, number>();
    for (let k = 0; k < KILLS; k++) {
      const acked = await runAndKill(dir, 150);
      const storage = await Storage.open(dir, config);
      try {
        const writer = new RaftKvWriter(storage.kv);
        for (const g of CRASH_GROUPS) {
          const s = await NativeLogStore.open(storage.kv, writer, g);
          const ack = Math.max(acked.get(g) ?? 0, highest.get(g) ?? 0);
          expect(s.lastIndex(), `group ${g} after kill ${k}`).toBeGreaterThanOrEqual(ack);
          expect(s.hardState().term).toBe(crashTerm(s.lastIndex()));
          const snap = s.snapshot();
          if (s.lastIndex() >= 150) expect(snap).not.toBeNull();
          expect(s.firstIndex()).toBe((snap?.meta.index ?? 0) + 1);
          for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1)) {
            expect(e.type === 'command' && Buffer.from(e.data).equals(crashEntryData(g, e.index))).toBe(true);
          }
          highest.set(g, s.lastIndex());
        }
      } finally {
        await storage.close();
      }
    }
  }, 120_000);
});
