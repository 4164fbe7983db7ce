/**
 * Persistent sessions in the KV store, so that a session with an expiry
 * (3.1.1 clean session 0, or 5.0 Session Expiry Interval > 0) survives a
 * broker restart or SIGKILL with its subscriptions and its undelivered or
 * unacknowledged QoS 1/2 messages.
 *
 * Layout:
 * - the session record {protocolVersion, expiryS, subscriptions}: with the
 *   meta service on this node, in its `sessions-<i>` Raft group
 *   (session-raft.ts: committed on a majority, fsynced); without it, or
 *   before an upgrade moved it there, `mqtt.session` / `<clientId>` → the JSON
 * - `mqtt.session.msg` / `<clientId> 0x00 <seq u64 BE>` → `packetId u16 | state u8
 *   (0 queued, 1 publish sent, 2 pubrel sent) | qos u8 | retain u8 | subIdCount u8 |
 *   subIds u32* | retained-message encoding (retained-kv.ts)`
 *
 * KV writes are RocksDB WAL writes (not fsynced): they survive a process
 * crash; the publisher's PUBACK waits for them (see handlers/publish.ts).
 * Writes of one client run in order, so a message write waits for the
 * record write before it (a PUBACK never covers a message of a session
 * whose record could be lost). Clean sessions never touch this store.
 */
import type { QoS } from 'mqtt-packet';
import type { Logger } from '../log.ts';
import type { MetaService } from '../meta/service.ts';
import type { Kv, KvOp } from '../storage/kv.ts';
import { decodeRetained, encodeRetained } from './retained-kv.ts';
import type { Delivery, Subscription } from './session.ts';
import { RaftSessionRecords, type SessionRecord } from './session-raft.ts';

const META = 'mqtt.session';
const MSG = 'mqtt.session.msg';
const PAGE = 1000;

export const MsgState = { queued: 0, publish: 1, pubrel: 2 } as const;

export interface StoredSession {
  clientId: string;
  protocolVersion: 3 | 4 | 5;
  expiryS: number;
  subscriptions: Subscription[];
  messages: { seq: number; packetId: number; state: number; delivery: Delivery }[];
}

function msgKey(clientId: string, seq: number): Buffer {
  const id = Buffer.from(clientId);
  const key = Buffer.allocUnsafe(id.length + 9);
  id.copy(key, 0);
  key[id.length] = 0;
  key.writeBigUInt64BE(BigInt(seq), id.length + 1);
  return key;
}

function encodeMsg(d: Delivery, packetId: number, state: number): Buffer {
  const body = encodeRetained(d.message);
  const head = Buffer.allocUnsafe(6 + 4 * d.subscriptionIds.length);
  head.writeUInt16BE(packetId, 0);
  head[2] = state;
  head[3] = d.qos;
  head[4] = d.retain ? 1 : 0;
  head[5] = d.subscriptionIds.length;
  for (const [i, id] of d.subscriptionIds.entries()) head.writeUInt32BE(id, 6 + 4 * i);
  return Buffer.concat([head, body]);
}

function decodeMsg(v: Buffer): { packetId: number; state: number; delivery: Delivery } | undefined {
  if (v.length < 6) return undefined;
  const n = v[5] as number;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(v.readUInt32BE(6 + 4 * i));
  const message = decodeRetained(v.subarray(6 + 4 * n));
  if (!message) return undefined;
  message.retain = v[4] === 1;
  return {
    packetId: v.readUInt16BE(0),
    state: v[2] as number,
    delivery: {
      message,
      qos: v[3] as QoS,
      retain: v[4] === 1,
      subscriptionIds: ids,
      bytes: message.payload.length + message.topic.length,
    },
  };
}

export class SessionStore {
  readonly #kv: Kv;
  readonly #logger: Logger;
  /** Set when the meta service runs on this node: the records go through its sessions groups. */
  readonly #records: RaftSessionRecords | undefined;

  constructor(kv: Kv, logger: Logger, meta?: MetaService) {
    this.#kv = kv;
    this.#logger = logger;
    this.#records = meta
      ? new RaftSessionRecords(meta, logger.child({ component: 'mqtt-sessions' }))
      : undefined;
  }

  /** Per client, writes run one after another: a delete never overtakes the put it follows. */
  readonly #chains = new Map<string, Promise<void>>();

  #report = (err: unknown): void => {
    this.#logger.error({ err }, 'session state not persisted');
  };

  #serial(clientId: string, op: () => Promise<void>): Promise<void> {
    const prev = this.#chains.get(clientId) ?? Promise.resolve();
    const next = prev.then(op).catch(this.#report);
    this.#chains.set(clientId, next);
    void next.then(() => {
      if (this.#chains.get(clientId) === next) this.#chains.delete(clientId);
    });
    return next;
  }

  saveMeta(
    clientId: string,
    protocolVersion: number,
    expiryS: number,
    subscriptions: Iterable<Subscription>,
  ): Promise<void> {
    const record = { protocolVersion, expiryS, subscriptions: [...subscriptions] } as SessionRecord;
    const records = this.#records;
    if (records) return this.#serial(clientId, () => records.put(clientId, record));
    const value = JSON.stringify(record);
    return this.#serial(clientId, () => this.#kv.put(META, clientId, value));
  }

  saveMessage(clientId: string, seq: number, d: Delivery, packetId: number, state: number): Promise<void> {
    const value = encodeMsg(d, packetId, state);
    return this.#serial(clientId, () => this.#kv.put(MSG, msgKey(clientId, seq), value));
  }

  deleteMessage(clientId: string, seq: number): Promise<void> {
    return this.#serial(clientId, () => this.#kv.delete(MSG, msgKey(clientId, seq)));
  }

  deleteSession(clientId: string): Promise<void> {
    return this.#serial(clientId, () => this.#deleteAll(clientId));
  }

  async #deleteAll(clientId: string): Promise<void> {
    const prefix = Buffer.concat([Buffer.from(clientId), Buffer.from([0])]);
    for (;;) {
      const page = await this.#kv.scan(MSG, prefix, { limit: PAGE });
      const ops: KvOp[] = page.map((e) => ({ ns: MSG, key: e.key, delete: true }));
      if (page.length < PAGE) {
        if (!this.#records) ops.push({ ns: META, key: clientId, delete: true });
        if (ops.length > 0) await this.#kv.write(ops);
        // The record last: a crash before it leaves a record with fewer messages, never messages without one.
        await this.#records?.delete(clientId);
        return;
      }
      await this.#kv.write(ops);
    }
  }

  /** An upgraded data dir: the record moves into its sessions group, then leaves the KV store. */
  async #migrate(clientId: string, record: SessionRecord, key: Buffer): Promise<void> {
    await this.#records?.put(clientId, record);
    await this.#kv.delete(META, key, { sync: true });
    this.#logger.info(
      { clientId },
      'session record moved from the local KV store into its sessions raft group',
    );
  }

  async loadAll(): Promise<StoredSession[]> {
    const sessions = new Map<string, StoredSession>();
    const legacy: { clientId: string; record: SessionRecord; key: Buffer }[] = [];
    if (this.#records) {
      for (const [clientId, r] of await this.#records.load())
        sessions.set(clientId, { clientId, ...r, messages: [] });
    }
    let after: Buffer | undefined;
    for (;;) {
      const page = await this.#kv.scan(
        META,
        '',
        after === undefined ? { limit: PAGE } : { limit: PAGE, startAfter: after },
      );
      for (const e of page) {
        try {
          const meta = JSON.parse(e.value.toString()) as SessionRecord;
          const clientId = e.key.toString();
          sessions.set(clientId, { clientId, ...meta, messages: [] });
          legacy.push({ clientId, record: meta, key: e.key });
        } catch {
          this.#logger.warn({ key: e.key.toString() }, 'unreadable stored session skipped');
        }
      }
      if (page.length < PAGE) break;
      after = page.at(-1)?.key;
    }
    // Outside the scan's error handling: a failed move fails the start (retried on the next one).
    if (this.#records) for (const l of legacy) await this.#migrate(l.clientId, l.record, l.key);
    after = undefined;
    // Messages of no session here (its record went to another node, or was unreadable) are garbage.
    let orphans: KvOp[] = [];
    for (;;) {
      const page = await this.#kv.scan(
        MSG,
        '',
        after === undefined ? { limit: PAGE } : { limit: PAGE, startAfter: after },
      );
      for (const e of page) {
        const sep = e.key.indexOf(0);
        if (sep < 0 || e.key.length !== sep + 9) continue;
        const s = sessions.get(e.key.subarray(0, sep).toString());
        const m = decodeMsg(e.value);
        if (!s) orphans.push({ ns: MSG, key: e.key, delete: true });
        if (!s || !m) continue;
        s.messages.push({ seq: Number(e.key.readBigUInt64BE(sep + 1)), ...m });
      }
      if (orphans.length >= PAGE) {
        await this.#kv.write(orphans);
        orphans = [];
      }
      if (page.length < PAGE) break;
      after = page.at(-1)?.key;
    }
    if (orphans.length > 0) await this.#kv.write(orphans);
    return [...sessions.values()];
  }
}
