/**
 * A durable `LogStore` for one Raft group on the node's RocksDB KV
 * (namespace `raft`, keys from codec.ts). The whole log after the snapshot
 * is kept in memory, so every read the core or the driver makes stays
 * synchronous; writes change the memory copy at once and queue KV ops, and
 * `sync()` hands them to the shared `RaftKvWriter` as one atomic, fsynced
 * batch. A crash therefore keeps all of a synced Ready or none of it.
 *
 * Entries appended between two syncs go down as runs (codec.ts): one row of
 * up to `RUN_ENTRIES_MAX` entries / `RUN_BYTES_MAX` bytes, so a busy Ready
 * costs a handful of KV ops, not one per entry (and compaction deletes as
 * few). The store remembers which rows hold which indexes: a truncation
 * deletes the rows past the cut and rewrites the one it splits; a compaction
 * deletes the rows wholly at or below the snapshot, and a row straddling it
 * stays until a later compaction passes its end (its old entries are
 * skipped when reading back).
 *
 * Memory is bounded by the driver's compaction policy (a snapshot every
 * `meta.snapshot_entry_count` applied entries), not here.
 */
import type { LogStore } from '../raft/log-store.ts';
import type { HardState, Index, LogEntry, Snapshot, Term } from '../raft/types.ts';
import type { Kv, KvOp } from '../storage/kv.ts';
import {
  decodeEntry,
  decodeHardState,
  decodeRun,
  decodeSnapshot,
  encodeHardState,
  encodeRun,
  encodeSnapshot,
  entryKey,
  GROUP_ID_MAX,
  groupPrefix,
  indexOfEntryKey,
  KEY_ENTRY,
  KEY_HARD_STATE,
  KEY_RUN,
  KEY_SNAPSHOT,
  RAFT_NS,
  runKey,
} from './codec.ts';
import type { RaftKvWriter } from './kv-writer.ts';

/** Rows per scan page when reading a log back (a run row is at most RUN_BYTES_MAX). */
const SCAN_PAGE = 32;
/** A run row holds at most this many entries... */
export const RUN_ENTRIES_MAX = 512;
/** ...and about this many bytes (one entry larger than it gets a row of its own). */
export const RUN_BYTES_MAX = 1024 * 1024;

/** A row of the log on the KV: entries first..last, one-entry rows from the earlier layout or runs. */
interface Row {
  first: Index;
  last: Index;
  kind: typeof KEY_ENTRY | typeof KEY_RUN;
}

function entryBytes(e: LogEntry): number {
  return 16 + (e.type === 'command' ? e.data.length : e.type === 'config' ? e.voters.length * 4 : 0);
}

export type KvRead = Pick<Kv, 'get' | 'scan'>;

export class NativeLogStore implements LogStore {
  readonly group: number;
  readonly #writer: RaftKvWriter;
  #hardState: HardState = { term: 0, vote: 0 };
  #snapshot: Snapshot | null = null;
  /** #entries[i] has index #base() + 1 + i. */
  #entries: LogEntry[] = [];
  /** The log's rows as they will be once #pending is written, in index order. */
  #rows: Row[] = [];
  /** Entries appended since the last run was cut, not yet in #pending. */
  #run: LogEntry[] = [];
  #runBytes = 0;
  #pending: KvOp[] = [];
  /** The last batch handed to the writer: an empty sync() still waits for it. */
  #lastWrite: Promise<void> = Promise.resolve();

  private constructor(group: number, writer: RaftKvWriter) {
    this.group = group;
    this.#writer = writer;
  }

  /** Reads a group's hard state, snapshot and log back from the KV. */
  static async open(kv: KvRead, writer: RaftKvWriter, group: number): Promise<NativeLogStore> {
    if (!Number.isInteger(group) || group < 0 || group > GROUP_ID_MAX) {
      throw new RangeError(`raft group id ${group} outside 0..${GROUP_ID_MAX}`);
    }
    const s = new NativeLogStore(group, writer);
    const hs = await kv.get(RAFT_NS, groupPrefix(group, KEY_HARD_STATE));
    if (hs) s.#hardState = decodeHardState(hs);
    const snap = await kv.get(RAFT_NS, groupPrefix(group, KEY_SNAPSHOT));
    if (snap) s.#snapshot = decodeSnapshot(snap);
    const rows: { row: Row; entries: LogEntry[] }[] = [];
    for (const kind of [KEY_ENTRY, KEY_RUN] as const) {
      const prefix = groupPrefix(group, kind);
      let startAfter: Buffer | undefined;
      for (;;) {
        const page = await kv.scan(RAFT_NS, prefix, {
          limit: SCAN_PAGE,
          ...(startAfter ? { startAfter } : {}),
        });
        for (const { key, value } of page) {
          const first = indexOfEntryKey(key);
          const entries = kind === KEY_RUN ? decodeRun(first, value) : [decodeEntry(first, value)];
          rows.push({ row: { first, last: first + entries.length - 1, kind }, entries });
        }
        if (page.length < SCAN_PAGE) break;
        startAfter = page[page.length - 1]?.key;
      }
    }
    rows.sort((a, b) => a.row.first - b.row.first);
    let expected = s.#base() + 1;
    for (const { row, entries } of rows) {
      s.#rows.push(row);
      for (const e of entries) {
        // Entries at or below the snapshot: a row straddling it, or
        // leftovers of a compaction whose deletes share its batch. Skipping
        // them is harmless and a gap is not.
        if (e.index <= s.#base()) continue;
        if (e.index !== expected) {
          throw new RangeError(`raft group ${group}: log has a gap at ${expected} (found ${e.index})`);
        }
        s.#entries.push(e);
        expected++;
      }
    }
    return s;
  }

  #base(): Index {
    return this.#snapshot ? this.#snapshot.meta.index : 0;
  }

  hardState(): HardState {
    return this.#hardState;
  }

  setHardState(state: HardState): void {
    this.#hardState = state;
    this.#pending.push({
      ns: RAFT_NS,
      key: groupPrefix(this.group, KEY_HARD_STATE),
      value: encodeHardState(state),
    });
  }

  snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  firstIndex(): Index {
    return this.#base() + 1;
  }

  lastIndex(): Index {
    return this.#base() + this.#entries.length;
  }

  term(index: Index): Term | undefined {
    const base = this.#base();
    if (index === base) return this.#snapshot ? this.#snapshot.meta.term : 0;
    if (index < base) return undefined;
    return this.#entries[index - base - 1]?.term;
  }

  entries(lo: Index, hi: Index): LogEntry[] {
    const base = this.#base();
    if (lo < base + 1 || hi > this.lastIndex() + 1 || lo > hi) {
      throw new RangeError(`entries [${lo}, ${hi}) outside [${base + 1}, ${this.lastIndex() + 1})`);
    }
    return this.#entries.slice(lo - base - 1, hi - base - 1);
  }

  append(entries: readonly LogEntry[]): void {
    const first = entries[0];
    if (!first) return;
    const expected = this.lastIndex() + 1;
    if (first.index !== expected) throw new RangeError(`append at ${first.index}, expected ${expected}`);
    for (let i = 0; i < entries.length; i++) {
      if ((entries[i] as LogEntry).index !== first.index + i) {
        throw new RangeError('append: entries not contiguous');
      }
    }
    for (const e of entries) {
      this.#entries.push(e);
      const bytes = entryBytes(e);
      if (
        this.#run.length >= RUN_ENTRIES_MAX ||
        (this.#run.length > 0 && this.#runBytes + bytes > RUN_BYTES_MAX)
      ) {
        this.#cutRun();
      }
      this.#run.push(e);
      this.#runBytes += bytes;
    }
  }

  /** Turns the entries appended since the last cut into one row op. */
  #cutRun(): void {
    const first = this.#run[0];
    if (!first) return;
    const last = this.#run[this.#run.length - 1] as LogEntry;
    this.#pending.push({ ns: RAFT_NS, key: runKey(this.group, first.index), value: encodeRun(this.#run) });
    this.#rows.push({ first: first.index, last: last.index, kind: KEY_RUN });
    this.#run = [];
    this.#runBytes = 0;
  }

  #deleteRow(row: Row): void {
    const key = row.kind === KEY_RUN ? runKey(this.group, row.first) : entryKey(this.group, row.first);
    this.#pending.push({ ns: RAFT_NS, key, delete: true });
  }

  truncateFrom(index: Index): void {
    const base = this.#base();
    if (index <= base) throw new RangeError(`truncate at ${index} <= snapshot index ${base}`);
    this.#cutRun();
    for (let row = this.#rows.at(-1); row && row.last >= index; row = this.#rows.at(-1)) {
      this.#rows.pop();
      this.#deleteRow(row);
      // A row split by the cut: what stays before it (and after the
      // snapshot) is written again as a run of its own.
      const keepFrom = Math.max(row.first, base + 1);
      if (keepFrom < index) {
        const kept = this.#entries.slice(keepFrom - base - 1, index - base - 1);
        this.#pending.push({ ns: RAFT_NS, key: runKey(this.group, keepFrom), value: encodeRun(kept) });
        this.#rows.push({ first: keepFrom, last: index - 1, kind: KEY_RUN });
        break;
      }
    }
    const keep = index - base - 1;
    if (keep < this.#entries.length) this.#entries.length = keep;
  }

  saveSnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    const base = this.#base();
    if (index < base) return;
    this.#cutRun();
    const at = index - base - 1;
    const kept = at >= 0 && at < this.#entries.length && this.#entries[at]?.term === term;
    // Compaction drops the rows wholly covered by the snapshot; an install
    // replaces the whole log.
    let drop = 0;
    while (drop < this.#rows.length && (!kept || (this.#rows[drop] as Row).last <= index)) {
      this.#deleteRow(this.#rows[drop] as Row);
      drop++;
    }
    this.#rows.splice(0, drop);
    this.#entries = kept ? this.#entries.slice(at + 1) : [];
    this.#snapshot = snapshot;
    this.#pending.push({
      ns: RAFT_NS,
      key: groupPrefix(this.group, KEY_SNAPSHOT),
      value: encodeSnapshot(snapshot),
    });
  }

  /** Resolves once every earlier write is fsynced (one atomic batch, shared with other groups). */
  sync(): Promise<void> {
    this.#cutRun();
    if (this.#pending.length === 0) return this.#lastWrite;
    const ops = this.#pending;
    this.#pending = [];
    const write = this.#writer.write(ops);
    // Kept for a later empty sync(); the caller of this one handles its failure.
    write.catch(() => {});
    this.#lastWrite = write;
    return write;
  }
}
