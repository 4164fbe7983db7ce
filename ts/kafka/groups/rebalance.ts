/**
 * The classic group protocol's rules, as Kafka's group coordinator applies
 * them (GroupCoordinator.scala up to 3.x, GroupMetadataManager's classic
 * path in 4.0): JoinGroup with the two-step join (KIP-394), static
 * membership (KIP-345), the initial rebalance delay, SyncGroup, Heartbeat,
 * LeaveGroup, and the timeouts that remove members: session timeout
 * between rebalances, rebalance timeout for members that do not rejoin or
 * do not sync, and a join timeout for new members.
 *
 * Everything runs on the event loop: a state change and the answers it
 * causes happen in one turn, so no locks. Answers to waiting JoinGroup and
 * SyncGroup requests are callbacks (Promise resolvers); each is called at
 * most once and cleared before it is called.
 */
import { randomUUID } from 'node:crypto';
import type { Group, JoinResult, Member, Protocol, SyncResult } from './group.ts';
import {
  GroupError,
  type JoinRequest,
  joinError,
  type MemberIdentity,
  type SyncRequest,
  syncError,
  validateMember,
} from './requests.ts';

/**
 * How long a new member's JoinGroup may wait: it cannot heartbeat, and a
 * client that timed out and retried would otherwise leave a defunct member
 * in every rebalance (Kafka's NewMemberJoinTimeoutMs).
 */
export const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000;

export interface RebalanceConfig {
  groupMembersMax: number;
  /** Protocol metadata of one member's JoinGroup, and one member's assignment, in bytes. */
  memberMetadataBytesMax: number;
  initialRebalanceDelayMs: number;
}

export interface RebalanceHooks {
  /** A group entered PreparingRebalance. */
  rebalanceStarted(group: Group): void;
  /** A group completed a rebalance with no members, or lost its last pending member. */
  groupEmptied(group: Group): void;
}

function metadataBytes(protocols: readonly Protocol[]): number {
  let n = 0;
  for (const p of protocols) n += p.metadata.length + Buffer.byteLength(p.name);
  return n;
}

function sameProtocols(a: readonly Protocol[], b: readonly Protocol[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => p.name === b[i]?.name && p.metadata.equals(b[i]?.metadata ?? Buffer.alloc(0)))
  );
}

export class Rebalancer {
  readonly #config: RebalanceConfig;
  readonly #hooks: RebalanceHooks;

  constructor(config: RebalanceConfig, hooks: RebalanceHooks) {
    this.#config = config;
    this.#hooks = hooks;
  }

  join(group: Group, req: JoinRequest): Promise<JoinResult> {
    return new Promise<JoinResult>((respond) => {
      if (group.state === 'Dead') respond(joinError(GroupError.COORDINATOR_NOT_AVAILABLE, req.memberId));
      else if (metadataBytes(req.protocols) > this.#config.memberMetadataBytesMax)
        respond(joinError(GroupError.INVALID_REQUEST, req.memberId));
      else if (req.memberId === '') this.#newMemberJoin(group, req, respond);
      else this.#currentMemberJoin(group, req, respond);
    });
  }

  #newMemberJoin(group: Group, req: JoinRequest, respond: (r: JoinResult) => void): void {
    const staticId = req.groupInstanceId === null ? undefined : group.staticMembers.get(req.groupInstanceId);
    if (!group.supportsProtocols(req.protocolType, req.protocols, staticId)) {
      respond(joinError(GroupError.INCONSISTENT_GROUP_PROTOCOL));
      return;
    }
    if (staticId === undefined && group.size + group.pendingMembers.size >= this.#config.groupMembersMax) {
      respond(joinError(GroupError.GROUP_MAX_SIZE_REACHED));
      return;
    }
    const newId = `${req.groupInstanceId ?? req.clientId}-${randomUUID()}`;
    if (staticId !== undefined && req.groupInstanceId !== null) {
      this.#replaceStaticMember(group, req.groupInstanceId, staticId, newId, req, respond);
    } else if (req.groupInstanceId === null && req.requireKnownMemberId) {
      // KIP-394: the id is remembered for one session timeout; the member must come back with it.
      group.pendingMembers.set(
        newId,
        setTimeout(() => this.#expirePending(group, newId), req.sessionTimeoutMs),
      );
      respond(joinError(GroupError.MEMBER_ID_REQUIRED, newId));
    } else {
      this.#addMemberAndRebalance(group, newId, req, respond);
    }
  }

  #currentMemberJoin(group: Group, req: JoinRequest, respond: (r: JoinResult) => void): void {
    const pending = group.pendingMembers.get(req.memberId);
    if (pending !== undefined) {
      if (req.groupInstanceId !== null && group.staticMembers.has(req.groupInstanceId)) {
        respond(joinError(GroupError.FENCED_INSTANCE_ID, req.memberId));
        return;
      }
      clearTimeout(pending);
      group.pendingMembers.delete(req.memberId);
      this.#addMemberAndRebalance(group, req.memberId, req, respond);
      return;
    }
    if (group.isStaticMemberFenced(req.groupInstanceId, req.memberId)) {
      respond(joinError(GroupError.FENCED_INSTANCE_ID, req.memberId));
      return;
    }
    const member = group.members.get(req.memberId);
    if (!member || (req.groupInstanceId !== null && !group.staticMembers.has(req.groupInstanceId))) {
      respond(joinError(GroupError.UNKNOWN_MEMBER_ID, req.memberId));
      return;
    }
    if (!group.supportsProtocols(req.protocolType, req.protocols, member.memberId)) {
      respond(joinError(GroupError.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
      return;
    }
    switch (group.state) {
      case 'PreparingRebalance':
        this.#updateMemberAndRebalance(group, member, req, respond);
        return;
      case 'CompletingRebalance':
        // Same metadata: it most likely lost the JoinGroup answer; give it again.
        if (sameProtocols(member.protocols, req.protocols)) {
          respond(this.#joinResult(group, member, group.isLeader(member.memberId)));
        } else {
          this.#updateMemberAndRebalance(group, member, req, respond);
        }
        return;
      case 'Stable':
        // A leader's JoinGroup forces a rebalance: it may have seen topic changes the metadata does not show.
        if (group.isLeader(member.memberId) || !sameProtocols(member.protocols, req.protocols)) {
          this.#updateMemberAndRebalance(group, member, req, respond);
        } else {
          respond(this.#joinResult(group, member, false));
        }
        return;
      default:
        respond(joinError(GroupError.UNKNOWN_MEMBER_ID, req.memberId));
    }
  }

  #addMemberAndRebalance(
    group: Group,
    memberId: string,
    req: JoinRequest,
    respond: (r: JoinResult) => void,
  ): void {
    const member: Member = {
      memberId,
      groupInstanceId: req.groupInstanceId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      sessionTimeoutMs: req.sessionTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols,
      assignment: Buffer.alloc(0),
      awaitingJoin: respond,
      awaitingSync: null,
      isNew: true,
      heartbeatTimer: null,
    };
    if (group.initialDelay) group.initialDelay.newMemberAdded = true;
    group.add(member);
    this.#scheduleExpiry(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS);
    this.#maybePrepareRebalance(group);
  }

  #updateMember(member: Member, req: JoinRequest, respond: (r: JoinResult) => void): void {
    member.protocols = req.protocols;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.clientId = req.clientId;
    member.clientHost = req.clientHost;
    // A second JoinGroup while the first still waits supersedes it.
    const previous = member.awaitingJoin;
    member.awaitingJoin = respond;
    previous?.(joinError(GroupError.REBALANCE_IN_PROGRESS, member.memberId));
  }

  #updateMemberAndRebalance(
    group: Group,
    member: Member,
    req: JoinRequest,
    respond: (r: JoinResult) => void,
  ): void {
    this.#updateMember(member, req, respond);
    this.#maybePrepareRebalance(group);
  }

  /** KIP-345: a restarted static member takes over its instance id; in a stable group, without a rebalance. */
  #replaceStaticMember(
    group: Group,
    instanceId: string,
    oldId: string,
    newId: string,
    req: JoinRequest,
    respond: (r: JoinResult) => void,
  ): void {
    const member = group.replaceStaticMember(instanceId, oldId, newId);
    if (!member) {
      respond(joinError(GroupError.UNKNOWN_MEMBER_ID));
      return;
    }
    // Whatever the old incarnation still waits for is fenced.
    const oldJoin = member.awaitingJoin;
    const oldSync = member.awaitingSync;
    member.awaitingJoin = null;
    member.awaitingSync = null;
    oldJoin?.(joinError(GroupError.FENCED_INSTANCE_ID, oldId));
    oldSync?.(syncError(GroupError.FENCED_INSTANCE_ID));
    this.#updateMember(member, req, respond);
    this.#scheduleExpiry(group, member, member.sessionTimeoutMs);
    switch (group.state) {
      case 'Stable':
        if (group.selectProtocol() === group.protocolName) {
          member.awaitingJoin = null;
          const leader = group.isLeader(newId);
          // The leader learns the members (to watch subscriptions) but must not reassign (v9 SkipAssignment).
          respond({ ...this.#joinResult(group, member, leader), skipAssignment: leader });
        } else {
          this.#prepareRebalance(group);
        }
        return;
      case 'CompletingRebalance':
        this.#prepareRebalance(group);
        return;
      default:
        this.#tryCompleteJoin(group);
    }
  }

  sync(group: Group | undefined, req: SyncRequest): Promise<SyncResult> {
    return new Promise<SyncResult>((respond) => {
      if (!group) return respond(syncError(GroupError.UNKNOWN_MEMBER_ID));
      if (group.state === 'Dead') return respond(syncError(GroupError.COORDINATOR_NOT_AVAILABLE));
      if (group.isStaticMemberFenced(req.groupInstanceId, req.memberId))
        return respond(syncError(GroupError.FENCED_INSTANCE_ID));
      const member = group.members.get(req.memberId);
      if (!member) return respond(syncError(GroupError.UNKNOWN_MEMBER_ID));
      if (req.generationId !== group.generationId) return respond(syncError(GroupError.ILLEGAL_GENERATION));
      if (
        (req.protocolType !== null && req.protocolType !== group.protocolType) ||
        (req.protocolName !== null && req.protocolName !== group.protocolName)
      ) {
        return respond(syncError(GroupError.INCONSISTENT_GROUP_PROTOCOL));
      }
      switch (group.state) {
        case 'PreparingRebalance':
          return respond(syncError(GroupError.REBALANCE_IN_PROGRESS));
        case 'CompletingRebalance': {
          const previous = member.awaitingSync;
          member.awaitingSync = respond;
          previous?.(syncError(GroupError.REBALANCE_IN_PROGRESS));
          group.pendingSync.delete(member.memberId);
          if (group.isLeader(member.memberId)) this.#completeSync(group, req.assignments);
          return;
        }
        case 'Stable':
          group.pendingSync.delete(member.memberId);
          this.#scheduleExpiry(group, member, member.sessionTimeoutMs);
          return respond(this.#syncResult(group, member));
        default:
          return respond(syncError(GroupError.UNKNOWN_MEMBER_ID));
      }
    });
  }

  heartbeat(
    group: Group | undefined,
    memberId: string,
    groupInstanceId: string | null,
    generationId: number,
  ): number {
    if (!group) return GroupError.UNKNOWN_MEMBER_ID;
    if (group.state === 'Dead') return GroupError.COORDINATOR_NOT_AVAILABLE;
    const invalid = validateMember(group, memberId, groupInstanceId);
    if (invalid !== GroupError.NONE) return invalid;
    if (generationId !== group.generationId) return GroupError.ILLEGAL_GENERATION;
    const member = group.members.get(memberId) as Member;
    switch (group.state) {
      case 'PreparingRebalance':
        this.#scheduleExpiry(group, member, member.sessionTimeoutMs);
        return GroupError.REBALANCE_IN_PROGRESS;
      case 'CompletingRebalance':
      case 'Stable':
        this.#scheduleExpiry(group, member, member.sessionTimeoutMs);
        return GroupError.NONE;
      default:
        return GroupError.UNKNOWN_MEMBER_ID;
    }
  }

  /** LeaveGroup: one error code per identity. An empty member id with an instance id removes that static member. */
  leave(group: Group, identities: readonly MemberIdentity[]): number[] {
    return identities.map(({ memberId, groupInstanceId }) => {
      if (groupInstanceId === null) {
        const pending = group.pendingMembers.get(memberId);
        if (pending !== undefined) {
          clearTimeout(pending);
          group.pendingMembers.delete(memberId);
          this.#afterPendingRemoved(group);
          return GroupError.NONE;
        }
        if (!group.members.has(memberId)) return GroupError.UNKNOWN_MEMBER_ID;
        this.removeMember(group, memberId);
        return GroupError.NONE;
      }
      const current = group.staticMembers.get(groupInstanceId);
      if (current === undefined) return GroupError.UNKNOWN_MEMBER_ID;
      if (memberId !== '' && memberId !== current) return GroupError.FENCED_INSTANCE_ID;
      this.removeMember(group, current);
      return GroupError.NONE;
    });
  }

  /** An offset commit from a member counts as a sign of life. */
  touch(group: Group, memberId: string): void {
    const member = group.members.get(memberId);
    if (member && (group.state === 'Stable' || group.state === 'PreparingRebalance')) {
      this.#scheduleExpiry(group, member, member.sessionTimeoutMs);
    }
  }

  /** Remove a member (left, expired or never synced) and rebalance the rest. */
  removeMember(group: Group, memberId: string): void {
    const member = group.members.get(memberId);
    if (!member) return;
    const join = member.awaitingJoin;
    const sync = member.awaitingSync;
    member.awaitingJoin = null;
    member.awaitingSync = null;
    join?.(joinError(GroupError.UNKNOWN_MEMBER_ID, memberId));
    sync?.(syncError(GroupError.UNKNOWN_MEMBER_ID));
    group.remove(memberId);
    switch (group.state) {
      case 'Stable':
      case 'CompletingRebalance':
        this.#prepareRebalance(group);
        return;
      case 'PreparingRebalance':
        this.#tryCompleteJoin(group);
        return;
      default:
    }
  }

  /** The coordinator is going away: stop every timer, tell every waiting request to look elsewhere. */
  shutdown(group: Group): void {
    group.clearTimers();
    group.initialDelay = null;
    for (const m of group.members.values()) {
      const join = m.awaitingJoin;
      const sync = m.awaitingSync;
      m.awaitingJoin = null;
      m.awaitingSync = null;
      join?.(joinError(GroupError.NOT_COORDINATOR, m.memberId));
      sync?.(syncError(GroupError.NOT_COORDINATOR));
    }
  }

  #maybePrepareRebalance(group: Group): void {
    if (group.state === 'PreparingRebalance') this.#tryCompleteJoin(group);
    else if (group.state !== 'Dead') this.#prepareRebalance(group);
  }

  #prepareRebalance(group: Group): void {
    // Members waiting for an assignment of the generation that just ended must rejoin.
    if (group.state === 'CompletingRebalance') {
      for (const m of group.members.values()) {
        m.assignment = Buffer.alloc(0);
        const sync = m.awaitingSync;
        m.awaitingSync = null;
        sync?.(syncError(GroupError.REBALANCE_IN_PROGRESS));
      }
    }
    if (group.phaseTimer) clearTimeout(group.phaseTimer);
    group.phaseTimer = null;
    group.pendingSync.clear();
    const wasEmpty = group.state === 'Empty';
    group.state = 'PreparingRebalance';
    this.#hooks.rebalanceStarted(group);
    const timeoutMs = group.rebalanceTimeoutMs();
    const delayMs = this.#config.initialRebalanceDelayMs;
    if (wasEmpty && delayMs > 0) {
      // Kafka's InitialDelayedJoin: give the other members of a starting group time to arrive.
      group.initialDelay = { remainingMs: Math.max(timeoutMs - delayMs, 0), newMemberAdded: false };
      group.phaseTimer = setTimeout(() => this.#initialDelayExpired(group), delayMs);
      return;
    }
    group.phaseTimer = setTimeout(() => this.#completeJoin(group), timeoutMs);
    this.#tryCompleteJoin(group);
  }

  #initialDelayExpired(group: Group): void {
    group.phaseTimer = null;
    const d = group.initialDelay;
    if (d?.newMemberAdded && d.remainingMs > 0) {
      const delayMs = Math.min(this.#config.initialRebalanceDelayMs, d.remainingMs);
      group.initialDelay = { remainingMs: Math.max(d.remainingMs - delayMs, 0), newMemberAdded: false };
      group.phaseTimer = setTimeout(() => this.#initialDelayExpired(group), delayMs);
      return;
    }
    group.initialDelay = null;
    this.#completeJoin(group);
  }

  #tryCompleteJoin(group: Group): void {
    if (group.state === 'PreparingRebalance' && !group.initialDelay && group.allMembersJoined()) {
      this.#completeJoin(group);
    }
  }

  /** The rebalance ends: all members rejoined, or the rebalance timeout passed. */
  #completeJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    if (group.phaseTimer) clearTimeout(group.phaseTimer);
    group.phaseTimer = null;
    group.initialDelay = null;
    // Dynamic members that did not rejoin in time are gone; static ones keep their place until their session ends.
    for (const m of [...group.members.values()]) {
      if (!m.awaitingJoin && m.groupInstanceId === null) group.remove(m.memberId);
    }
    if (group.size > 0) {
      if (!group.someMemberJoined()) {
        // Only absent static members: wait another round for them to rejoin or expire.
        group.phaseTimer = setTimeout(() => this.#completeJoin(group), group.rebalanceTimeoutMs());
        return;
      }
      const leader = group.leaderId === null ? undefined : group.members.get(group.leaderId);
      if (!leader?.awaitingJoin) {
        group.leaderId = [...group.members.values()].find((m) => m.awaitingJoin)?.memberId ?? null;
      }
    }
    group.generationId++;
    if (group.size === 0) {
      group.protocolName = null;
      group.leaderId = null;
      group.state = 'Empty';
      group.emptySinceMs = Date.now();
      this.#hooks.groupEmptied(group);
      return;
    }
    group.protocolName = group.selectProtocol();
    group.state = 'CompletingRebalance';
    for (const m of group.members.values()) {
      group.pendingSync.add(m.memberId);
      const join = m.awaitingJoin;
      m.awaitingJoin = null;
      m.isNew = false;
      this.#scheduleExpiry(group, m, m.sessionTimeoutMs);
      join?.(this.#joinResult(group, m, group.isLeader(m.memberId)));
    }
    const generation = group.generationId;
    group.phaseTimer = setTimeout(() => this.#syncExpired(group, generation), group.rebalanceTimeoutMs());
  }

  /** The leader's SyncGroup: store every assignment, answer the members waiting for theirs. */
  #completeSync(group: Group, assignments: SyncRequest['assignments']): void {
    if (assignments.some((a) => a.assignment.length > this.#config.memberMetadataBytesMax)) {
      // Kafka's answer when it cannot store a group's assignment: every waiting member gets the error, then a rebalance.
      for (const m of group.members.values()) {
        const sync = m.awaitingSync;
        m.awaitingSync = null;
        sync?.(syncError(GroupError.INVALID_REQUEST));
      }
      this.#prepareRebalance(group);
      return;
    }
    const byId = new Map(assignments.map((a) => [a.memberId, a.assignment]));
    for (const m of group.members.values()) m.assignment = byId.get(m.memberId) ?? Buffer.alloc(0);
    group.state = 'Stable';
    for (const m of group.members.values()) {
      const sync = m.awaitingSync;
      if (!sync) continue;
      m.awaitingSync = null;
      this.#scheduleExpiry(group, m, m.sessionTimeoutMs);
      sync(this.#syncResult(group, m));
    }
  }

  /** Members that never sent SyncGroup within the rebalance timeout are removed (Kafka's pending-sync expiry). */
  #syncExpired(group: Group, generation: number): void {
    group.phaseTimer = null;
    if (group.generationId !== generation) return;
    if (group.state !== 'CompletingRebalance' && group.state !== 'Stable') return;
    if (group.pendingSync.size === 0) return;
    const late = [...group.pendingSync];
    group.pendingSync.clear();
    for (const id of late) {
      const m = group.members.get(id);
      if (!m) continue;
      const join = m.awaitingJoin;
      const sync = m.awaitingSync;
      m.awaitingJoin = null;
      m.awaitingSync = null;
      join?.(joinError(GroupError.UNKNOWN_MEMBER_ID, id));
      sync?.(syncError(GroupError.UNKNOWN_MEMBER_ID));
      group.remove(id);
    }
    this.#prepareRebalance(group);
  }

  #scheduleExpiry(group: Group, member: Member, ms: number): void {
    if (member.heartbeatTimer) clearTimeout(member.heartbeatTimer);
    member.heartbeatTimer = setTimeout(() => this.#expireMember(group, member), ms);
  }

  #expireMember(group: Group, member: Member): void {
    member.heartbeatTimer = null;
    if (group.members.get(member.memberId) !== member) return;
    // A member waiting in a rebalance is governed by the rebalance timeout, unless it is new.
    if (!member.isNew && (member.awaitingJoin || member.awaitingSync)) return;
    this.removeMember(group, member.memberId);
  }

  #expirePending(group: Group, memberId: string): void {
    if (!group.pendingMembers.delete(memberId)) return;
    this.#afterPendingRemoved(group);
  }

  #afterPendingRemoved(group: Group): void {
    if (group.state === 'PreparingRebalance') this.#tryCompleteJoin(group);
    else if (group.state === 'Empty' && group.pendingMembers.size === 0) this.#hooks.groupEmptied(group);
  }

  #joinResult(group: Group, member: Member, withMembers: boolean): JoinResult {
    return {
      errorCode: GroupError.NONE,
      memberId: member.memberId,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leaderId ?? '',
      skipAssignment: false,
      members: withMembers ? group.currentMemberMetadata() : [],
    };
  }

  #syncResult(group: Group, member: Member): SyncResult {
    return {
      errorCode: GroupError.NONE,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      assignment: member.assignment,
    };
  }
}
