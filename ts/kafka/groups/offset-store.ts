/**
 * Committed consumer offsets: kept in memory, persisted in the KV store
 * (namespace `kafka.offsets`) with `sync` so a commit that was answered
 * survives kill -9. Writes go down one at a time, in the order they were
 * asked for; everything queued behind the write in flight goes down
 * together in the next one (one fsync for many commits). The memory view
 * changes only once a write is durable, so OffsetFetch never shows an
 * offset a crash could take back.
 *
 * Key: u32 group length, group (UTF-8), u32 topic length, topic, i32
 * partition (big-endian), so one group's offsets share a key prefix.
 * Value: JSON {o: offset as a decimal string, e: leader epoch, m: metadata,
 * t: commit time in ms, i: the topic's id when committed}.
 */
import type { Kv, KvOp } from '../../storage/kv.ts';

export const OFFSETS_NS = 'kafka.offsets';
const PAGE = 1000;

export interface CommittedOffset {
  offset: bigint;
  leaderEpoch: number;
  metadata: string;
  commitTimestampMs: number;
  /** The topic's id at commit time: an offset of a deleted topic never applies to a new one of that name. */
  topicId: string;
}

export interface OffsetCommitEntry {
  topic: string;
  partition: number;
  value: CommittedOffset;
}

/** topic → partition → committed offset. */
export type GroupOffsets = Map<string, Map<number, CommittedOffset>>;

function lengthPrefixed(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

export function groupPrefix(group: string): Buffer {
  return lengthPrefixed(group);
}

export function offsetKey(group: string, topic: string, partition: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeInt32BE(partition, 0);
  return Buffer.concat([lengthPrefixed(group), lengthPrefixed(topic), p]);
}

/** The parts of a key, or null when it is not one this module wrote. */
export function parseOffsetKey(key: Buffer): { group: string; topic: string; partition: number } | null {
  if (key.length < 12) return null;
  const gl = key.readUInt32BE(0);
  if (4 + gl + 8 > key.length) return null;
  const tl = key.readUInt32BE(4 + gl);
  if (4 + gl + 4 + tl + 4 !== key.length) return null;
  return {
    group: key.toString('utf8', 4, 4 + gl),
    topic: key.toString('utf8', 8 + gl, 8 + gl + tl),
    partition: key.readInt32BE(8 + gl + tl),
  };
}

function encodeValue(v: CommittedOffset): string {
  return JSON.stringify({
    o: v.offset.toString(),
    e: v.leaderEpoch,
    m: v.metadata,
    t: v.commitTimestampMs,
    i: v.topicId,
  });
}

function decodeValue(b: Buffer): CommittedOffset | null {
  try {
    const v = JSON.parse(b.toString()) as { o: string; e: number; m: string; t: number; i: string };
    return { offset: BigInt(v.o), leaderEpoch: v.e, metadata: v.m, commitTimestampMs: v.t, topicId: v.i };
  } catch {
    return null;
  }
}

interface QueuedWrite {
  ops: KvOp[];
  apply: () => void;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class OffsetStore {
  readonly #kv: Kv;
  readonly #groups = new Map<string, GroupOffsets>();
  #queue: QueuedWrite[] = [];
  #writing = false;
  #count = 0;

  private constructor(kv: Kv) {
    this.#kv = kv;
  }

  /** Read every committed offset from the KV store. Unreadable entries are skipped (and counted). */
  static async load(kv: Kv): Promise<{ store: OffsetStore; skipped: number }> {
    const store = new OffsetStore(kv);
    let skipped = 0;
    let startAfter: Buffer | undefined;
    for (;;) {
      const page = await kv.scan(OFFSETS_NS, Buffer.alloc(0), {
        limit: PAGE,
        ...(startAfter ? { startAfter } : {}),
      });
      for (const { key, value } of page) {
        const k = parseOffsetKey(key);
        const v = decodeValue(value);
        if (!k || !v) {
          skipped++;
          continue;
        }
        store.#set(k.group, k.topic, k.partition, v);
      }
      if (page.length < PAGE) break;
      startAfter = page[page.length - 1]?.key;
    }
    return { store, skipped };
  }

  /** Committed offsets held, over every group. */
  get size(): number {
    return this.#count;
  }

  groupIds(): IterableIterator<string> {
    return this.#groups.keys();
  }

  hasOffsets(group: string): boolean {
    return this.#groups.has(group);
  }

  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.#groups.get(group)?.get(topic)?.get(partition);
  }

  /** Every committed offset of a group (read-only view). */
  offsetsOf(group: string): GroupOffsets | undefined {
    return this.#groups.get(group);
  }

  /** Persist then publish; resolves once durable. */
  commit(group: string, entries: readonly OffsetCommitEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const ops: KvOp[] = entries.map((e) => ({
      ns: OFFSETS_NS,
      key: offsetKey(group, e.topic, e.partition),
      value: encodeValue(e.value),
    }));
    return this.#enqueue(ops, () => {
      for (const e of entries) this.#set(group, e.topic, e.partition, e.value);
    });
  }

  /** Delete every committed offset of a group; resolves once durable. */
  deleteGroup(group: string): Promise<void> {
    const offsets = this.#groups.get(group);
    if (!offsets) return Promise.resolve();
    const entries: [string, number, CommittedOffset][] = [];
    for (const [topic, parts] of offsets) for (const [p, v] of parts) entries.push([topic, p, v]);
    return this.#remove(group, entries, false);
  }

  /** Whether a write is queued or in flight (retention waits for a quiet moment). */
  get busy(): boolean {
    return this.#writing || this.#queue.length > 0;
  }

  /**
   * Delete the offsets of a group that `expired` selects; resolves with how
   * many. Called only when no write is queued or in flight, so no commit
   * can land between choosing the entries and deleting their keys; a commit
   * that arrives meanwhile is written after, and kept.
   */
  async expire(group: string, expired: (v: CommittedOffset) => boolean): Promise<number> {
    const offsets = this.#groups.get(group);
    if (!offsets || this.busy) return 0;
    const entries: [string, number, CommittedOffset][] = [];
    for (const [topic, parts] of offsets)
      for (const [p, v] of parts) if (expired(v)) entries.push([topic, p, v]);
    if (entries.length === 0) return 0;
    await this.#remove(group, entries, true);
    return entries.length;
  }

  #remove(
    group: string,
    entries: [string, number, CommittedOffset][],
    onlyIfUnchanged: boolean,
  ): Promise<void> {
    const ops: KvOp[] = entries.map(([topic, partition]) => ({
      ns: OFFSETS_NS,
      key: offsetKey(group, topic, partition),
      delete: true,
    }));
    return this.#enqueue(ops, () => {
      const current = this.#groups.get(group);
      if (!current) return;
      for (const [topic, partition, value] of entries) {
        const parts = current.get(topic);
        if (!parts) continue;
        if (onlyIfUnchanged && parts.get(partition) !== value) continue;
        if (parts.delete(partition)) this.#count--;
        if (parts.size === 0) current.delete(topic);
      }
      if (current.size === 0) this.#groups.delete(group);
    });
  }

  #set(group: string, topic: string, partition: number, v: CommittedOffset): void {
    let g = this.#groups.get(group);
    if (!g) {
      g = new Map();
      this.#groups.set(group, g);
    }
    let t = g.get(topic);
    if (!t) {
      t = new Map();
      g.set(topic, t);
    }
    if (!t.has(partition)) this.#count++;
    t.set(partition, v);
  }

  #enqueue(ops: KvOp[], apply: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ ops, apply, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        await this.#kv.write(
          batch.flatMap((w) => w.ops),
          { sync: true },
        );
      } catch (err) {
        for (const w of batch) w.reject(err);
        continue;
      }
      for (const w of batch) {
        w.apply();
        w.resolve();
      }
    }
    this.#writing = false;
  }
}
