/**
 * The follower's side of a chunked snapshot transfer (proto/raft.proto,
 * `InstallSnapshotChunk`): chunks are staged (snapshot-staging.ts) as they
 * arrive and, once the last one is in, read back, checked against the
 * transfer's CRC-32 and handed to the group as one whole InstallSnapshot.
 * The Raft core never sees a chunk: chunking is the transport's business.
 *
 * Rules, per group (at most one transfer each, so staged bytes are bounded
 * by groups × `bytesMax`):
 * - A transfer is (leader, leader term, snapshot index and term, size,
 *   checksum); every chunk repeats it. Offset 0 starts a transfer, replacing
 *   the staged one (a leader that starts over, or a newer snapshot).
 * - The next chunk must start where the staged bytes end. A repeat of the
 *   last stored chunk (its ack was lost) is acknowledged again and stored
 *   once; any other offset is refused `out_of_order` with the offset
 *   expected, and the leader starts over.
 * - A chunk whose term is below the group's current term, or below the term
 *   of the transfer being staged, is refused `stale_term`.
 * - The last chunk installs only if the group's term has not moved past the
 *   transfer's and the checksum matches; the core then checks the snapshot
 *   index against its commit as for any InstallSnapshot.
 * - A transfer without a chunk for `timeoutMs` is dropped with its staging.
 *
 * Chunks of one group are handled one at a time (staging is async), so a
 * second leader's chunk cannot interleave with a write in progress.
 */
import { crc32 } from 'node:zlib';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Index, InstallSnapshot, NodeId, Term } from '../raft/types.ts';
import type { SnapshotStaging } from './snapshot-staging.ts';

export interface SnapshotChunk {
  from: NodeId;
  to: NodeId;
  group: number;
  /** The leader's term. */
  term: Term;
  seq: number;
  index: Index;
  snapshotTerm: Term;
  voters: readonly NodeId[];
  totalBytes: number;
  crc32: number;
  offset: number;
  data: Uint8Array;
  done: boolean;
}

export type ChunkRefusal = 'out_of_order' | 'stale_term' | 'too_large' | 'malformed' | 'checksum';

export class SnapshotChunkError extends Error {
  override name = 'SnapshotChunkError';
  readonly reason: ChunkRefusal;
  /** The offset this follower expects next for the group (0: start over). */
  readonly expectedOffset: number;
  constructor(reason: ChunkRefusal, message: string, expectedOffset: number) {
    super(message);
    this.reason = reason;
    this.expectedOffset = expectedOffset;
  }
}

export interface AssemblerOptions {
  staging: SnapshotStaging;
  /** Largest snapshot accepted (`meta.snapshot_bytes_max`). */
  bytesMax: number;
  /** A transfer with no chunk for this long is dropped (`meta.snapshot_transfer_timeout_ms`). */
  timeoutMs: number;
  /** The group's current term on this node. */
  termOf(group: number): Term;
  registry?: Registry;
}

export interface ChunkResult {
  nextOffset: number;
  /** Set when this chunk completed the transfer: the message for the group. */
  install?: InstallSnapshot;
}

interface Transfer {
  from: NodeId;
  term: Term;
  index: Index;
  snapshotTerm: Term;
  totalBytes: number;
  crc32: number;
  received: number;
  /** Offset of the last stored chunk: a repeat of it is a duplicate, not a gap. */
  lastOffset: number;
  timer: NodeJS.Timeout;
}

function sameTransfer(t: Transfer, c: SnapshotChunk): boolean {
  return (
    t.from === c.from &&
    t.term === c.term &&
    t.index === c.index &&
    t.snapshotTerm === c.snapshotTerm &&
    t.totalBytes === c.totalBytes &&
    t.crc32 === c.crc32
  );
}

export class SnapshotAssembler {
  readonly #opts: AssemblerOptions;
  readonly #transfers = new Map<number, Transfer>();
  /** Per group: the chunk being handled, so the next one waits for it. */
  readonly #tails = new Map<number, Promise<unknown>>();
  readonly #received: Counter | undefined;
  readonly #refused: Counter | undefined;
  #closed = false;

  constructor(opts: AssemblerOptions) {
    this.#opts = opts;
    if (opts.registry) {
      const registers = [opts.registry];
      this.#received = new Counter({
        name: 'ferrymq_meta_snapshot_chunks_received_total',
        help: 'Snapshot chunks a follower accepted from a leader',
        registers,
      });
      this.#refused = new Counter({
        name: 'ferrymq_meta_snapshot_chunks_refused_total',
        help: 'Snapshot chunks refused, by reason (out_of_order, stale_term, too_large, malformed, checksum, expired: a transfer dropped after meta.snapshot_transfer_timeout_ms)',
        labelNames: ['reason'],
        registers,
      });
      const staged = (): number => this.stagedBytes;
      new Gauge({
        name: 'ferrymq_meta_snapshot_staged_bytes',
        help: 'Bytes of partly received snapshots staged on this node (at most one transfer per group, each up to meta.snapshot_bytes_max)',
        registers,
        collect() {
          this.set(staged());
        },
      });
    }
  }

  /** Bytes staged by the transfers in progress. */
  get stagedBytes(): number {
    let n = 0;
    for (const t of this.#transfers.values()) n += t.received;
    return n;
  }

  /** Transfers in progress (one per group at most). */
  get active(): number {
    return this.#transfers.size;
  }

  /** Handles one chunk; rejects with `SnapshotChunkError` when it is refused. */
  accept(chunk: SnapshotChunk): Promise<ChunkResult> {
    return this.#serial(chunk.group, () => this.#accept(chunk));
  }

  /** Runs `fn` after everything already queued for `group`. */
  #serial<T>(group: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(group) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#tails.set(group, tail);
    void tail.then(() => {
      if (this.#tails.get(group) === tail) this.#tails.delete(group);
    });
    return run;
  }

  async #accept(c: SnapshotChunk): Promise<ChunkResult> {
    let t = this.#transfers.get(c.group);
    if (t && t.term < this.#opts.termOf(c.group)) {
      // Its leader's term is over here: that transfer can never install.
      await this.#drop(c.group, t);
      t = undefined;
    }
    try {
      this.#check(c, t);
    } catch (err) {
      if (err instanceof SnapshotChunkError) this.#refused?.inc({ reason: err.reason });
      throw err;
    }
    if (c.offset === 0 && !(t && sameTransfer(t, c) && t.lastOffset === 0 && t.received === c.data.length)) {
      // A new transfer (or the same one started over): nothing staged before it counts.
      if (t) await this.#drop(c.group, t);
      await this.#start(c);
    } else if (t && c.offset !== t.received) {
      // A repeat of the last stored chunk (#check let only that through): acknowledge it again.
      this.#received?.inc();
      return { nextOffset: t.received };
    } else if (t) {
      await this.#opts.staging.put(c.group, c.offset, c.data);
      t.received += c.data.length;
      t.lastOffset = c.offset;
      t.timer.refresh();
    }
    const cur = this.#transfers.get(c.group);
    if (!cur) {
      // close() (or the expiry) dropped the transfer while this chunk was being staged.
      this.#refused?.inc({ reason: 'out_of_order' });
      throw new SnapshotChunkError('out_of_order', 'the transfer was dropped while this chunk was staged', 0);
    }
    this.#received?.inc();
    if (!c.done) return { nextOffset: cur.received };
    return { nextOffset: cur.received, install: await this.#finish(c, cur) };
  }

  #check(c: SnapshotChunk, t: Transfer | undefined): void {
    const expected = t?.received ?? 0;
    if (this.#closed) throw new SnapshotChunkError('out_of_order', 'node shutting down', 0);
    const current = this.#opts.termOf(c.group);
    if (c.term < current) {
      throw new SnapshotChunkError(
        'stale_term',
        `snapshot chunk of term ${c.term}, group ${c.group} is at term ${current}`,
        expected,
      );
    }
    if (t && c.term < t.term) {
      throw new SnapshotChunkError(
        'stale_term',
        `snapshot chunk of term ${c.term}, a transfer of term ${t.term} is in progress`,
        expected,
      );
    }
    if (c.totalBytes > this.#opts.bytesMax) {
      throw new SnapshotChunkError(
        'too_large',
        `snapshot of ${c.totalBytes} bytes is over meta.snapshot_bytes_max (${this.#opts.bytesMax})`,
        0,
      );
    }
    const end = c.offset + c.data.length;
    if (end > c.totalBytes || c.done !== (end === c.totalBytes) || (c.data.length === 0 && !c.done)) {
      throw new SnapshotChunkError(
        'malformed',
        `chunk [${c.offset}, ${end}) of a ${c.totalBytes}-byte snapshot with done = ${c.done}`,
        expected,
      );
    }
    if (c.offset === 0) return;
    if (!t || !sameTransfer(t, c)) {
      throw new SnapshotChunkError(
        'out_of_order',
        `chunk at ${c.offset} of a transfer that was not started here (or was replaced): start at 0`,
        0,
      );
    }
    const duplicate = c.offset === t.lastOffset && end === t.received;
    if (c.offset !== t.received && !duplicate) {
      throw new SnapshotChunkError(
        'out_of_order',
        `chunk at ${c.offset}, expected ${t.received}`,
        t.received,
      );
    }
  }

  async #start(c: SnapshotChunk): Promise<void> {
    const timer = setTimeout(() => {
      const t = this.#transfers.get(c.group);
      if (t?.timer !== timer) return;
      this.#refused?.inc({ reason: 'expired' });
      void this.#serial(c.group, () => this.#drop(c.group, t)).catch(() => undefined);
    }, this.#opts.timeoutMs);
    timer.unref();
    const t: Transfer = {
      from: c.from,
      term: c.term,
      index: c.index,
      snapshotTerm: c.snapshotTerm,
      totalBytes: c.totalBytes,
      crc32: c.crc32,
      received: 0,
      lastOffset: 0,
      timer,
    };
    this.#transfers.set(c.group, t);
    await this.#opts.staging.put(c.group, 0, c.data);
    t.received = c.data.length;
  }

  async #finish(c: SnapshotChunk, t: Transfer): Promise<InstallSnapshot> {
    try {
      const current = this.#opts.termOf(c.group);
      if (current > t.term) {
        throw new SnapshotChunkError(
          'stale_term',
          `snapshot of term ${t.term} complete, but group ${c.group} moved on to term ${current}`,
          0,
        );
      }
      const data = await this.#opts.staging.read(c.group, t.totalBytes);
      const sum = crc32(data);
      if (sum !== t.crc32) {
        throw new SnapshotChunkError('checksum', `snapshot CRC-32 ${sum} is not the announced ${t.crc32}`, 0);
      }
      return {
        type: 'install-snapshot',
        from: c.from,
        to: c.to,
        term: t.term,
        seq: c.seq,
        snapshot: { meta: { index: t.index, term: t.snapshotTerm, voters: [...c.voters] }, data },
      };
    } catch (err) {
      if (err instanceof SnapshotChunkError) this.#refused?.inc({ reason: err.reason });
      throw err;
    } finally {
      await this.#drop(c.group, t);
    }
  }

  async #drop(group: number, t: Transfer): Promise<void> {
    // Already dropped or replaced: whoever did that discarded its staging.
    if (this.#transfers.get(group) !== t) return;
    clearTimeout(t.timer);
    this.#transfers.delete(group);
    await this.#opts.staging.discard(group);
  }

  /** Stops the timers; staged chunks stay for `staging.clear()` at the next start. */
  close(): void {
    this.#closed = true;
    for (const t of this.#transfers.values()) clearTimeout(t.timer);
    this.#transfers.clear();
  }
}
