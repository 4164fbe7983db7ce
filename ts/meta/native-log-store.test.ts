import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { runLogStoreContract } from '../raft/log-store.contract.ts';
import { Storage } from '../storage/storage.ts';
import { repoRoot, tempDir } from '../test/helpers/broker.ts';
import { RaftKvWriter } from './kv-writer.ts';
import { CRASH_GROUPS, crashEntryData, crashTerm } from './log-crash-writer.ts';
import { NativeLogStore } from './native-log-store.ts';

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
