/**
 * The controller: runs on whichever node leads the `metadata` group, and
 * only there. Each round (every `meta.node_timeout_ms / 4`, at most 1 s) it
 * decides which members are alive, records changes of that verdict under
 * `liveness/<node>`, and writes the assignment changes `controller-plan.ts`
 * computes (placement of new partitions, failover off dead leaders, clean-up
 * of deleted streams).
 *
 * Liveness comes from Raft contact: the metadata leader sends every member a
 * heartbeat each few ticks, so "no successful call to node N for
 * node_timeout_ms" means N is down (or cut off from the leader, which for
 * placement is the same). A controller that just took over counts every
 * member as heard from at that moment, so it waits a full timeout before it
 * declares anyone dead: it never acts on another node's stale clock. A
 * member already recorded dead stays dead until this node hears from it.
 *
 * Nothing kept in memory matters for correctness: state is read back from
 * the leader's own copy of the metadata group at the start of every round
 * (no read-index round trip: an idle cluster costs nothing) and every write
 * is a compare-and-set on the version it read, so a copy that lags, or a
 * deposed controller racing a new one, loses its writes instead of
 * overwriting newer decisions; the next round reads again.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { NodeId } from '../raft/types.ts';
import { type Plan, plan } from './controller-plan.ts';
import {
  ASSIGNMENTS_PREFIX,
  type Assignment,
  assignmentKey,
  LIVENESS_PREFIX,
  type Liveness,
  livenessKey,
  parseAssignment,
  parseAssignmentKey,
  parseLiveness,
  parseStream,
  STREAMS_PREFIX,
  type StreamSpec,
} from './controller-records.ts';
import type { KvCommand, KvItem, KvResult } from './kv-state-machine.ts';

/** What the controller needs of its node; the meta service, or a fake in tests. */
export interface ControllerHost {
  readonly nodeId: NodeId;
  /** Whether this node leads the metadata group now. */
  isLeader(): boolean;
  /** Voters of the metadata group as this node knows them. */
  members(): NodeId[];
  /** Per peer: milliseconds since the last successful Raft call to it, or null if none. */
  contactsAgoMs(): ReadonlyMap<NodeId, number | null>;
  /** The metadata group under `prefix` (the leader's local copy; writes are CAS, so staleness is safe). */
  list(prefix: string, limit: number): Promise<KvItem[]>;
  /** The last index this node applied to the metadata group (unchanged: nothing new to read). */
  appliedIndex(): number;
  propose(command: KvCommand): Promise<KvResult>;
}

export interface ControllerOptions {
  host: ControllerHost;
  nodeTimeoutMs: number;
  /** Bound on the records read per prefix in one round (meta.kv_keys_max). */
  keysMax: number;
  logger: Logger;
  registry?: Registry;
  /** Wall clock in ms; injected by tests. */
  now?: () => number;
}

/** Proposals in flight at once while a round writes its changes. */
const WRITE_BATCH = 64;

export interface RoundResult {
  alive: NodeId[];
  dead: NodeId[];
  plan: Plan;
  written: number;
  conflicts: number;
}

export class Controller {
  readonly #host: ControllerHost;
  readonly #timeoutMs: number;
  readonly #keysMax: number;
  readonly #log: Logger;
  readonly #now: () => number;
  #activeSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  /** What the last complete round saw, when it left nothing to retry (see #round). */
  #settled:
    | {
        index: number;
        activeSince: number;
        recorded: Map<string, { rec: Liveness | undefined; version: number }>;
        alive: Set<NodeId>;
        refused: Plan['refused'];
      }
    | undefined;
  #alive = 0;
  #assigned = 0;
  #offline = 0;
  #unplaced = 0;
  readonly #leaderChanges: Counter | undefined;

  constructor(opts: ControllerOptions) {
    this.#host = opts.host;
    this.#timeoutMs = opts.nodeTimeoutMs;
    this.#keysMax = opts.keysMax;
    this.#log = opts.logger.child({ component: 'controller' });
    this.#now = opts.now ?? Date.now;
    if (opts.registry) {
      const registers = [opts.registry];
      const gauge = (name: string, help: string, value: () => number) => {
        const g: Gauge = new Gauge({
          name,
          help,
          registers,
          collect: () => g.set(this.active ? value() : 0),
        });
      };
      gauge(
        'ferrymq_meta_controller_active',
        '1 while this node runs the controller (it leads the metadata group)',
        () => 1,
      );
      gauge(
        'ferrymq_meta_nodes_alive',
        'Members the controller counts as alive (Raft contact within meta.node_timeout_ms); 0 off the controller',
        () => this.#alive,
      );
      gauge(
        'ferrymq_meta_assigned_partitions',
        'Partitions with an assignment record (each stream has at most meta.stream_partitions_max); 0 off the controller',
        () => this.#assigned,
      );
      gauge(
        'ferrymq_meta_offline_partitions',
        'Partitions whose leader is not alive after the last controller round (no live node to move to)',
        () => this.#offline,
      );
      gauge(
        'ferrymq_meta_unplaced_partitions',
        'Partitions not placed because their replication factor is above the live node count',
        () => this.#unplaced,
      );
      this.#leaderChanges = new Counter({
        name: 'ferrymq_meta_partition_leader_changes_total',
        help: 'Partition leaders the controller on this node placed or moved',
        registers,
      });
    }
  }

  get active(): boolean {
    return this.#activeSince !== undefined;
  }

  /** Runs rounds every `intervalMs` until `stop()`; a round never overlaps the next. */
  start(intervalMs: number): void {
    const loop = () => {
      if (this.#stopped) return;
      this.tick()
        .catch((err: unknown) => this.#log.warn({ err }, 'controller round failed; retrying next round'))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(loop, intervalMs).unref();
        });
    };
    this.#timer = setTimeout(loop, intervalMs).unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#activeSince = undefined;
  }

  /**
   * One round if this node leads the metadata group (else it steps down and
   * returns undefined). Errors (lost quorum, leadership moved) end the round;
   * the next one starts over from the replicated state.
   */
  async tick(): Promise<RoundResult | undefined> {
    if (this.#running) return undefined;
    if (!this.#host.isLeader()) {
      if (this.#activeSince !== undefined)
        this.#log.info('controller stopped: no longer the metadata leader');
      this.#activeSince = undefined;
      this.#settled = undefined;
      return undefined;
    }
    if (this.#activeSince === undefined) {
      this.#activeSince = this.#now();
      this.#log.info('controller started on the metadata leader');
    }
    this.#running = true;
    try {
      return await this.#round(this.#activeSince);
    } finally {
      this.#running = false;
    }
  }

  /** Which members are alive now: contact within the timeout, or the new controller's grace. */
  #judge(
    members: readonly NodeId[],
    recorded: ReadonlyMap<string, { rec: Liveness | undefined }>,
    now: number,
    activeSince: number,
  ): Set<NodeId> {
    const contacts = this.#host.contactsAgoMs();
    const alive = new Set<NodeId>();
    for (const id of members) {
      const ago = contacts.get(id) ?? null;
      // A new controller gives every member the benefit of the doubt for one timeout, except one
      // already recorded dead: that takes real contact, or a leader change would revive it.
      const graced =
        now - activeSince <= this.#timeoutMs && recorded.get(livenessKey(id))?.rec?.alive !== false;
      if (id === this.#host.nodeId || (ago !== null && ago <= this.#timeoutMs) || graced) alive.add(id);
    }
    return alive;
  }

  async #round(activeSince: number): Promise<RoundResult | undefined> {
    const h = this.#host;
    const index = h.appliedIndex();
    const settled = this.#settled;
    this.#settled = undefined;
    // Nothing applied since a round that left nothing to retry: only the verdicts can have changed,
    // and if they did not, there is nothing to read or plan (an idle cluster's round is a few map reads).
    if (settled && settled.index === index && settled.activeSince === activeSince) {
      const members = [...new Set(h.members())].sort((a, b) => a - b);
      const alive = this.#judge(members, settled.recorded, this.#now(), activeSince);
      if (alive.size === settled.alive.size && [...alive].every((id) => settled.alive.has(id))) {
        this.#settled = settled;
        return {
          alive: [...alive],
          dead: members.filter((id) => !alive.has(id)),
          plan: { changes: [], refused: settled.refused },
          written: 0,
          conflicts: 0,
        };
      }
    }
    const [streamItems, assignmentItems, livenessItems] = await Promise.all([
      h.list(STREAMS_PREFIX, this.#keysMax),
      h.list(ASSIGNMENTS_PREFIX, this.#keysMax),
      h.list(LIVENESS_PREFIX, this.#keysMax),
    ]);
    if (!h.isLeader() || this.#activeSince !== activeSince) return undefined;
    const now = this.#now();

    const recorded = new Map<string, { rec: Liveness | undefined; version: number }>();
    for (const item of livenessItems) {
      recorded.set(item.key, { rec: parseLiveness(item.value), version: item.version });
    }
    const members = [...new Set(h.members())].sort((a, b) => a - b);
    const alive = this.#judge(members, recorded, now, activeSince);
    const judged = new Map(recorded);

    const streams = new Map<string, StreamSpec>();
    for (const item of streamItems) {
      const spec = parseStream(item.value);
      if (spec) streams.set(item.key.slice(STREAMS_PREFIX.length), spec);
    }
    const assignments = new Map<string, Map<number, { assignment: Assignment; version: number }>>();
    const broken: KvItem[] = [];
    for (const item of assignmentItems) {
      const at = parseAssignmentKey(item.key);
      const a = parseAssignment(item.value);
      if (!at || !a) {
        broken.push(item);
        continue;
      }
      let parts = assignments.get(at.topic);
      if (!parts) {
        parts = new Map();
        assignments.set(at.topic, parts);
      }
      parts.set(at.partition, { assignment: a, version: item.version });
    }

    const writes: KvCommand[] = [];
    const leaderMoves: boolean[] = [];
    // Liveness records: written when the verdict changes, deleted for nodes that left.
    for (const id of members) {
      const key = livenessKey(id);
      const cur = recorded.get(key);
      recorded.delete(key);
      const isAlive = alive.has(id);
      if (cur?.rec?.alive === isAlive) continue;
      if (cur?.rec || !isAlive) {
        this.#log.warn({ node: id, alive: isAlive }, isAlive ? 'node is alive again' : 'node is dead');
      }
      writes.push({
        op: 'put',
        key,
        value: JSON.stringify({ alive: isAlive, since: now } satisfies Liveness),
        ifVersion: cur?.version ?? 0,
      });
      leaderMoves.push(false);
    }
    for (const [key, cur] of recorded) {
      writes.push({ op: 'delete', key, ifVersion: cur.version });
      leaderMoves.push(false);
    }
    // A record the controller cannot read is replaced: deleting it lets the next round place it again.
    for (const item of broken) {
      this.#log.warn({ key: item.key }, 'unreadable assignment record deleted');
      writes.push({ op: 'delete', key: item.key, ifVersion: item.version });
      leaderMoves.push(false);
    }

    const p = plan({ streams, assignments, members, alive });
    for (const c of p.changes) {
      if (c.kind === 'delete') {
        writes.push({ op: 'delete', key: c.key, ifVersion: c.ifVersion });
        leaderMoves.push(false);
        continue;
      }
      if (c.leaderChanged && c.ifVersion !== 0) {
        this.#log.info(
          {
            topic: c.topic,
            partition: c.partition,
            leader: c.assignment.leader,
            epoch: c.assignment.leader_epoch,
          },
          c.assignment.data_loss_possible
            ? 'partition leader moved outside its replicas (data loss possible)'
            : 'partition leader moved',
        );
      }
      writes.push({ op: 'put', key: c.key, value: JSON.stringify(c.assignment), ifVersion: c.ifVersion });
      leaderMoves.push(c.leaderChanged);
    }
    for (const r of p.refused) this.#log.warn(r, 'partitions not placed');

    let written = 0;
    let conflicts = 0;
    for (let i = 0; i < writes.length; i += WRITE_BATCH) {
      if (!h.isLeader() || this.#activeSince !== activeSince) break;
      const batch = writes.slice(i, i + WRITE_BATCH);
      const results = await Promise.all(batch.map((w) => h.propose(w)));
      for (const [j, r] of results.entries()) {
        if (r.ok) {
          written++;
          if (leaderMoves[i + j]) this.#leaderChanges?.inc();
        } else conflicts++;
      }
    }

    // Gauges describe the state this round leaves behind (as planned; a lost CAS is retried next round).
    const leaders = new Map<string, NodeId>();
    for (const [topic, parts] of assignments) {
      for (const [partition, { assignment }] of parts)
        leaders.set(assignmentKey(topic, partition), assignment.leader);
    }
    for (const c of p.changes) {
      if (c.kind === 'delete') leaders.delete(c.key);
      else leaders.set(c.key, c.assignment.leader);
    }
    let offline = 0;
    for (const leader of leaders.values()) if (!alive.has(leader)) offline++;
    this.#assigned = leaders.size;
    this.#offline = offline;
    if (conflicts === 0 && written === writes.length) {
      this.#settled = { index, activeSince, recorded: judged, alive, refused: p.refused };
    }
    this.#alive = alive.size;
    this.#unplaced = p.refused.reduce((n, r) => n + r.unplaced, 0);
    return {
      alive: [...alive],
      dead: members.filter((id) => !alive.has(id)),
      plan: p,
      written,
      conflicts,
    };
  }
}
