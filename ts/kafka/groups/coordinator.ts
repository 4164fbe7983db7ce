/**
 * The group coordinator of this node: every group is coordinated here. It
 * owns the groups (bounded by `kafka.groups_max`), applies the request
 * checks that come before the group rules (group id, session timeout
 * bounds), commits and fetches offsets through the OffsetStore, and
 * answers ListGroups, DescribeGroups and DeleteGroups. The membership
 * rules are in rebalance.ts.
 *
 * A group lives while it has members, pending members or committed
 * offsets; an Empty group with none of them is dropped. Groups that only
 * have offsets come back as Empty after a restart (membership is not
 * persisted: members rejoin, as after a Kafka coordinator move).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Kv } from '../../storage/kv.ts';
import { Group, type GroupState, type JoinResult, type SyncResult } from './group.ts';
import { type CommittedOffset, OffsetStore, type OffsetStoreOptions } from './offset-store.ts';
import { Rebalancer } from './rebalance.ts';
import {
  GroupError,
  type JoinRequest,
  joinError,
  type MemberIdentity,
  type SyncRequest,
  syncError,
  validateMember,
} from './requests.ts';

export interface GroupLimits {
  groupsMax: number;
  groupMembersMax: number;
  memberMetadataBytesMax: number;
  sessionTimeoutMsMin: number;
  sessionTimeoutMsMax: number;
  initialRebalanceDelayMs: number;
  offsetMetadataBytesMax: number;
  /** Offsets of an Empty group older than this (and than the moment it became Empty) are deleted; 0 keeps them. */
  offsetsRetentionMs: number;
  offsetsRetentionCheckMs: number;
}

export interface CommitRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  offsets: {
    topic: string;
    partition: number;
    offset: bigint;
    leaderEpoch: number;
    topicId: string;
    metadata: string | null;
  }[];
}

export interface GroupSummary {
  groupId: string;
  state: GroupState;
  protocolType: string;
  /** The selected protocol; only while Stable (as Kafka reports it). */
  protocolData: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    metadata: Buffer;
    assignment: Buffer;
  }[];
}

/** Bit set of the ACL operations a group allows (READ 3, DELETE 6, DESCRIBE 8): all, as no authorizer runs. */
export const GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);

export class GroupCoordinator {
  readonly #limits: GroupLimits;
  readonly #offsets: OffsetStore;
  readonly #groups = new Map<string, Group>();
  readonly #rebalancer: Rebalancer;
  readonly #rebalances: Counter;
  readonly #refused: Counter;
  readonly #expired: Counter;
  readonly #retentionTimer: NodeJS.Timeout | null;
  #expiring = false;
  #closed = false;

  private constructor(limits: GroupLimits, offsets: OffsetStore, registry?: Registry) {
    this.#limits = limits;
    this.#offsets = offsets;
    const registers = registry ? [registry] : [];
    this.#rebalances = new Counter({
      name: 'ferrymq_kafka_group_rebalances_total',
      help: 'Consumer group rebalances started (PreparingRebalance entered)',
      registers,
    });
    this.#refused = new Counter({
      name: 'ferrymq_kafka_group_refused_total',
      help: 'Group joins and commits refused by a limit: kafka.groups_max (POLICY_VIOLATION), kafka.group_members_max (GROUP_MAX_SIZE_REACHED), kafka.group_member_metadata_bytes_max (INVALID_REQUEST)',
      labelNames: ['limit'],
      registers,
    });
    this.#expired = new Counter({
      name: 'ferrymq_kafka_expired_offsets_total',
      help: 'Committed offsets deleted by kafka.offsets_retention_ms',
      registers,
    });
    const groups = this.#groups;
    new Gauge({
      name: 'ferrymq_kafka_groups',
      help: 'Consumer groups held by the coordinator (with members or committed offsets)',
      registers,
      collect() {
        this.set(groups.size);
      },
    });
    new Gauge({
      name: 'ferrymq_kafka_group_members',
      help: 'Members of all consumer groups',
      registers,
      collect() {
        let n = 0;
        for (const g of groups.values()) n += g.size;
        this.set(n);
      },
    });
    new Gauge({
      name: 'ferrymq_kafka_committed_offsets',
      help: 'Committed offsets held, over all groups',
      registers,
      collect() {
        this.set(offsets.size);
      },
    });
    this.#rebalancer = new Rebalancer(
      {
        groupMembersMax: limits.groupMembersMax,
        memberMetadataBytesMax: limits.memberMetadataBytesMax,
        initialRebalanceDelayMs: limits.initialRebalanceDelayMs,
      },
      {
        rebalanceStarted: () => this.#rebalances.inc(),
        groupEmptied: (g) => this.#dropIfUnused(g),
      },
    );
    this.#retentionTimer =
      limits.offsetsRetentionMs > 0
        ? setInterval(() => void this.expireOffsets(), limits.offsetsRetentionCheckMs)
        : null;
    this.#retentionTimer?.unref();
  }

  /** Load the committed offsets; every group that has some exists, Empty. */
  static async load(
    kv: Kv,
    limits: GroupLimits,
    registry?: Registry,
    offsetOptions?: OffsetStoreOptions,
  ): Promise<{ coordinator: GroupCoordinator; skipped: number }> {
    const { store: offsets, skipped } = await OffsetStore.load(kv, offsetOptions);
    const c = new GroupCoordinator(limits, offsets, registry);
    for (const id of offsets.groupIds()) c.#groups.set(id, new Group(id));
    return { coordinator: c, skipped };
  }

  get(groupId: string): Group | undefined {
    return this.#groups.get(groupId);
  }

  /** The group, created Empty if the limit allows; null when kafka.groups_max is reached. */
  #getOrCreate(groupId: string): Group | null {
    const existing = this.#groups.get(groupId);
    if (existing) return existing;
    if (this.#groups.size >= this.#limits.groupsMax) {
      this.#refused.inc({ limit: 'groups_max' });
      return null;
    }
    const g = new Group(groupId);
    this.#groups.set(groupId, g);
    return g;
  }

  #dropIfUnused(group: Group): void {
    if (
      group.state === 'Empty' &&
      group.size === 0 &&
      group.pendingMembers.size === 0 &&
      !this.#offsets.hasOffsets(group.id) &&
      this.#groups.get(group.id) === group
    ) {
      group.clearTimers();
      group.state = 'Dead';
      this.#groups.delete(group.id);
    }
  }

  async join(groupId: string, req: JoinRequest): Promise<JoinResult> {
    if (this.#closed) return joinError(GroupError.NOT_COORDINATOR, req.memberId);
    if (groupId === '') return joinError(GroupError.INVALID_GROUP_ID, req.memberId);
    if (
      req.sessionTimeoutMs < this.#limits.sessionTimeoutMsMin ||
      req.sessionTimeoutMs > this.#limits.sessionTimeoutMsMax
    ) {
      return joinError(GroupError.INVALID_SESSION_TIMEOUT, req.memberId);
    }
    let group = this.#groups.get(groupId);
    if (!group) {
      // A member id for a group that does not exist belongs to a group that was deleted or expired.
      if (req.memberId !== '') return joinError(GroupError.UNKNOWN_MEMBER_ID, req.memberId);
      const created = this.#getOrCreate(groupId);
      if (!created) return joinError(GroupError.POLICY_VIOLATION);
      group = created;
    }
    const result = await this.#rebalancer.join(group, req);
    if (result.errorCode === GroupError.GROUP_MAX_SIZE_REACHED)
      this.#refused.inc({ limit: 'group_members_max' });
    if (result.errorCode === GroupError.INVALID_REQUEST)
      this.#refused.inc({ limit: 'group_member_metadata_bytes_max' });
    if (result.errorCode !== GroupError.NONE) this.#dropIfUnused(group);
    return result;
  }

  sync(groupId: string, req: SyncRequest): Promise<SyncResult> {
    if (this.#closed) return Promise.resolve(syncError(GroupError.NOT_COORDINATOR));
    if (groupId === '') return Promise.resolve(syncError(GroupError.INVALID_GROUP_ID));
    const result = this.#rebalancer.sync(this.#groups.get(groupId), req);
    if (req.assignments.some((a) => a.assignment.length > this.#limits.memberMetadataBytesMax)) {
      // Counted once, on the leader's request that carried the oversized assignment.
      void result.then((r) => {
        if (r.errorCode === GroupError.INVALID_REQUEST)
          this.#refused.inc({ limit: 'group_member_metadata_bytes_max' });
      });
    }
    return result;
  }

  heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): number {
    if (this.#closed) return GroupError.NOT_COORDINATOR;
    if (groupId === '') return GroupError.INVALID_GROUP_ID;
    return this.#rebalancer.heartbeat(this.#groups.get(groupId), memberId, groupInstanceId, generationId);
  }

  /** LeaveGroup: a top-level error, or one error per identity. */
  leave(groupId: string, identities: readonly MemberIdentity[]): { errorCode: number; members: number[] } {
    if (this.#closed) return { errorCode: GroupError.NOT_COORDINATOR, members: [] };
    if (groupId === '') return { errorCode: GroupError.INVALID_GROUP_ID, members: [] };
    const group = this.#groups.get(groupId);
    if (!group)
      return { errorCode: GroupError.NONE, members: identities.map(() => GroupError.UNKNOWN_MEMBER_ID) };
    const members = this.#rebalancer.leave(group, identities);
    return { errorCode: GroupError.NONE, members };
  }

  /**
   * OffsetCommit for partitions the caller already checked exist. Resolves
   * with a group-level error (applied to every partition) or per-partition
   * codes in request order, once the accepted offsets are durable.
   */
  async commit(req: CommitRequest, version: number): Promise<{ errorCode: number } | { errors: number[] }> {
    if (this.#closed) return { errorCode: GroupError.NOT_COORDINATOR };
    if (req.groupId === '') return { errorCode: GroupError.INVALID_GROUP_ID };
    let group = this.#groups.get(req.groupId);
    if (!group) {
      if (req.generationId >= 0) {
        // v9+ says so; older versions keep their historical answer.
        return { errorCode: version >= 9 ? GroupError.GROUP_ID_NOT_FOUND : GroupError.ILLEGAL_GENERATION };
      }
      // A consumer without group management (or an admin) commits into a "simple" group.
      const created = this.#getOrCreate(req.groupId);
      if (!created) return { errorCode: GroupError.POLICY_VIOLATION };
      group = created;
    }
    const invalid = this.#validateCommit(group, req);
    if (invalid !== GroupError.NONE) {
      this.#dropIfUnused(group);
      return { errorCode: invalid };
    }
    this.#rebalancer.touch(group, req.memberId);
    const now = Date.now();
    const errors: number[] = [];
    const accepted: { topic: string; partition: number; value: CommittedOffset }[] = [];
    for (const o of req.offsets) {
      const metadata = o.metadata ?? '';
      if (Buffer.byteLength(metadata) > this.#limits.offsetMetadataBytesMax) {
        errors.push(12); // OFFSET_METADATA_TOO_LARGE
        continue;
      }
      errors.push(GroupError.NONE);
      accepted.push({
        topic: o.topic,
        partition: o.partition,
        value: {
          offset: o.offset,
          leaderEpoch: o.leaderEpoch,
          metadata,
          commitTimestampMs: now,
          topicId: o.topicId,
        },
      });
    }
    try {
      await this.#offsets.commit(req.groupId, accepted);
    } catch {
      // The KV store failed: nothing was committed, and the client may retry.
      this.#dropIfUnused(group);
      return { errorCode: GroupError.COORDINATOR_NOT_AVAILABLE };
    }
    // A DeleteGroups written just before this commit may have dropped the group: offsets need their group.
    if (accepted.length > 0 && !this.#groups.has(req.groupId))
      this.#groups.set(req.groupId, new Group(req.groupId));
    return { errors };
  }

  /** Kafka 4.0's ClassicGroup.validateOffsetCommit. */
  #validateCommit(group: Group, req: CommitRequest): number {
    if (group.state === 'Dead') return GroupError.COORDINATOR_NOT_AVAILABLE;
    if (req.generationId < 0 && group.state === 'Empty') return GroupError.NONE;
    if (req.generationId >= 0 || req.memberId !== '' || req.groupInstanceId !== null) {
      const invalid = validateMember(group, req.memberId, req.groupInstanceId);
      if (invalid !== GroupError.NONE) return invalid;
      if (req.generationId !== group.generationId) return GroupError.ILLEGAL_GENERATION;
    } else if (group.state !== 'Empty') {
      // A commit with neither member nor generation is only for a group nobody is in.
      return GroupError.UNKNOWN_MEMBER_ID;
    }
    if (group.state === 'CompletingRebalance') return GroupError.REBALANCE_IN_PROGRESS;
    return GroupError.NONE;
  }

  committed(groupId: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.#offsets.get(groupId, topic, partition);
  }

  /** Every committed offset of a group, by topic then partition (sorted, for stable answers). */
  allCommitted(
    groupId: string,
  ): { topic: string; partitions: { partition: number; value: CommittedOffset }[] }[] {
    const offsets = this.#offsets.offsetsOf(groupId);
    if (!offsets) return [];
    return [...offsets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([topic, parts]) => ({
        topic,
        partitions: [...parts.entries()]
          .sort(([a], [b]) => a - b)
          .map(([partition, value]) => ({ partition, value })),
      }));
  }

  list(): { groupId: string; state: GroupState; protocolType: string }[] {
    return [...this.#groups.values()].map((g) => ({
      groupId: g.id,
      state: g.state,
      protocolType: g.protocolType ?? '',
    }));
  }

  describe(groupId: string): GroupSummary | undefined {
    const g = this.#groups.get(groupId);
    if (!g) return undefined;
    const stable = g.state === 'Stable';
    return {
      groupId: g.id,
      state: g.state,
      protocolType: g.protocolType ?? '',
      protocolData: stable ? (g.protocolName ?? '') : '',
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        // Kafka fills these only for a stable group.
        metadata: stable ? g.metadataFor(m, g.protocolName) : Buffer.alloc(0),
        assignment: stable ? m.assignment : Buffer.alloc(0),
      })),
    };
  }

  /** DeleteGroups for one group: only an Empty one; its committed offsets go with it. */
  async delete(groupId: string): Promise<number> {
    if (this.#closed) return GroupError.NOT_COORDINATOR;
    if (groupId === '') return GroupError.INVALID_GROUP_ID;
    const g = this.#groups.get(groupId);
    if (!g) return GroupError.GROUP_ID_NOT_FOUND;
    if (g.state !== 'Empty' || g.size > 0) return GroupError.NON_EMPTY_GROUP;
    try {
      await this.#offsets.deleteGroup(groupId);
    } catch {
      return GroupError.COORDINATOR_NOT_AVAILABLE;
    }
    // Something may have joined while the delete was being written: then the group stays.
    const now = this.#groups.get(groupId);
    if (now === g && g.state === 'Empty' && g.size === 0) {
      g.clearTimers();
      g.state = 'Dead';
      this.#groups.delete(groupId);
    }
    return GroupError.NONE;
  }

  /**
   * Offset retention (Kafka's offsets.retention.minutes, KIP-211): in an
   * Empty group, an offset is deleted once both its commit and the moment
   * the group became Empty are older than kafka.offsets_retention_ms; a
   * group left with no offsets is dropped. Groups with members keep theirs.
   * Runs every kafka.offsets_retention_check_ms; resolves with how many went.
   */
  async expireOffsets(): Promise<number> {
    if (this.#closed || this.#expiring || this.#limits.offsetsRetentionMs <= 0) return 0;
    this.#expiring = true;
    let n = 0;
    try {
      const now = Date.now();
      const retention = this.#limits.offsetsRetentionMs;
      for (const g of [...this.#groups.values()]) {
        if (g.state !== 'Empty' || g.size > 0 || now - g.emptySinceMs < retention) continue;
        const gone = await this.#offsets.expire(g.id, (v) => now - v.commitTimestampMs >= retention);
        if (gone === 0) continue;
        n += gone;
        this.#expired.inc(gone);
        this.#dropIfUnused(g);
      }
    } catch {
      // The KV store failed: nothing was deleted; the next round tries again.
    } finally {
      this.#expiring = false;
    }
    return n;
  }

  /** Stop every timer; waiting JoinGroup/SyncGroup requests get NOT_COORDINATOR. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retentionTimer) clearInterval(this.#retentionTimer);
    for (const g of this.#groups.values()) this.#rebalancer.shutdown(g);
    this.#offsets.close();
  }
}
