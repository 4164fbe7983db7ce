/**
 * A broker's local cache of the controller's decisions, for the Kafka
 * layer: which node leads each partition of a registered stream (and at
 * which leader epoch), each stream's partition count, and where every
 * broker's Kafka listener is (`brokers/<node>` = `{host, port}`, which each
 * broker records for itself once its listener is bound).
 *
 * Filled from this node's copy of the metadata group and kept current by
 * watches, so answering a Metadata request or refusing a Produce to a
 * partition led elsewhere costs no round trip. It may lag the leader by the
 * replication delay: a client told the old leader retries on
 * NOT_LEADER_OR_FOLLOWER and asks Metadata again. A watch that falls behind
 * (`meta.watch_queue_max`) or sees a snapshot `reset` is replaced by a fresh
 * read and a new watch.
 *
 * The directory only speaks when the metadata group has more than one voter:
 * a single node leads everything, as before the controller.
 */
import type { Logger } from '../log.ts';
import type { NodeId } from '../raft/types.ts';
import {
  ASSIGNMENTS_PREFIX,
  type Assignment,
  assignmentKey,
  parseAssignment,
  parseStream,
  STREAMS_PREFIX,
  type StreamSpec,
} from './controller-records.ts';
import { METADATA_GROUP } from './groups.ts';
import type { KvEvent, KvItem, Watch } from './kv-state-machine.ts';
import type { MetaService } from './service.ts';

export const BROKERS_PREFIX = 'brokers/';

export interface BrokerAddress {
  nodeId: NodeId;
  host: string;
  port: number;
}

function parseBroker(key: string, value: string): BrokerAddress | undefined {
  const nodeId = Number(key.slice(BROKERS_PREFIX.length));
  try {
    const v = JSON.parse(value) as { host?: unknown; port?: unknown };
    if (!Number.isInteger(nodeId) || nodeId < 1) return undefined;
    if (typeof v.host !== 'string' || !Number.isInteger(v.port)) return undefined;
    return { nodeId, host: v.host, port: v.port as number };
  } catch {
    return undefined;
  }
}

/** One prefix of the metadata group mirrored into a map, re-read whenever its watch ends. */
class Mirror<T> {
  readonly map = new Map<string, T>();
  #watch: Watch | undefined;
  #closed = false;

  readonly meta: MetaService;
  readonly prefix: string;
  readonly parse: (key: string, value: string) => T | undefined;
  readonly log: Logger;

  constructor(
    meta: MetaService,
    prefix: string,
    parse: (key: string, value: string) => T | undefined,
    log: Logger,
  ) {
    this.meta = meta;
    this.prefix = prefix;
    this.parse = parse;
    this.log = log;
    this.#load();
  }

  #set(item: Pick<KvItem, 'key' | 'value'>): void {
    const v = this.parse(item.key, item.value);
    if (v === undefined) this.map.delete(item.key);
    else this.map.set(item.key, v);
  }

  /** Local read and watch in the same turn: no change falls between them. */
  #load(): void {
    if (this.#closed) return;
    this.map.clear();
    for (const item of this.meta.localList(METADATA_GROUP, this.prefix)) this.#set(item);
    const w = this.meta.watch(METADATA_GROUP, this.prefix);
    this.#watch = w;
    void this.#follow(w);
  }

  async #follow(w: Watch): Promise<void> {
    try {
      for await (const e of w as AsyncIterable<KvEvent>) {
        if (e.type === 'reset') break;
        if (e.type === 'put') this.#set(e);
        else this.map.delete(e.key);
      }
    } catch (err) {
      this.log.warn({ err, prefix: this.prefix }, 'assignment watch ended; reading again');
    }
    w.close();
    if (!this.#closed) setImmediate(() => this.#load());
  }

  close(): void {
    this.#closed = true;
    this.#watch?.close();
  }
}

export class PartitionDirectory {
  readonly #meta: MetaService;
  readonly #log: Logger;
  readonly #assignments: Mirror<Assignment>;
  readonly #streams: Mirror<StreamSpec>;
  readonly #brokers: Mirror<BrokerAddress>;
  #advertise: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(meta: MetaService, logger: Logger) {
    this.#meta = meta;
    this.#log = logger.child({ component: 'partition-directory' });
    this.#assignments = new Mirror(meta, ASSIGNMENTS_PREFIX, (_k, v) => parseAssignment(v), this.#log);
    this.#streams = new Mirror(meta, STREAMS_PREFIX, (_k, v) => parseStream(v), this.#log);
    this.#brokers = new Mirror(meta, BROKERS_PREFIX, parseBroker, this.#log);
  }

  get nodeId(): NodeId {
    return this.#meta.nodeId;
  }

  /** More than one voter in the metadata group: the assignments decide who leads. */
  get clustered(): boolean {
    return (this.#meta.groups()[METADATA_GROUP]?.voters.length ?? 1) > 1;
  }

  /** The assignment of a registered stream's partition, when clustered. */
  assignment(topic: string, partition: number): Assignment | undefined {
    if (!this.clustered) return undefined;
    return this.#assignments.map.get(assignmentKey(topic, partition));
  }

  /** Whether another node leads this partition (a Produce or Fetch here gets NOT_LEADER_OR_FOLLOWER). */
  ledElsewhere(topic: string, partition: number): boolean {
    const a = this.assignment(topic, partition);
    return a !== undefined && a.leader !== this.#meta.nodeId;
  }

  /** The partition count of a registered stream (what a local Kafka topic of that name is created with). */
  streamPartitions(topic: string): number | undefined {
    return this.#streams.map.get(`${STREAMS_PREFIX}${topic}`)?.partitions;
  }

  brokers(): BrokerAddress[] {
    return [...this.#brokers.map.values()].sort((a, b) => a.nodeId - b.nodeId);
  }

  /**
   * Records this node's Kafka listener under `brokers/<node>`, retrying
   * (every second) until it is committed; a record that already says the
   * same is left alone.
   */
  advertise(host: string, port: number): void {
    const key = `${BROKERS_PREFIX}${this.#meta.nodeId}`;
    const value = JSON.stringify({ host, port });
    const attempt = () => {
      if (this.#closed) return;
      const cur = this.#brokers.map.get(key);
      if (cur && cur.host === host && cur.port === port) return;
      this.#meta
        .propose(METADATA_GROUP, { op: 'put', key, value })
        .then((r) => {
          if (!r.ok) throw new Error('version mismatch');
        })
        .catch((err: unknown) => {
          this.#log.debug({ err }, 'broker address not recorded yet; retrying');
          if (!this.#closed) this.#advertise = setTimeout(attempt, 1000).unref();
        });
    };
    attempt();
  }

  close(): void {
    this.#closed = true;
    if (this.#advertise) clearTimeout(this.#advertise);
    this.#assignments.close();
    this.#streams.close();
    this.#brokers.close();
  }
}
