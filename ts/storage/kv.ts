/**
 * Key-value API over the node's RocksDB, for broker state (sessions,
 * retained messages, consumer offsets, Raft data). Namespaces (at most 255
 * bytes) keep users apart; `sync: true` fsyncs the write-ahead log before
 * the promise resolves.
 */
import { fromNative } from '../native/errors.ts';
import type { NativeStore } from '../native/load.ts';

export type KvKey = Buffer | string;

export type KvOp =
  | { ns: string; key: KvKey; value: Buffer | string }
  | { ns: string; key: KvKey; delete: true };

const buf = (k: KvKey): Buffer => (typeof k === 'string' ? Buffer.from(k) : k);

function wrap<T>(p: Promise<T>): Promise<T> {
  return p.catch((e: unknown) => {
    throw fromNative(e);
  });
}

export class Kv {
  readonly #native: NativeStore;

  constructor(native: NativeStore) {
    this.#native = native;
  }

  get(ns: string, key: KvKey): Promise<Buffer | null> {
    return wrap(this.#native.kvGet(ns, buf(key)));
  }

  put(ns: string, key: KvKey, value: Buffer | string, opts: { sync?: boolean } = {}): Promise<void> {
    return wrap(this.#native.kvPut(ns, buf(key), buf(value), opts.sync ?? false));
  }

  delete(ns: string, key: KvKey, opts: { sync?: boolean } = {}): Promise<void> {
    return wrap(this.#native.kvDelete(ns, buf(key), opts.sync ?? false));
  }

  /** Apply all operations atomically. */
  write(ops: readonly KvOp[], opts: { sync?: boolean } = {}): Promise<void> {
    const native = ops.map((op) => ({
      ns: op.ns,
      key: buf(op.key),
      value: 'delete' in op ? undefined : buf(op.value),
    }));
    return wrap(this.#native.kvWrite(native, opts.sync ?? false));
  }

  /** Up to `limit` entries whose key starts with `prefix`, in key order, after `startAfter` (paging). */
  scan(
    ns: string,
    prefix: KvKey,
    opts: { startAfter?: KvKey; limit: number },
  ): Promise<{ key: Buffer; value: Buffer }[]> {
    return wrap(
      this.#native.kvScan(
        ns,
        buf(prefix),
        opts.startAfter === undefined ? null : buf(opts.startAfter),
        opts.limit,
      ),
    );
  }
}
