/**
 * The leader's side of a chunked snapshot transfer. The Raft core emits one
 * whole InstallSnapshot per lagging follower; the transport hands it here
 * instead of to the Step queue, and the snapshot goes out as chunks of
 * `chunkBytes` (views of the snapshot the core already holds, no copy), one
 * chunk in flight, each answered before the next leaves.
 *
 * Bounds: one transfer per follower at a time; a snapshot for another group
 * waits (at most one per group: a newer one replaces the older), so memory
 * is the snapshots the core holds anyway. The core re-sends an unanswered
 * snapshot after an election timeout: a copy of the transfer in progress (or
 * of one delivered within `resendGuardMs`) is ignored, a newer snapshot of the same group (further compacted, or a new
 * term) replaces it after the chunk in flight. A refused or failed chunk
 * (deadline: the transport's RPC timeout) ends the transfer; the core's next
 * resend starts it over from offset 0. A leader whose group changed term
 * stops sending.
 */
import { crc32 } from 'node:zlib';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { InstallSnapshot, NodeId, Term } from '../raft/types.ts';
import type { SnapshotChunk } from './snapshot-assembler.ts';

export interface SenderOptions {
  chunkBytes: number;
  /** Sends one chunk; resolves with the offset the follower expects next. */
  sendChunk(to: NodeId, chunk: SnapshotChunk): Promise<number>;
  /** The group's current term on this node: a transfer of an older term stops. */
  termOf(group: number): Term;
  /**
   * For this long after a transfer completes, the same snapshot offered
   * again for that follower is ignored: the core re-sends while the
   * follower's answer is on its way (a long transfer outlasts an election
   * timeout), and its next probe finds the snapshot installed anyway.
   */
  resendGuardMs: number;
  logger: Logger;
  registry?: Registry;
}

/** The [offset, end) ranges of a snapshot of `total` bytes in chunks of `size` (one empty chunk for 0 bytes). */
export function chunksOf(total: number, size: number): { offset: number; end: number }[] {
  const out: { offset: number; end: number }[] = [];
  for (let offset = 0; offset < total || out.length === 0; offset += size) {
    out.push({ offset, end: Math.min(total, offset + size) });
  }
  return out;
}

interface Active {
  group: number;
  message: InstallSnapshot;
  superseded: boolean;
}

interface PeerTransfers {
  active: Active | undefined;
  /** Waiting snapshots, one per group, in arrival order. */
  waiting: Map<number, InstallSnapshot>;
  /** Per group: the last snapshot delivered, and when (performance.now()). */
  delivered: Map<number, { message: InstallSnapshot; at: number }>;
}

type Result = 'done' | 'failed' | 'superseded' | 'stale';

function sameSnapshot(a: InstallSnapshot, b: InstallSnapshot): boolean {
  return (
    a.term === b.term &&
    a.snapshot.meta.index === b.snapshot.meta.index &&
    a.snapshot.meta.term === b.snapshot.meta.term
  );
}

export class SnapshotSender {
  readonly #opts: SenderOptions;
  readonly #peers = new Map<NodeId, PeerTransfers>();
  readonly #chunks: Counter | undefined;
  readonly #transfers: Counter | undefined;
  #closed = false;

  constructor(opts: SenderOptions) {
    this.#opts = opts;
    if (opts.registry) {
      const registers = [opts.registry];
      this.#chunks = new Counter({
        name: 'ferrymq_meta_snapshot_chunks_sent_total',
        help: 'Snapshot chunks (meta.snapshot_chunk_bytes each) acknowledged by a follower',
        labelNames: ['peer'],
        registers,
      });
      this.#transfers = new Counter({
        name: 'ferrymq_meta_snapshot_transfers_total',
        help: 'Snapshot transfers to a follower, by result (done, failed, superseded by a newer snapshot, stale: this node left that term)',
        labelNames: ['peer', 'result'],
        registers,
      });
    }
  }

  /** Takes over an InstallSnapshot the core sent to `m.to`. */
  offer(group: number, m: InstallSnapshot): void {
    if (this.#closed) return;
    let p = this.#peers.get(m.to);
    if (!p) {
      p = { active: undefined, waiting: new Map(), delivered: new Map() };
      this.#peers.set(m.to, p);
    }
    const done = p.delivered.get(group);
    if (done && sameSnapshot(done.message, m) && performance.now() - done.at < this.#opts.resendGuardMs)
      return;
    const a = p.active;
    if (a && a.group === group) {
      if (sameSnapshot(a.message, m) && !a.superseded) return;
      a.superseded = true;
    }
    p.waiting.delete(group);
    p.waiting.set(group, m);
    if (!p.active) void this.#run(m.to, p);
  }

  /** Transfers in progress plus waiting ones, for `to` (tests, status). */
  queued(to: NodeId): number {
    const p = this.#peers.get(to);
    return p ? p.waiting.size + (p.active ? 1 : 0) : 0;
  }

  async #run(to: NodeId, p: PeerTransfers): Promise<void> {
    for (;;) {
      const next = p.waiting.entries().next();
      if (next.done || this.#closed) {
        p.active = undefined;
        return;
      }
      const [group, message] = next.value;
      p.waiting.delete(group);
      const active: Active = { group, message, superseded: false };
      p.active = active;
      const result = await this.#transfer(to, active).catch((err: unknown) => {
        this.#opts.logger.warn({ peer: to, group, err }, 'snapshot transfer failed');
        return 'failed' as const;
      });
      this.#transfers?.inc({ peer: String(to), result });
      if (result === 'done') p.delivered.set(group, { message, at: performance.now() });
    }
  }

  async #transfer(to: NodeId, a: Active): Promise<Result> {
    const { message: m, group } = a;
    const data = m.snapshot.data;
    const sum = crc32(data);
    const ranges = chunksOf(data.length, this.#opts.chunkBytes);
    const log = this.#opts.logger;
    log.info(
      { peer: to, group, index: m.snapshot.meta.index, bytes: data.length, chunks: ranges.length },
      'sending a snapshot to a lagging follower',
    );
    for (const { offset, end } of ranges) {
      if (this.#closed || a.superseded) return 'superseded';
      if (this.#opts.termOf(group) !== m.term) return 'stale';
      const chunk: SnapshotChunk = {
        from: m.from,
        to,
        group,
        term: m.term,
        seq: m.seq,
        index: m.snapshot.meta.index,
        snapshotTerm: m.snapshot.meta.term,
        voters: m.snapshot.meta.voters,
        totalBytes: data.length,
        crc32: sum,
        offset,
        data: data.subarray(offset, end),
        done: end === data.length,
      };
      let next: number;
      try {
        next = await this.#opts.sendChunk(to, chunk);
      } catch (err) {
        log.warn(
          { peer: to, group, offset, err: (err as Error).message },
          'snapshot transfer failed; it starts over when Raft sends the snapshot again',
        );
        return 'failed';
      }
      if (next !== end) {
        log.warn(
          { peer: to, group, offset, next },
          'follower acknowledged another offset; snapshot transfer ends',
        );
        return 'failed';
      }
      this.#chunks?.inc({ peer: String(to) });
    }
    log.info({ peer: to, group, index: m.snapshot.meta.index, chunks: ranges.length }, 'snapshot sent');
    return 'done';
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#peers.values()) {
      p.waiting.clear();
      if (p.active) p.active.superseded = true;
    }
  }
}
