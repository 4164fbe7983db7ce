/**
 * The state machine of every meta group: a map of string keys to string
 * values, each with a version (the Raft index of its last write, like etcd's
 * mod revision, so versions only grow and every node agrees on them).
 * Commands and queries are small JSON documents: metadata is small and
 * rarely written, and JSON keeps the log readable when debugging.
 *
 * Writes may be conditional (`ifVersion`: 0 means "must not exist"), which
 * is enough for compare-and-set by the controller and the admin API.
 *
 * Watchers (`watch(prefix)`) get every change this node applies, in log
 * order, through a bounded queue. A watcher that falls `queueMax` events
 * behind is ended with FERRY_ERR_OVERLOADED: it must re-read and watch
 * again (the state machine never blocks on, nor grows for, a slow reader).
 * A snapshot restore replaces the whole map, so watchers get one `reset`
 * event and should re-read.
 *
 * Limits (key and value size, key count) are checked by the service before
 * proposing, not here: `apply` must give the same answer on every node even
 * if their configs differ.
 */
import { FerryError } from '../errors.ts';
import type { Index } from '../raft/types.ts';
import type { StateMachine } from './state-machine.ts';

export interface KvItem {
  key: string;
  value: string;
  version: number;
}

export type KvWrite =
  | { op: 'put'; key: string; value: string; ifVersion?: number }
  | { op: 'delete'; key: string; ifVersion?: number };

/**
 * A `batch` applies its writes in order in one log entry (one proposal, one
 * fsync for many keys: the offsets and sessions groups coalesce with it); a
 * write whose `ifVersion` does not match is skipped, the others still apply.
 */
export type KvCommand = KvWrite | { op: 'batch'; ops: KvWrite[] };

export type KvResult =
  | { ok: true; version: number }
  | { ok: false; error: 'version-mismatch'; version: number };

export type KvQuery = { op: 'get'; key: string } | { op: 'list'; prefix: string; limit: number };

export type KvEvent =
  | { type: 'put'; key: string; value: string; version: number }
  | { type: 'delete'; key: string; version: number }
  | { type: 'reset' };

const enc = new TextEncoder();
const dec = new TextDecoder();

export const encodeJson = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));
export const decodeJson = <T>(b: Uint8Array): T => JSON.parse(dec.decode(b)) as T;

export interface Watch extends AsyncIterable<KvEvent> {
  close(): void;
}

class Watcher implements Watch {
  readonly prefix: string;
  readonly #queueMax: number;
  readonly #onClose: (w: Watcher, overflow: boolean) => void;
  #queue: KvEvent[] = [];
  #wake: (() => void) | undefined;
  #ended: FerryError | 'closed' | undefined;

  constructor(prefix: string, queueMax: number, onClose: (w: Watcher, overflow: boolean) => void) {
    this.prefix = prefix;
    this.#queueMax = queueMax;
    this.#onClose = onClose;
  }

  push(e: KvEvent): void {
    if (this.#ended) return;
    if (this.#queue.length >= this.#queueMax) {
      this.#end(
        new FerryError(
          'FERRY_ERR_OVERLOADED',
          `watch "${this.prefix}" fell ${this.#queueMax} events behind; re-read and watch again`,
        ),
      );
      return;
    }
    this.#queue.push(e);
    this.#wake?.();
  }

  #end(reason: FerryError | 'closed'): void {
    if (this.#ended) return;
    this.#ended = reason;
    this.#onClose(this, reason !== 'closed');
    this.#wake?.();
  }

  close(): void {
    this.#end('closed');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<KvEvent> {
    try {
      for (;;) {
        const next = this.#queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.#ended === 'closed') return;
        if (this.#ended) throw this.#ended;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
      }
    } finally {
      this.close();
    }
  }
}

export class KvStateMachine implements StateMachine {
  #map = new Map<string, { value: string; version: number }>();
  readonly #watchers = new Set<Watcher>();
  /** Watchers ended because they fell `queueMax` events behind. */
  watchOverflows = 0;

  get size(): number {
    return this.#map.size;
  }

  apply(index: Index, command: Uint8Array): Uint8Array {
    let cmd: KvCommand;
    try {
      cmd = decodeJson<KvCommand>(command);
    } catch {
      // Validated before proposing; a command that does not parse changes nothing anywhere.
      return encodeJson({ ok: false, error: 'malformed', version: 0 });
    }
    if (cmd.op === 'batch') {
      for (const w of Array.isArray(cmd.ops) ? cmd.ops : []) this.#write(index, w);
      const r: KvResult = { ok: true, version: index };
      return encodeJson(r);
    }
    return encodeJson(this.#write(index, cmd));
  }

  #write(index: Index, cmd: KvWrite): KvResult {
    const current = this.#map.get(cmd.key);
    if (cmd.ifVersion !== undefined && (current?.version ?? 0) !== cmd.ifVersion) {
      return { ok: false, error: 'version-mismatch', version: current?.version ?? 0 };
    }
    if (cmd.op === 'put') {
      this.#map.set(cmd.key, { value: cmd.value, version: index });
      this.#emit(cmd.key, { type: 'put', key: cmd.key, value: cmd.value, version: index });
    } else if (current) {
      this.#map.delete(cmd.key);
      this.#emit(cmd.key, { type: 'delete', key: cmd.key, version: index });
    }
    return { ok: true, version: index };
  }

  query(query: Uint8Array): Uint8Array {
    const q = decodeJson<KvQuery>(query);
    if (q.op === 'get') {
      const v = this.#map.get(q.key);
      return encodeJson(v ? { key: q.key, ...v } : null);
    }
    return encodeJson(this.list(q.prefix, q.limit));
  }

  /** Local (not linearizable) read, for watch bootstrap and tests. */
  get(key: string): KvItem | undefined {
    const v = this.#map.get(key);
    return v ? { key, ...v } : undefined;
  }

  list(prefix: string, limit: number): KvItem[] {
    // Only the matching keys are collected and sorted: the node directory
    // is listed every second next to a map that may hold many other keys.
    const keys: string[] = [];
    for (const k of this.#map.keys()) if (k.startsWith(prefix)) keys.push(k);
    keys.sort();
    const out: KvItem[] = [];
    for (const k of keys) {
      if (out.length >= limit) break;
      const v = this.#map.get(k);
      if (v) out.push({ key: k, ...v });
    }
    return out;
  }

  snapshot(): Uint8Array {
    return encodeJson([...this.#map.entries()]);
  }

  restore(data: Uint8Array): void {
    this.#map =
      data.length === 0
        ? new Map()
        : new Map(decodeJson<[string, { value: string; version: number }][]>(data));
    for (const w of this.#watchers) w.push({ type: 'reset' });
  }

  watch(prefix: string, queueMax: number): Watch {
    const w = new Watcher(prefix, queueMax, (x, overflow) => {
      this.#watchers.delete(x);
      if (overflow) this.watchOverflows++;
    });
    this.#watchers.add(w);
    return w;
  }

  #emit(key: string, e: KvEvent): void {
    for (const w of this.#watchers) if (key.startsWith(w.prefix)) w.push(e);
  }
}
