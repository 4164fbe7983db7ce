/**
 * Where a Raft node's durable state lives: hard state (term, vote), the log
 * after the last snapshot, and that snapshot.
 *
 * Ownership: the node never calls the store. It emits `PersistOp`s in its
 * `Ready`; the driver applies them in order with `applyPersist`, calls
 * `sync()`, and only then sends the Ready's messages (a leader's appends
 * excepted, node.ts). So a vote or an appended entry is durable before any
 * answer that depends on it leaves the process (Raft §5.1, Figure 2
 * "Persistent state"). On restart the driver
 * reads the store back (`hardState`, `snapshot`, `entries`) to build the node.
 *
 * Writes are buffered until `sync()`. A crash loses everything after the last
 * `sync()` at most; `sync()` makes all earlier writes durable at once.
 *
 * Reads and writes are synchronous: every store keeps the log after its
 * snapshot in memory. Only `sync()` may be asynchronous: the memory store
 * syncs at once, the native store (ts/meta/native-log-store.ts) returns a
 * Promise that resolves once its one atomic KV batch is fsynced (in the
 * order the syncs were called), and the driver waits for it before sending
 * the Ready's answers and reporting `persisted()`.
 */
import type { HardState, Index, LogEntry, Snapshot, Term } from './types.ts';

export interface LogStore {
  hardState(): HardState;
  setHardState(state: HardState): void;
  /** The last snapshot, or null before the first compaction. */
  snapshot(): Snapshot | null;
  /** First index still held as an entry (snapshot index + 1 when empty). */
  firstIndex(): Index;
  /** Last index held, or the snapshot index when no entries follow it. */
  lastIndex(): Index;
  /** Term of `index`; the snapshot's term at its index; undefined outside. */
  term(index: Index): Term | undefined;
  /** Entries in [lo, hi); throws RangeError outside [firstIndex, lastIndex + 1]. */
  entries(lo: Index, hi: Index): LogEntry[];
  /** Appends contiguous entries; the first must be lastIndex + 1. */
  append(entries: readonly LogEntry[]): void;
  /** Deletes entries at `index` and after; `index` must be > snapshot index. */
  truncateFrom(index: Index): void;
  /**
   * Stores a snapshot. Entries up to its index are dropped. Entries after it
   * are kept only when the log holds the snapshot's index with the same term
   * (compaction); otherwise the whole log is replaced (snapshot install).
   */
  saveSnapshot(snapshot: Snapshot): void;
  /** Makes every earlier write durable (at once, or when the Promise resolves). */
  sync(): void | Promise<void>;
}

export type PersistOp =
  | { readonly kind: 'append'; readonly entries: readonly LogEntry[]; readonly prevTerm: Term }
  | { readonly kind: 'truncate'; readonly from: Index }
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot }
  | { readonly kind: 'hard-state'; readonly state: HardState };

export function applyPersist(store: LogStore, ops: readonly PersistOp[]): void {
  for (const op of ops) {
    switch (op.kind) {
      case 'append':
        store.append(op.entries);
        break;
      case 'truncate':
        store.truncateFrom(op.from);
        break;
      case 'snapshot':
        store.saveSnapshot(op.snapshot);
        break;
      case 'hard-state':
        store.setHardState(op.state);
        break;
    }
  }
}
