/**
 * An in-memory LogStore with an explicit durability line: writes go to the
 * working copy and to a journal; `sync()` replays the journal onto the
 * durable copy. `crash({ loseUnsynced: true })` models a machine crash (the
 * page cache is gone); `loseUnsynced: false` models a process crash (the
 * OS still writes back what was written).
 */
import type { LogStore } from './log-store.ts';
import type { HardState, Index, LogEntry, Snapshot, Term } from './types.ts';

interface State {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** entries[i] has index snapshotIndex + 1 + i. */
  entries: LogEntry[];
}

type Op =
  | { kind: 'hard-state'; state: HardState }
  | { kind: 'append'; entries: readonly LogEntry[] }
  | { kind: 'truncate'; from: Index }
  | { kind: 'snapshot'; snapshot: Snapshot };

function snapIndex(s: State): Index {
  return s.snapshot ? s.snapshot.meta.index : 0;
}

function applyOp(s: State, op: Op): void {
  switch (op.kind) {
    case 'hard-state':
      s.hardState = op.state;
      return;
    case 'append': {
      const first = op.entries[0];
      if (!first) return;
      const expected = snapIndex(s) + s.entries.length + 1;
      if (first.index !== expected) {
        throw new RangeError(`append at ${first.index}, expected ${expected}`);
      }
      for (let i = 0; i < op.entries.length; i++) {
        const e = op.entries[i] as LogEntry;
        if (e.index !== first.index + i) throw new RangeError('append: entries not contiguous');
        s.entries.push(e);
      }
      return;
    }
    case 'truncate': {
      const base = snapIndex(s);
      if (op.from <= base) throw new RangeError(`truncate at ${op.from} <= snapshot index ${base}`);
      const keep = op.from - base - 1;
      if (keep < s.entries.length) s.entries.length = keep;
      return;
    }
    case 'snapshot': {
      const { index, term } = op.snapshot.meta;
      const base = snapIndex(s);
      const at = index - base - 1;
      const kept = at >= 0 && at < s.entries.length && s.entries[at]?.term === term;
      s.entries = kept ? s.entries.slice(at + 1) : index < base ? s.entries : [];
      if (index >= base) s.snapshot = op.snapshot;
      return;
    }
  }
}

function clone(s: State): State {
  return { hardState: s.hardState, snapshot: s.snapshot, entries: s.entries.slice() };
}

export class MemoryLogStore implements LogStore {
  #working: State = { hardState: { term: 0, vote: 0 }, snapshot: null, entries: [] };
  #durable: State = clone(this.#working);
  #journal: Op[] = [];

  #write(op: Op): void {
    applyOp(this.#working, op);
    this.#journal.push(op);
  }

  hardState(): HardState {
    return this.#working.hardState;
  }
  setHardState(state: HardState): void {
    this.#write({ kind: 'hard-state', state });
  }
  snapshot(): Snapshot | null {
    return this.#working.snapshot;
  }
  firstIndex(): Index {
    return snapIndex(this.#working) + 1;
  }
  lastIndex(): Index {
    return snapIndex(this.#working) + this.#working.entries.length;
  }
  term(index: Index): Term | undefined {
    const s = this.#working;
    const base = snapIndex(s);
    if (index === base) return s.snapshot ? s.snapshot.meta.term : 0;
    if (index < base) return undefined;
    return s.entries[index - base - 1]?.term;
  }
  entries(lo: Index, hi: Index): LogEntry[] {
    const base = snapIndex(this.#working);
    if (lo < base + 1 || hi > this.lastIndex() + 1 || lo > hi) {
      throw new RangeError(`entries [${lo}, ${hi}) outside [${base + 1}, ${this.lastIndex() + 1})`);
    }
    return this.#working.entries.slice(lo - base - 1, hi - base - 1);
  }
  append(entries: readonly LogEntry[]): void {
    this.#write({ kind: 'append', entries });
  }
  truncateFrom(index: Index): void {
    this.#write({ kind: 'truncate', from: index });
  }
  saveSnapshot(snapshot: Snapshot): void {
    this.#write({ kind: 'snapshot', snapshot });
  }
  sync(): void {
    for (const op of this.#journal) applyOp(this.#durable, op);
    this.#journal = [];
  }

  /** Simulated crash; the store then reads back what survived. */
  crash(options: { loseUnsynced: boolean }): void {
    if (options.loseUnsynced) {
      this.#working = clone(this.#durable);
    } else {
      this.sync();
    }
    this.#journal = [];
  }

  /** Writes not yet synced (for tests). */
  get unsyncedOps(): number {
    return this.#journal.length;
  }
}
