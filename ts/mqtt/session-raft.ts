/**
 * The durable record of a persistent MQTT session in the meta service's
 * `sessions-<i>` Raft group, the group chosen by fnv1a(client id)
 * (ts/meta/groups.ts): `sessions/<client id>` → JSON {node, protocolVersion,
 * expiryS, subscriptions} (every subscription with its options). A put is
 * answered once committed on a majority (fsynced there).
 *
 * Only the record goes through Raft: the queued and in-flight messages of a
 * session stay in the node's KV store (session-store.ts), written once or
 * more per message; a proposal per message would cost a majority fsync on
 * the PUBACK path (docs/raft.md has the numbers).
 *
 * A session lives on the node its client is connected to (`node`): a node
 * restores only its own records at start, and deletes a record only while
 * it is still the version it wrote, so a node whose copy of a session ended
 * never deletes the record of a node that took the client over since.
 *
 * At start each group is caught up with a barrier (ts/meta/group-sync.ts)
 * before the records are read from this node's copy, then records still in
 * the KV namespace `mqtt.session` (an upgraded data dir) are proposed here
 * and deleted there.
 */
import type { Logger } from '../log.ts';
import { barrierKey, pollApplied, syncGroup } from '../meta/group-sync.ts';
import type { MetaService } from '../meta/service.ts';
import type { Subscription } from './session.ts';

export const RAFT_SESSIONS_PREFIX = 'sessions/';
const MARK_PREFIX = 'sessions.mark/';

export interface SessionRecord {
  protocolVersion: 3 | 4 | 5;
  expiryS: number;
  subscriptions: Subscription[];
}

export class RaftSessionRecords {
  readonly #meta: MetaService;
  readonly #logger: Logger;
  /** Client id → version of the record this node last wrote or loaded (for the conditional delete). */
  readonly #versions = new Map<string, number>();

  constructor(meta: MetaService, logger: Logger) {
    this.#meta = meta;
    this.#logger = logger;
  }

  #group(clientId: string): number {
    return this.#meta.groupFor('sessions', clientId);
  }

  async put(clientId: string, record: SessionRecord): Promise<void> {
    const value = JSON.stringify({ node: this.#meta.nodeId, ...record });
    const r = await this.#meta.propose(this.#group(clientId), {
      op: 'put',
      key: `${RAFT_SESSIONS_PREFIX}${clientId}`,
      value,
    });
    this.#versions.set(clientId, r.version);
  }

  /** Deletes the record if it is still the one this node wrote (another node may own the client now). */
  async delete(clientId: string): Promise<void> {
    const version = this.#versions.get(clientId);
    this.#versions.delete(clientId);
    if (version === undefined) return;
    await this.#meta.propose(this.#group(clientId), {
      op: 'delete',
      key: `${RAFT_SESSIONS_PREFIX}${clientId}`,
      ifVersion: version,
    });
  }

  /** Waits until every sessions group is caught up here, then returns this node's records. */
  async load(): Promise<Map<string, SessionRecord>> {
    const meta = this.#meta;
    const ids = meta.groupNames
      .filter((n) => n.startsWith('sessions-'))
      .map((n) => meta.groupId(n) as number);
    const mark = barrierKey(MARK_PREFIX, meta.nodeId);
    await Promise.all(
      ids.map((id) =>
        syncGroup(
          meta,
          id,
          mark,
          (index) => pollApplied(meta, id, index, meta.config.request_timeout_ms),
          this.#logger,
          // Not cancellable: a node stopped while it waits here exits at shutdown_timeout_ms.
          () => false,
        ),
      ),
    );
    const out = new Map<string, SessionRecord>();
    for (const id of ids) {
      for (const item of meta.localList(id, RAFT_SESSIONS_PREFIX)) {
        const clientId = item.key.slice(RAFT_SESSIONS_PREFIX.length);
        try {
          const { node, ...record } = JSON.parse(item.value) as SessionRecord & { node: number };
          if (node !== meta.nodeId) continue;
          out.set(clientId, record);
          this.#versions.set(clientId, item.version);
        } catch {
          this.#logger.warn({ clientId }, 'unreadable session record skipped');
        }
      }
    }
    return out;
  }
}
