/**
 * Committed offsets in the meta service's `offsets-<i>` Raft groups, the
 * group chosen by fnv1a(consumer group id) (ts/meta/groups.ts), so all of
 * one consumer group's offsets live in one Raft group.
 *
 * Key `offsets/<group>/<topic>/<partition>` (group and topic
 * percent-encoded, so neither can fake a separator), value the JSON of
 * offset-store.ts. One write of the store (every commit queued behind the
 * one in flight) becomes one `batch` proposal per Raft group it touches
 * (chunked at `BATCH_OPS`): one log entry, one fsync on each member.
 *
 * Consistency: a commit is answered once its entry is committed on a
 * majority (fsynced there) and applied by this node, so the node that
 * answered shows it to the next OffsetFetch (read-your-writes). The view
 * is this node's applied state, kept current by a watch on each group:
 * commits made through another node appear once this node applies them
 * (one heartbeat behind the leader). OffsetFetch reads the view without a
 * round trip: a group's consumers talk to the node FindCoordinator named,
 * which is the node they committed through, so the round trip a
 * linearizable read costs would buy nothing they can observe, and the
 * coordinator's reads are synchronous. At start the view waits for a
 * barrier (ts/meta/group-sync.ts) in every group before anything is
 * served: it never shows an offset table older than what was committed.
 *
 * Migration: offsets still in this node's KV namespace `kafka.offsets`
 * (an upgraded data dir) are proposed into the groups at start, then
 * deleted from the KV store; a crash between the two proposes the same
 * values again on the next start.
 */
import { FerryError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { barrierKey, syncGroup } from '../../meta/group-sync.ts';
import type { KvWrite, Watch } from '../../meta/kv-state-machine.ts';
import type { MetaService } from '../../meta/service.ts';
import type { Kv, KvOp } from '../../storage/kv.ts';
import {
  decodeValue,
  encodeValue,
  OFFSETS_NS,
  type OffsetBackend,
  type OffsetView,
  type OffsetWrite,
  scanOffsets,
} from './offset-store.ts';

export const RAFT_OFFSETS_PREFIX = 'offsets/';
/** Marker keys of the start barrier and of the applied-here wait (one per node and group). */
const MARK_PREFIX = 'offsets.mark/';
/** Writes per proposal: keeps an entry well under the RPC size bound. */
export const BATCH_OPS = 256;
/** Proposals of one write in flight at once per group: they share the leader's fsync. */
const CHUNKS_IN_FLIGHT = 8;
/**
 * Watch queue per group: room for every event of this node's writes in
 * flight twice over (the store has one write in flight), so only a burst of
 * other nodes' writes can make a watch fall behind (it is then re-read).
 */
const WATCH_ROOM = 2 * CHUNKS_IN_FLIGHT * (BATCH_OPS + 1);

export function raftOffsetKey(group: string, topic: string, partition: number): string {
  return `${RAFT_OFFSETS_PREFIX}${encodeURIComponent(group)}/${encodeURIComponent(topic)}/${partition}`;
}

export function parseRaftOffsetKey(key: string): { group: string; topic: string; partition: number } | null {
  if (!key.startsWith(RAFT_OFFSETS_PREFIX)) return null;
  const parts = key.slice(RAFT_OFFSETS_PREFIX.length).split('/');
  if (parts.length !== 3) return null;
  const [g, t, p] = parts as [string, string, string];
  const partition = Number(p);
  if (!/^-?\d+$/.test(p) || !Number.isSafeInteger(partition)) return null;
  try {
    return { group: decodeURIComponent(g), topic: decodeURIComponent(t), partition };
  } catch {
    return null;
  }
}

interface Waiter {
  index: number;
  resolve: () => void;
}

/** One `offsets-<i>` group as this node follows it. */
interface Followed {
  id: number;
  watch: Watch | undefined;
  /** Highest index this node's view has taken in (from the watch). */
  applied: number;
  waiters: Waiter[];
  /** Raft key → version of every offset held (for conditional deletes). */
  versions: Map<string, number>;
}

export class RaftOffsetBackend implements OffsetBackend {
  readonly #meta: MetaService;
  readonly #view: OffsetView;
  readonly #logger: Logger | undefined;
  readonly #groups = new Map<number, Followed>();
  readonly #mark: string;
  #skipped = 0;
  #closed = false;

  private constructor(meta: MetaService, view: OffsetView, logger: Logger | undefined) {
    this.#meta = meta;
    this.#view = view;
    this.#logger = logger?.child({ component: 'kafka-offsets' });
    this.#mark = barrierKey(MARK_PREFIX, meta.nodeId);
  }

  /**
   * Follow every offsets group, wait until each is caught up (a barrier),
   * then migrate the KV store's offsets. Resolves with the backend and the
   * count of unreadable entries skipped (in the groups or the KV store).
   */
  static async open(
    meta: MetaService,
    kv: Kv,
    view: OffsetView,
    logger?: Logger,
  ): Promise<{ backend: RaftOffsetBackend; skipped: number }> {
    const b = new RaftOffsetBackend(meta, view, logger);
    const ids = meta.groupNames.filter((n) => n.startsWith('offsets-')).map((n) => meta.groupId(n) as number);
    for (const id of ids) {
      const f: Followed = { id, watch: undefined, applied: 0, waiters: [], versions: new Map() };
      b.#groups.set(id, f);
      b.#follow(f);
    }
    await Promise.all(
      ids.map((id) =>
        syncGroup(
          meta,
          id,
          b.#mark,
          (index) => b.#waitApplied(id, index),
          b.#logger,
          () => b.#closed,
        ),
      ),
    );
    await b.#migrate(kv);
    return { backend: b, skipped: b.#skipped };
  }

  /** Re-read a group's offsets from this node's copy and watch it from there (at start, after a reset or overflow). */
  #follow(f: Followed): void {
    f.watch?.close();
    // Same turn: the list, the applied index and the watch's first event line up exactly.
    const watch = this.#meta.watch(f.id, '', Math.max(WATCH_ROOM, this.#meta.config.watch_queue_max));
    f.watch = watch;
    const shard = (group: string) => this.#meta.groupFor('offsets', group) === f.id;
    this.#view.dropGroups(shard);
    f.versions.clear();
    for (const item of this.#meta.localList(f.id, RAFT_OFFSETS_PREFIX))
      this.#put(f, item.key, item.value, item.version);
    this.#advance(f, this.#meta.appliedIndex(f.id));
    void this.#consume(f, watch);
  }

  async #consume(f: Followed, watch: Watch): Promise<void> {
    try {
      for await (const e of watch) {
        if (e.type === 'reset') {
          // A snapshot replaced this node's copy: re-read it (a new watch).
          this.#follow(f);
          return;
        }
        // Every event of an entry carries its index, and this node's marker is the last write of its
        // own entries: an index is taken in whole once a later one shows up, or at its marker.
        this.#advance(f, e.version - 1);
        if (e.type === 'put') this.#put(f, e.key, e.value, e.version);
        else {
          const k = parseRaftOffsetKey(e.key);
          if (k) this.#view.remove(k.group, k.topic, k.partition);
          f.versions.delete(e.key);
        }
        if (e.key === this.#mark) this.#advance(f, e.version);
      }
    } catch (err) {
      // Fell meta.watch_queue_max changes behind: the copy is still right, re-read it.
      if (this.#closed || f.watch !== watch) return;
      this.#logger?.warn({ err, group: f.id }, 'offsets watch restarted');
      this.#follow(f);
    }
  }

  #put(f: Followed, key: string, value: string, version: number): void {
    const k = parseRaftOffsetKey(key);
    if (!k) return;
    const v = decodeValue(value);
    if (!v) {
      this.#skipped++;
      return;
    }
    f.versions.set(key, version);
    this.#view.set(k.group, k.topic, k.partition, v);
  }

  #advance(f: Followed, index: number): void {
    if (index <= f.applied) return;
    f.applied = index;
    if (f.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of f.waiters) {
      if (w.index <= index) w.resolve();
      else still.push(w);
    }
    f.waiters = still;
  }

  /** Resolves once this node's view holds index `index` of group `id` (bounded by meta.request_timeout_ms). */
  #waitApplied(id: number, index: number): Promise<void> {
    const f = this.#groups.get(id);
    if (!f) return Promise.reject(new FerryError('FERRY_ERR_INVALID_ARGUMENT', `no offsets group ${id}`));
    if (f.applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        f.waiters = f.waiters.filter((w) => w !== waiter);
        reject(
          new FerryError(
            'FERRY_ERR_RAFT_TIMEOUT',
            `offsets group ${id}: index ${index} committed but not applied here in time`,
          ),
        );
      }, this.#meta.config.request_timeout_ms);
      timer.unref();
      const waiter: Waiter = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      f.waiters.push(waiter);
    });
  }

  async write(ops: readonly OffsetWrite[]): Promise<void> {
    if (this.#closed) throw new FerryError('FERRY_ERR_CLOSED', 'offset store closed');
    // The last write of each key is the one that counts: proposals of one group may then go
    // in parallel (no two touch the same key) and commits coalesced here write a key once.
    const last = new Map<string, OffsetWrite>();
    for (const o of ops) last.set(raftOffsetKey(o.group, o.topic, o.partition), o);
    const byGroup = new Map<number, KvWrite[]>();
    for (const [key, o] of last) {
      const id = this.#meta.groupFor('offsets', o.group);
      let w: KvWrite;
      if (o.value) w = { op: 'put', key, value: encodeValue(o.value) };
      else if (o.ifUnchanged) {
        // Retention: only if the offset is still the one chosen (whoever committed since wins).
        if (this.#view.get(o.group, o.topic, o.partition) !== o.ifUnchanged) continue;
        w = { op: 'delete', key, ifVersion: this.#groups.get(id)?.versions.get(key) ?? 0 };
      } else w = { op: 'delete', key };
      let list = byGroup.get(id);
      if (!list) {
        list = [];
        byGroup.set(id, list);
      }
      list.push(w);
    }
    await Promise.all([...byGroup].map(([id, writes]) => this.#propose(id, writes)));
  }

  async #propose(id: number, writes: KvWrite[]): Promise<void> {
    const window = BATCH_OPS * CHUNKS_IN_FLIGHT;
    for (let w = 0; w < writes.length; w += window) {
      const chunks: Promise<void>[] = [];
      for (let i = w; i < Math.min(writes.length, w + window); i += BATCH_OPS) {
        // The marker always changes, so this node sees an event at the entry's index even when
        // every write in it was a no-op (a delete of a key already gone).
        const chunk = [...writes.slice(i, i + BATCH_OPS), { op: 'put' as const, key: this.#mark, value: '' }];
        chunks.push(
          this.#meta.propose(id, { op: 'batch', ops: chunk }).then((r) => this.#waitApplied(id, r.version)),
        );
      }
      // All settle before the next window or the answer (a failure rejects once all are done).
      const results = await Promise.allSettled(chunks);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  /** Move the KV store's offsets into the groups, then delete them there. */
  async #migrate(kv: Kv): Promise<void> {
    let moved = 0;
    let pending: { write: OffsetWrite; key: Buffer }[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      await this.write(pending.map((p) => p.write));
      const deletes: KvOp[] = pending.map((p) => ({ ns: OFFSETS_NS, key: p.key, delete: true }));
      await kv.write(deletes, { sync: true });
      moved += pending.length;
      pending = [];
    };
    const superseded: KvOp[] = [];
    for await (const e of scanOffsets(kv)) {
      if (e === null) {
        this.#skipped++;
        continue;
      }
      // A newer commit already in the group wins over the KV store's copy.
      const held = this.#view.get(e.group, e.topic, e.partition);
      if (held && held.commitTimestampMs >= e.value.commitTimestampMs) {
        superseded.push({ ns: OFFSETS_NS, key: e.key, delete: true });
        continue;
      }
      pending.push({
        write: { group: e.group, topic: e.topic, partition: e.partition, value: e.value },
        key: e.key,
      });
      if (pending.length >= BATCH_OPS) await flush();
    }
    await flush();
    if (superseded.length > 0) await kv.write(superseded, { sync: true });
    if (moved > 0)
      this.#logger?.info(
        { moved },
        'committed offsets moved from the local KV store into the offsets raft groups',
      );
  }

  close(): void {
    this.#closed = true;
    for (const f of this.#groups.values()) {
      const w = f.watch;
      f.watch = undefined;
      w?.close();
    }
  }
}
