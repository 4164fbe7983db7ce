/**
 * The child process of native-log-store.test.ts: opens Storage on a data
 * dir, reopens the `NativeLogStore` of groups 1..3 and appends to all three
 * forever, each group's sync in flight at once (so the shared writer
 * group-commits them), compacting every 150 entries, until the test kills it
 * with SIGKILL.
 *
 * Run as `node ts/meta/log-crash-writer.ts <dataDir>`. On stdout, one line
 * per synced append, written only after its sync resolved:
 * `<group> <index> <term>`. Entry `i` of every group holds
 * `crashEntryData(group, i)` and the hard state's term is `ceil(i / 100)`.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../config/load.ts';
import type { LogEntry } from '../raft/types.ts';
import { Storage } from '../storage/storage.ts';
import { RaftKvWriter } from './kv-writer.ts';
import { NativeLogStore } from './native-log-store.ts';

export const CRASH_GROUPS = [1, 2, 3] as const;

export function crashEntryData(group: number, index: number): Uint8Array {
  return new TextEncoder().encode(`g${group}-e${index}-${'x'.repeat(index % 50)}`);
}

export const crashTerm = (index: number): number => Math.ceil(index / 100);

async function run(group: number, store: NativeLogStore): Promise<never> {
  for (;;) {
    const base = store.lastIndex();
    const entries: LogEntry[] = [];
    const n = 1 + (base % 4);
    for (let i = base + 1; i <= base + n; i++) {
      entries.push({ type: 'command', index: i, term: crashTerm(i), data: crashEntryData(group, i) });
    }
    store.append(entries);
    store.setHardState({ term: crashTerm(base + n), vote: group });
    const last = base + n;
    if (Math.floor(last / 150) > Math.floor(base / 150)) {
      const at = last - 10;
      store.saveSnapshot({
        meta: { index: at, term: crashTerm(at), voters: [1] },
        data: new TextEncoder().encode(`snap-${group}-${at}`),
      });
    }
    await store.sync();
    process.stdout.write(`${group} ${last} ${crashTerm(last)}\n`);
  }
}

async function main(): Promise<void> {
  const dataDir = process.argv[2];
  if (!dataDir) throw new Error('usage: log-crash-writer.ts <dataDir>');
  const storage = await Storage.open(dataDir, resolveConfig(undefined, '(crash)', {}).storage);
  const writer = new RaftKvWriter(storage.kv);
  const stores = await Promise.all(CRASH_GROUPS.map((g) => NativeLogStore.open(storage.kv, writer, g)));
  await Promise.all(stores.map((s, i) => run(CRASH_GROUPS[i] as number, s)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
