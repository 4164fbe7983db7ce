/**
 * A durable `LogStore` for one Raft group on the node's RocksDB KV
 * (namespace `raft`, keys from codec.ts). The whole log after the snapshot
 * is kept in memory, so every read the core or the driver makes stays
 * synchronous; writes change the memory copy at once and queue KV ops, and
 * `sync()` hands them to the shared `RaftKvWriter` as one atomic, fsynced
 * batch. A crash therefore keeps all of a synced Ready or none of it.
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
  decodeSnapshot,
  encodeEntry,
  encodeHardState,
  encodeSnapshot,
  entryKey,
  GROUP_ID_MAX,
  groupPrefix,
  indexOfEntryKey,
  KEY_ENTRY,
  KEY_HARD_STATE,
  KEY_SNAPSHOT,
  RAFT_NS,
} from './codec.ts';
import type { RaftKvWriter } from './kv-writer.ts';

const SCAN_PAGE = 1024;

export type KvRead = Pick<Kv, 'get' | 'scan'>;

export class NativeLogStore implements LogStore {
  readonly group: number;
  readonly #writer: RaftKvWriter;
  #hardState: HardState = { term: 0, vote: 0 };
  #snapshot: Snapshot | null = null;
  /** #entries[i] has index #base() + 1 + i. */
  #entries: LogEntry[] = [];
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
    const prefix = groupPrefix(group, KEY_ENTRY);
    let startAfter: Buffer | undefined;
    let expected = s.#base() + 1;
    for (;;) {
      const rows = await kv.scan(RAFT_NS, prefix, {
        limit: SCAN_PAGE,
        ...(startAfter ? { startAfter } : {}),
      });
      for (const row of rows) {
        const index = indexOfEntryKey(row.key);
        // Entries at or below the snapshot are leftovers of a compaction
        // whose deletes share its batch; they cannot be there, but skipping
        // them is harmless and a gap is not.
        if (index <= s.#base()) continue;
        if (index !== expected) {
          throw new RangeError(`raft group ${group}: log has a gap at ${expected} (found ${index})`);
        }
        s.#entries.push(decodeEntry(index, row.value));
        expected++;
      }
      if (rows.length < SCAN_PAGE) break;
      startAfter = rows[rows.length - 1]?.key;
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
      this.#pending.push({ ns: RAFT_NS, key: entryKey(this.group, e.index), value: encodeEntry(e) });
    }
  }

  truncateFrom(index: Index): void {
    const base = this.#base();
    if (index <= base) throw new RangeError(`truncate at ${index} <= snapshot index ${base}`);
    this.#deleteRange(index, this.lastIndex());
    const keep = index - base - 1;
    if (keep < this.#entries.length) this.#entries.length = keep;
  }

  saveSnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    const base = this.#base();
    if (index < base) return;
    const at = index - base - 1;
    const kept = at >= 0 && at < this.#entries.length && this.#entries[at]?.term === term;
    if (kept) {
      this.#deleteRange(base + 1, index);
      this.#entries = this.#entries.slice(at + 1);
    } else {
      this.#deleteRange(base + 1, this.lastIndex());
      this.#entries = [];
    }
    this.#snapshot = snapshot;
    this.#pending.push({
      ns: RAFT_NS,
      key: groupPrefix(this.group, KEY_SNAPSHOT),
      value: encodeSnapshot(snapshot),
    });
  }

  #deleteRange(lo: Index, hi: Index): void {
    for (let i = lo; i <= hi; i++) {
      this.#pending.push({ ns: RAFT_NS, key: entryKey(this.group, i), delete: true });
    }
  }

  /** Resolves once every earlier write is fsynced (one atomic batch, shared with other groups). */
  sync(): Promise<void> {
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
