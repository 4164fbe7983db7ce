/**
 * The meta service of one node: its Raft groups (groups.ts) over one
 * `GrpcTransport` and one `RaftKvWriter` on the node's KV, the member
 * directory, and the API the rest of the node uses.
 *
 * Requests go to the group's leader. On a follower, `propose` / `read` /
 * membership changes are forwarded once over gRPC to the leader the group
 * knows; with no leader known (an election is running) the service retries
 * every two ticks until `meta.request_timeout_ms`, then fails with
 * FERRY_ERR_NOT_LEADER. Callers therefore talk to any node.
 *
 * Members: `cluster.members` are the first voters (or, empty, this node
 * alone: a one-member cluster running the same code). A node started with
 * `meta.join = true` starts with no voters and waits until a member adds it.
 * Added nodes are recorded in the metadata group under `nodes/<id>` (JSON
 * `{ address }`), which is also where every node looks up a peer's address;
 * the metadata leader records the initial members there as well. A sender
 * is a member when it is in either list or in a group's voter set.
 *
 * Watchers see the changes their own node applies (`watch`), so a broker
 * keeps a local cache current without a round trip per message.
 *
 * Parts: leader-requests.ts (run on the leader or forward, the receiving
 * side of a forward, leader transfer), cluster-status.ts (the admin API's
 * status), meta-metrics.ts (the gauges).
 */

import type { Registry } from 'prom-client';
import type { MetaConfig } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Message, NodeId } from '../raft/types.ts';
import type { Kv } from '../storage/kv.ts';
import { type ClusterStatus, clusterStatus } from './cluster-status.ts';
import { Controller } from './controller.ts';
import { type GroupKind, type GroupSpec, groupForKey, groupSpecs, METADATA_GROUP } from './groups.ts';
import { GrpcTransport } from './grpc-transport.ts';
import {
  decodeJson,
  encodeJson,
  type KvCommand,
  type KvItem,
  type KvQuery,
  type KvResult,
  KvStateMachine,
  type Watch,
} from './kv-state-machine.ts';
import { RaftKvWriter } from './kv-writer.ts';
import { LeaderRequests } from './leader-requests.ts';
import { registerMetaMetrics } from './meta-metrics.ts';
import { NativeLogStore } from './native-log-store.ts';
import { loadPeerTls } from './peer-tls.ts';
import { type GroupStatus, RaftGroup } from './raft-group.ts';
import { KvSnapshotStaging } from './snapshot-staging.ts';

export type { ClusterStatus, NodeHealth } from './cluster-status.ts';
export { METADATA_GROUP };

export const NODES_PREFIX = 'nodes/';

export interface MetaMember {
  id: NodeId;
  address: string;
}

export interface MetaServiceOptions {
  nodeId: NodeId;
  config: MetaConfig;
  members: readonly MetaMember[];
  listen: { host: string; port: number };
  kv: Kv;
  logger: Logger;
  registry?: Registry;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class MetaService {
  readonly nodeId: NodeId;
  readonly #opts: MetaServiceOptions;
  readonly #config: MetaConfig;
  readonly #initial: Map<NodeId, string>;
  readonly #groups: RaftGroup[] = [];
  readonly #machines: KvStateMachine[] = [];
  readonly #specs: GroupSpec[];
  readonly #transport: GrpcTransport;
  readonly #requests: LeaderRequests;
  readonly #controller: NodeJS.Timeout;
  /** Partition placement and failover; acts only while this node leads `metadata` (controller.ts). */
  readonly #partitionController: Controller;
  #closed = false;

  private constructor(opts: MetaServiceOptions, transport: GrpcTransport, specs: GroupSpec[]) {
    this.#opts = opts;
    this.nodeId = opts.nodeId;
    this.#config = opts.config;
    this.#initial = new Map(opts.members.map((m) => [m.id, m.address]));
    this.#transport = transport;
    this.#specs = specs;
    this.#requests = new LeaderRequests({
      nodeId: this.nodeId,
      config: this.#config,
      transport,
      groups: this.#groups,
      isClosed: () => this.#closed,
    });
    this.#controller = setInterval(() => this.#registerInitialMembers(), 1000);
    this.#controller.unref();
    this.#partitionController = new Controller({
      host: {
        nodeId: this.nodeId,
        isLeader: () => this.#groups[METADATA_GROUP]?.isLeader ?? false,
        members: () => [...(this.#groups[METADATA_GROUP]?.status().voters ?? [])],
        contactsAgoMs: () => {
          const now = performance.now();
          return new Map(
            this.#transport.peers().map((p) => [p.id, p.lastOkMs == null ? null : now - p.lastOkMs]),
          );
        },
        // The leader's own copy: no read-index round per controller round; its writes are CAS.
        list: async (prefix) => this.localList(METADATA_GROUP, prefix),
        appliedIndex: () => this.appliedIndex(METADATA_GROUP),
        propose: (command) => this.propose(METADATA_GROUP, command),
      },
      nodeTimeoutMs: this.#config.node_timeout_ms,
      keysMax: this.#config.kv_keys_max,
      logger: opts.logger,
      ...(opts.registry ? { registry: opts.registry } : {}),
    });
    this.#partitionController.start(
      Math.min(1000, Math.max(this.#config.tick_ms, this.#config.node_timeout_ms / 4)),
    );
  }

  static async start(opts: MetaServiceOptions): Promise<MetaService> {
    const c = opts.config;
    if (c.heartbeat_tick_count >= c.election_tick_count) {
      throw new FerryError(
        'FERRY_ERR_CONFIG_INVALID',
        `invalid config: meta.heartbeat_tick_count (${c.heartbeat_tick_count}) must be below meta.election_tick_count (${c.election_tick_count})`,
      );
    }
    // The controller must not take a node for dead between two of the leader's heartbeats or probes.
    if (c.node_timeout_ms < 2 * c.election_tick_count * c.tick_ms) {
      throw new FerryError(
        'FERRY_ERR_CONFIG_INVALID',
        `invalid config: meta.node_timeout_ms (${c.node_timeout_ms}) must be at least twice the election timeout (2 × meta.election_tick_count × meta.tick_ms = ${2 * c.election_tick_count * c.tick_ms})`,
      );
    }
    const specs = groupSpecs(c.shard_group_count);
    let service: MetaService | undefined;
    const tls = await loadPeerTls({
      certFile: c.tls_cert_file,
      keyFile: c.tls_key_file,
      caFile: c.tls_ca_file,
    });
    const transport = await GrpcTransport.start(
      {
        nodeId: opts.nodeId,
        host: opts.listen.host,
        port: opts.listen.port,
        queueMax: c.peer_queue_max,
        batchMax: 1024,
        callsInFlightMax: c.peer_calls_in_flight_max,
        rpcTimeoutMs: c.request_timeout_ms,
        retryMs: c.tick_ms * 2,
        probeMs: c.election_tick_count * c.tick_ms,
        messageBytesMax: c.rpc_bytes_max,
        snapshot: {
          chunkBytes: c.snapshot_chunk_bytes,
          bytesMax: c.snapshot_bytes_max,
          timeoutMs: c.snapshot_transfer_timeout_ms,
          staging: new KvSnapshotStaging(opts.kv),
        },
        ...(tls ? { tls } : {}),
        logger: opts.logger,
        ...(opts.registry ? { registry: opts.registry } : {}),
      },
      {
        isMember: (id) => service?.isMember(id) ?? false,
        addressOf: (id) => service?.addressOf(id),
        hasGroup: (group) => service?.hasGroup(group) ?? false,
        peers: () => service?.peerIds() ?? [],
        deliver: (group, m) => service?.deliver(group, m),
        termOf: (group) => (service ? (service.#groups[group]?.status().term ?? 0) : 0),
        forward: (req) =>
          service
            ? service.#requests.serveForward(req)
            : Promise.reject(new FerryError('FERRY_ERR_CLOSED', 'meta service starting')),
      },
    );
    try {
      service = new MetaService(opts, transport, specs);
      await service.#openGroups();
    } catch (err) {
      service?.close();
      await transport.close();
      throw err;
    }
    return service;
  }

  async #openGroups(): Promise<void> {
    const o = this.#opts;
    const c = this.#config;
    const writer = new RaftKvWriter(o.kv);
    const voters = c.join ? [] : o.members.length === 0 ? [o.nodeId] : o.members.map((m) => m.id);
    const log = o.logger.child({ component: 'meta' });
    for (const spec of this.#specs) {
      const store = await NativeLogStore.open(o.kv, writer, spec.id);
      const sm = new KvStateMachine();
      const group = new RaftGroup({
        nodeId: o.nodeId,
        groupId: spec.id,
        name: spec.name,
        store,
        stateMachine: sm,
        transport: this.#transport,
        initialVoters: voters,
        tickMs: c.tick_ms,
        electionTicks: c.election_tick_count,
        heartbeatTicks: c.heartbeat_tick_count,
        snapshotEntries: c.snapshot_entry_count,
        requestTimeoutMs: c.request_timeout_ms,
        pendingMax: c.pending_max,
        onFailure: (err) => log.error({ err, group: spec.name }, 'raft group stopped after a failure'),
      });
      this.#groups[spec.id] = group;
      this.#machines[spec.id] = sm;
    }
    if (o.registry) registerMetaMetrics(o.registry, this.#groups, this.#machines, this.#specs);
  }

  get config(): MetaConfig {
    return this.#config;
  }

  get boundAddress(): string {
    return this.#transport.boundAddress;
  }

  get groupNames(): string[] {
    return this.#specs.map((s) => s.name);
  }

  groupFor(kind: GroupKind, key: string): number {
    return groupForKey(kind, key, this.#config.shard_group_count);
  }

  isMember(id: NodeId): boolean {
    if (this.#initial.has(id)) return true;
    if (this.#machines[METADATA_GROUP]?.get(`${NODES_PREFIX}${id}`)) return true;
    return this.#groups.some((g) => g.status().voters.includes(id));
  }

  addressOf(id: NodeId): string | undefined {
    const rec = this.#machines[METADATA_GROUP]?.get(`${NODES_PREFIX}${id}`);
    if (rec) {
      try {
        return (JSON.parse(rec.value) as { address: string }).address;
      } catch {
        // Written by this service only; fall back to the config.
      }
    }
    return this.#initial.get(id);
  }

  /** Every member known here except this node. */
  peerIds(): NodeId[] {
    return this.status()
      .members.map((m) => m.id)
      .filter((id) => id !== this.nodeId);
  }

  hasGroup(group: number): boolean {
    return this.#groups[group] !== undefined;
  }

  /** A message checked by the transport (member, addressed here, valid, known group). */
  deliver(group: number, m: Message): void {
    this.#groups[group]?.step(m);
  }

  // ---- requests, on the leader or forwarded to it (leader-requests.ts) ----

  /** Moves a group's leadership to `target` (forwarded to the current leader). */
  transferLeader(group: number, target: NodeId): Promise<void> {
    return this.#requests.transferLeader(group, target);
  }

  groupId(name: string): number | undefined {
    return this.#specs.find((s) => s.name === name)?.id;
  }

  propose(group: number, command: KvCommand): Promise<KvResult> {
    const payload = encodeJson(command);
    return this.#requests
      .onLeader(group, 'PROPOSE', payload, 0, (g) => g.propose(payload))
      .then((b) => decodeJson<KvResult>(b));
  }

  read<T>(group: number, query: KvQuery): Promise<T> {
    const payload = encodeJson(query);
    return this.#requests
      .onLeader(group, 'READ', payload, 0, (g) => g.read(payload))
      .then((b) => decodeJson<T>(b));
  }

  get(group: number, key: string): Promise<KvItem | null> {
    return this.read<KvItem | null>(group, { op: 'get', key });
  }

  list(group: number, prefix: string, limit: number): Promise<KvItem[]> {
    return this.read<KvItem[]>(group, { op: 'list', prefix, limit });
  }

  /**
   * Changes under `prefix` as this node applies them (bounded: see
   * kv-state-machine.ts), `meta.watch_queue_max` behind at most unless the
   * caller bounds its own writes in flight and needs room for them.
   */
  watch(group: number, prefix: string, queueMax = this.#config.watch_queue_max): Watch {
    const sm = this.#machines[group];
    if (!sm) throw new FerryError('FERRY_ERR_INVALID_ARGUMENT', `no raft group ${group}`);
    return sm.watch(prefix, queueMax);
  }

  /** Whether this node's copy of a group holds `key` (a local, possibly stale view). */
  localHas(group: number, key: string): boolean {
    return this.#machines[group]?.get(key) !== undefined;
  }

  /** Keys held by a group's state machine on this node (for the kv_keys_max check). */
  localSize(group: number): number {
    return this.#machines[group]?.size ?? 0;
  }

  /**
   * Every key under `prefix` in this node's copy of a group (a local, possibly
   * stale view; synchronous, so it pairs exactly with `appliedIndex` and a
   * `watch` opened in the same turn).
   */
  localList(group: number, prefix: string): KvItem[] {
    return this.#machines[group]?.list(prefix, Number.MAX_SAFE_INTEGER) ?? [];
  }

  /** The last log index this node applied to a group's state machine. */
  appliedIndex(group: number): number {
    return this.#groups[group]?.status().appliedIndex ?? 0;
  }

  // ---- membership ----

  /**
   * Adds a node: records its address in the metadata group, then adds it as
   * a voter to every group, one group and one change at a time (each on
   * that group's leader). A change refused because an earlier one is still
   * uncommitted is retried until the request timeout.
   */
  async addMember(id: NodeId, address: string): Promise<void> {
    const r = await this.propose(METADATA_GROUP, {
      op: 'put',
      key: `${NODES_PREFIX}${id}`,
      value: JSON.stringify({ address }),
    });
    if (!r.ok) throw new FerryError('FERRY_ERR_CLUSTER_CHANGE', `could not record node ${id}`);
    for (const spec of this.#specs) await this.#changeVoter(spec.id, 'ADD_VOTER', id);
  }

  async removeMember(id: NodeId): Promise<void> {
    if (!this.isMember(id)) throw new FerryError('FERRY_ERR_CLUSTER_CHANGE', `node ${id} is not a member`);
    for (const spec of this.#specs) await this.#changeVoter(spec.id, 'REMOVE_VOTER', id);
    await this.propose(METADATA_GROUP, { op: 'delete', key: `${NODES_PREFIX}${id}` });
  }

  async #changeVoter(group: number, kind: 'ADD_VOTER' | 'REMOVE_VOTER', node: NodeId): Promise<void> {
    const deadline = performance.now() + this.#config.request_timeout_ms;
    const change = kind === 'ADD_VOTER' ? { add: node } : { remove: node };
    for (;;) {
      try {
        await this.#requests.onLeader(group, kind, new Uint8Array(0), node, (g) =>
          g.changeMembers(change).then(() => new Uint8Array(0)),
        );
        return;
      } catch (err) {
        const pending =
          err instanceof FerryError && err.code === 'FERRY_ERR_CLUSTER_CHANGE' && /pending/.test(err.message);
        if (!pending || performance.now() >= deadline) throw err;
        await sleep(this.#config.tick_ms * 2);
      }
    }
  }

  /** The metadata leader records the configured first members under nodes/ (once each). */
  #registerInitialMembers(): void {
    const g = this.#groups[METADATA_GROUP];
    const sm = this.#machines[METADATA_GROUP];
    if (!g?.isLeader || !sm) return;
    for (const [id, address] of this.#initial) {
      if (sm.get(`${NODES_PREFIX}${id}`)) continue;
      g.propose(
        encodeJson({
          op: 'put',
          key: `${NODES_PREFIX}${id}`,
          value: JSON.stringify({ address }),
          ifVersion: 0,
        }),
      ).catch(() => {
        // Retried on the next round by whoever leads then.
      });
    }
  }

  // ---- status ----

  groups(): GroupStatus[] {
    return this.#groups.map((g) => g.status());
  }

  status(): ClusterStatus {
    const groups = this.groups();
    const ids = new Set<NodeId>([this.nodeId, ...this.#initial.keys()]);
    for (const item of this.#machines[METADATA_GROUP]?.list(NODES_PREFIX, 100_000) ?? []) {
      const id = Number(item.key.slice(NODES_PREFIX.length));
      if (Number.isInteger(id)) ids.add(id);
    }
    for (const g of groups) for (const v of g.voters) ids.add(v);
    return clusterStatus({
      nodeId: this.nodeId,
      groups,
      ids,
      peers: this.#transport.peers(),
      staleMs: 3 * this.#config.election_tick_count * this.#config.tick_ms,
      boundAddress: this.boundAddress,
      addressOf: (id) => this.addressOf(id),
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#controller);
    this.#partitionController.stop();
    for (const g of this.#groups) g.stop();
    await this.#transport.close();
  }
}
