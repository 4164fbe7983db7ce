/**
 * Committed consumer offsets: a memory view (what OffsetFetch reads) over
 * one of two durable backends, so a commit that was answered survives
 * kill -9:
 * - with the meta service on this node, the `offsets-<i>` Raft group of
 *   the consumer group (offset-raft.ts: committed on a majority, fsynced);
 * - without it, this node's KV store, namespace `kafka.offsets`, written
 *   with `sync` (the layout below; also what offset-raft.ts migrates from).
 * Writes go down one at a time, in the order they were asked for;
 * everything queued behind the write in flight goes down together in the
 * next one (one proposal or one fsync for many commits). The view changes
 * only once a write is durable, so OffsetFetch never shows an offset a
 * crash could take back.
 *
 * KV key: u32 group length, group (UTF-8), u32 topic length, topic, i32
 * partition (big-endian), so one group's offsets share a key prefix.
 * Value (both backends): JSON {o: offset as a decimal string, e: leader
 * epoch, m: metadata, t: commit time in ms, i: the topic's id when committed}.
 */
import { FerryError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { MetaService } from '../../meta/service.ts';
import type { Kv, KvOp } from '../../storage/kv.ts';
import { RaftOffsetBackend } from './offset-raft.ts';

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

export function encodeValue(v: CommittedOffset): string {
  return JSON.stringify({
    o: v.offset.toString(),
    e: v.leaderEpoch,
    m: v.metadata,
    t: v.commitTimestampMs,
    i: v.topicId,
  });
}

export function decodeValue(b: Buffer | string): CommittedOffset | null {
  try {
    const v = JSON.parse(b.toString()) as { o: string; e: number; m: string; t: number; i: string };
    return { offset: BigInt(v.o), leaderEpoch: v.e, metadata: v.m, commitTimestampMs: v.t, topicId: v.i };
  } catch {
    return null;
  }
}

/** One change to the committed offsets: a new value, or a delete (`value` null). */
export interface OffsetWrite {
  group: string;
  topic: string;
  partition: number;
  value: CommittedOffset | null;
  /** A delete that applies only while the held value is still this one (retention). */
  ifUnchanged?: CommittedOffset;
}

/** What a backend changes as writes become durable (the store's memory view). */
export interface OffsetView {
  set(group: string, topic: string, partition: number, v: CommittedOffset): void;
  remove(group: string, topic: string, partition: number): void;
  get(group: string, topic: string, partition: number): CommittedOffset | undefined;
  /** Forget every group `drop` selects (a backend re-reading part of its data). */
  dropGroups(drop: (group: string) => boolean): void;
}

export interface OffsetBackend {
  /** Make `ops` durable, in order; resolves once the view shows them. */
  write(ops: readonly OffsetWrite[]): Promise<void>;
  close(): void;
}

/** The local KV backend (a node without the meta service). */
class KvOffsetBackend implements OffsetBackend {
  readonly #kv: Kv;
  readonly #view: OffsetView;

  constructor(kv: Kv, view: OffsetView) {
    this.#kv = kv;
    this.#view = view;
  }

  /** Fill the view from the KV store; resolves with how many unreadable entries were skipped. */
  async load(): Promise<number> {
    let skipped = 0;
    for await (const e of scanOffsets(this.#kv)) {
      if (e === null) skipped++;
      else this.#view.set(e.group, e.topic, e.partition, e.value);
    }
    return skipped;
  }

  async write(ops: readonly OffsetWrite[]): Promise<void> {
    const kvOps: KvOp[] = ops.map((o) => {
      const key = offsetKey(o.group, o.topic, o.partition);
      return o.value
        ? { ns: OFFSETS_NS, key, value: encodeValue(o.value) }
        : { ns: OFFSETS_NS, key, delete: true };
    });
    await this.#kv.write(kvOps, { sync: true });
    for (const o of ops) {
      if (o.value) this.#view.set(o.group, o.topic, o.partition, o.value);
      else if (!o.ifUnchanged || this.#view.get(o.group, o.topic, o.partition) === o.ifUnchanged)
        this.#view.remove(o.group, o.topic, o.partition);
    }
  }

  close(): void {}
}

/** Every entry of the `kafka.offsets` namespace, in key order; null for one it cannot read. */
export async function* scanOffsets(
  kv: Kv,
): AsyncGenerator<
  ({ group: string; topic: string; partition: number; value: CommittedOffset } & { key: Buffer }) | null
> {
  let startAfter: Buffer | undefined;
  for (;;) {
    const page = await kv.scan(OFFSETS_NS, Buffer.alloc(0), {
      limit: PAGE,
      ...(startAfter ? { startAfter } : {}),
    });
    for (const { key, value } of page) {
      const k = parseOffsetKey(key);
      const v = decodeValue(value);
      yield k && v ? { ...k, value: v, key } : null;
    }
    if (page.length < PAGE) return;
    startAfter = page[page.length - 1]?.key;
  }
}

export interface OffsetStoreOptions {
  /** Set when this node runs the meta service: offsets go through its `offsets-<i>` groups. */
  meta?: MetaService;
  logger?: Logger;
}

interface QueuedWrite {
  ops: OffsetWrite[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class OffsetStore {
  readonly #groups = new Map<string, GroupOffsets>();
  #backend: OffsetBackend | undefined;
  #queue: QueuedWrite[] = [];
  #writing = false;
  #count = 0;
  readonly #view: OffsetView = {
    set: (g, t, p, v) => this.#set(g, t, p, v),
    remove: (g, t, p) => this.#delete(g, t, p),
    get: (g, t, p) => this.get(g, t, p),
    dropGroups: (drop) => {
      for (const [id, offsets] of this.#groups) {
        if (!drop(id)) continue;
        for (const parts of offsets.values()) this.#count -= parts.size;
        this.#groups.delete(id);
      }
    },
  };

  private constructor() {}

  /**
   * Load every committed offset: from the Raft groups when `opts.meta` is
   * set (after migrating what the KV store still holds), else from the KV
   * store. Unreadable entries are skipped (and counted).
   */
  static async load(kv: Kv, opts: OffsetStoreOptions = {}): Promise<{ store: OffsetStore; skipped: number }> {
    const store = new OffsetStore();
    if (opts.meta) {
      const { backend, skipped } = await RaftOffsetBackend.open(opts.meta, kv, store.#view, opts.logger);
      store.#backend = backend;
      return { store, skipped };
    }
    const backend = new KvOffsetBackend(kv, store.#view);
    store.#backend = backend;
    return { store, skipped: await backend.load() };
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
    return this.#enqueue(
      entries.map((e) => ({ group, topic: e.topic, partition: e.partition, value: e.value })),
    );
  }

  /** Delete every committed offset of a group; resolves once durable. */
  deleteGroup(group: string): Promise<void> {
    const offsets = this.#groups.get(group);
    if (!offsets) return Promise.resolve();
    const ops: OffsetWrite[] = [];
    for (const [topic, parts] of offsets)
      for (const p of parts.keys()) ops.push({ group, topic, partition: p, value: null });
    return this.#enqueue(ops);
  }

  /** Whether a write is queued or in flight (retention waits for a quiet moment). */
  get busy(): boolean {
    return this.#writing || this.#queue.length > 0;
  }

  /**
   * Delete the offsets of a group that `expired` selects; resolves with how
   * many. Called only when no write is queued or in flight, so no commit of
   * this node can land between choosing the entries and deleting their
   * keys; each delete applies only if the offset is still the one chosen
   * (a commit that arrives meanwhile, here or through another node, is kept).
   */
  async expire(group: string, expired: (v: CommittedOffset) => boolean): Promise<number> {
    const offsets = this.#groups.get(group);
    if (!offsets || this.busy) return 0;
    const ops: OffsetWrite[] = [];
    for (const [topic, parts] of offsets)
      for (const [partition, v] of parts)
        if (expired(v)) ops.push({ group, topic, partition, value: null, ifUnchanged: v });
    if (ops.length === 0) return 0;
    await this.#enqueue(ops);
    return ops.length;
  }

  /** Stop following the backend (the Raft backend's watches). */
  close(): void {
    this.#backend?.close();
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

  #delete(group: string, topic: string, partition: number): void {
    const current = this.#groups.get(group);
    const parts = current?.get(topic);
    if (!current || !parts) return;
    if (parts.delete(partition)) this.#count--;
    if (parts.size === 0) current.delete(topic);
    if (current.size === 0) this.#groups.delete(group);
  }

  #enqueue(ops: OffsetWrite[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ ops, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        const backend = this.#backend;
        if (!backend) throw new FerryError('FERRY_ERR_CLOSED', 'offset store not loaded');
        await backend.write(batch.flatMap((w) => w.ops));
      } catch (err) {
        for (const w of batch) w.reject(err);
        continue;
      }
      for (const w of batch) w.resolve();
    }
    this.#writing = false;
  }
}
