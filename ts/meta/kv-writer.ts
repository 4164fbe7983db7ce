/**
 * Group commit for Raft persistence: every group's Ready becomes one list of
 * KV ops, and all lists that arrive while a write is in flight go down
 * together in the next atomic, fsynced `kv.write`. So N busy groups cost one
 * fsync per round trip to the disk, not N (the fsync is the cost; the batch
 * size barely matters).
 *
 * Atomicity holds per batch: a crash keeps either all of a Ready's ops or
 * none, because one Ready's ops never straddle two writes. A failed write
 * fails every Ready in it; the caller treats that as fatal for its group
 * (its in-memory state is ahead of the disk).
 */
import type { KvOp } from '../storage/kv.ts';

export interface KvWrite {
  write(ops: readonly KvOp[], opts: { sync?: boolean }): Promise<void>;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class RaftKvWriter {
  readonly #kv: KvWrite;
  #pending: KvOp[] = [];
  #waiters: Waiter[] = [];
  #inFlight = false;
  /** Fsynced writes issued, and Ready batches they carried (for metrics and the bench). */
  writes = 0;
  batches = 0;

  constructor(kv: KvWrite) {
    this.#kv = kv;
  }

  write(ops: readonly KvOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      for (const op of ops) this.#pending.push(op);
      this.#waiters.push({ resolve, reject });
      if (!this.#inFlight) this.#flush();
    });
  }

  #flush(): void {
    const ops = this.#pending;
    const waiters = this.#waiters;
    this.#pending = [];
    this.#waiters = [];
    this.#inFlight = true;
    this.writes++;
    this.batches += waiters.length;
    let write: Promise<void>;
    try {
      write = this.#kv.write(ops, { sync: true });
    } catch (err) {
      // A store closed under queued writes throws at the call: fail those
      // Readies like a failed fsync instead of throwing out of a callback.
      write = Promise.reject(err);
    }
    write.then(
      () => {
        for (const w of waiters) w.resolve();
        this.#next();
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
        this.#next();
      },
    );
  }

  #next(): void {
    this.#inFlight = false;
    if (this.#waiters.length > 0) this.#flush();
  }
}
