/**
 * Where a follower keeps the chunks of a snapshot it is still receiving
 * (snapshot-assembler.ts), so a transfer holds one chunk in memory at a time
 * and only the finished snapshot is read back whole. `KvSnapshotStaging`
 * uses its own KV namespace of the node's RocksDB, keys `[group u16][offset
 * u64]`, written without fsync: a staged transfer is worth nothing after a
 * crash (the leader starts over), so the namespace is emptied on start.
 * `MemorySnapshotStaging` is the same contract in memory, for nodes run
 * without a store (in-process tests).
 */
import type { Kv } from '../storage/kv.ts';

export const STAGING_NS = 'raft-snapshot-staging';
const SCAN_PAGE = 256;

export interface SnapshotStaging {
  /** Stores the chunk of `group`'s transfer that starts at `offset`. */
  put(group: number, offset: number, data: Uint8Array): Promise<void>;
  /** The staged chunks of `group`, concatenated in offset order. */
  read(group: number, totalBytes: number): Promise<Uint8Array>;
  /** Drops every chunk staged for `group`. */
  discard(group: number): Promise<void>;
  /** Drops everything staged (at start: transfers do not survive a restart). */
  clear(): Promise<void>;
}

function groupKey(group: number): Buffer {
  const k = Buffer.alloc(2);
  k.writeUInt16BE(group);
  return k;
}

function chunkKey(group: number, offset: number): Buffer {
  const k = Buffer.alloc(10);
  k.writeUInt16BE(group);
  k.writeBigUInt64BE(BigInt(offset), 2);
  return k;
}

export class KvSnapshotStaging implements SnapshotStaging {
  readonly #kv: Pick<Kv, 'put' | 'scan' | 'write'>;

  constructor(kv: Pick<Kv, 'put' | 'scan' | 'write'>) {
    this.#kv = kv;
  }

  put(group: number, offset: number, data: Uint8Array): Promise<void> {
    return this.#kv.put(
      STAGING_NS,
      chunkKey(group, offset),
      Buffer.from(data.buffer, data.byteOffset, data.length),
    );
  }

  async read(group: number, totalBytes: number): Promise<Uint8Array> {
    const out = Buffer.allocUnsafe(totalBytes);
    let at = 0;
    for await (const row of this.#rows(groupKey(group))) {
      const offset = Number(row.key.readBigUInt64BE(2));
      // The assembler stages contiguous chunks only; anything else is damage, not a snapshot.
      if (offset !== at || at + row.value.length > totalBytes) {
        throw new RangeError(`staged snapshot of group ${group}: chunk at ${offset}, expected ${at}`);
      }
      row.value.copy(out, at);
      at += row.value.length;
    }
    if (at !== totalBytes)
      throw new RangeError(`staged snapshot of group ${group}: ${at} of ${totalBytes} bytes`);
    return out;
  }

  discard(group: number): Promise<void> {
    return this.#deleteAll(groupKey(group));
  }

  clear(): Promise<void> {
    return this.#deleteAll(Buffer.alloc(0));
  }

  async #deleteAll(prefix: Buffer): Promise<void> {
    const keys: Buffer[] = [];
    for await (const row of this.#rows(prefix)) keys.push(row.key);
    for (let i = 0; i < keys.length; i += SCAN_PAGE) {
      await this.#kv.write(
        keys.slice(i, i + SCAN_PAGE).map((key) => ({ ns: STAGING_NS, key, delete: true as const })),
      );
    }
  }

  async *#rows(prefix: Buffer): AsyncGenerator<{ key: Buffer; value: Buffer }> {
    let startAfter: Buffer | undefined;
    for (;;) {
      const rows = await this.#kv.scan(STAGING_NS, prefix, {
        limit: SCAN_PAGE,
        ...(startAfter ? { startAfter } : {}),
      });
      yield* rows;
      if (rows.length < SCAN_PAGE) return;
      startAfter = rows[rows.length - 1]?.key;
    }
  }
}

export class MemorySnapshotStaging implements SnapshotStaging {
  readonly #chunks = new Map<number, Map<number, Uint8Array>>();

  async put(group: number, offset: number, data: Uint8Array): Promise<void> {
    let g = this.#chunks.get(group);
    if (!g) {
      g = new Map();
      this.#chunks.set(group, g);
    }
    g.set(offset, new Uint8Array(data));
  }

  async read(group: number, totalBytes: number): Promise<Uint8Array> {
    const out = new Uint8Array(totalBytes);
    let at = 0;
    for (const [offset, data] of [...(this.#chunks.get(group) ?? [])].sort((a, b) => a[0] - b[0])) {
      if (offset !== at || at + data.length > totalBytes) {
        throw new RangeError(`staged snapshot of group ${group}: chunk at ${offset}, expected ${at}`);
      }
      out.set(data, at);
      at += data.length;
    }
    if (at !== totalBytes)
      throw new RangeError(`staged snapshot of group ${group}: ${at} of ${totalBytes} bytes`);
    return out;
  }

  async discard(group: number): Promise<void> {
    this.#chunks.delete(group);
  }

  async clear(): Promise<void> {
    this.#chunks.clear();
  }
}
