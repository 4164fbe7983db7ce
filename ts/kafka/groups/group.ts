/**
 * One classic-protocol consumer group as data: its state, generation,
 * members (dynamic and static), pending members of the two-step join, and
 * the protocol it selected. The rules that move it (join, sync, heartbeat,
 * leave, timeouts) live in rebalance.ts; this module only answers questions
 * about the group and changes membership consistently.
 */

/** Kafka's classic group states, with the names ListGroups/DescribeGroups report. */
export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export const GROUP_STATES: readonly GroupState[] = [
  'Empty',
  'PreparingRebalance',
  'CompletingRebalance',
  'Stable',
  'Dead',
];

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export interface JoinResult {
  errorCode: number;
  memberId: string;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  /** Filled for the leader only: every member with its metadata for the selected protocol. */
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  assignment: Buffer;
  /** Set while its JoinGroup waits for the rebalance to complete. */
  awaitingJoin: ((r: JoinResult) => void) | null;
  /** Set while its SyncGroup waits for the leader's assignment. */
  awaitingSync: ((r: SyncResult) => void) | null;
  /** Joined but not yet part of a completed generation: its join has its own (long) timeout. */
  isNew: boolean;
  /** Session (or new-member join) expiry. */
  heartbeatTimer: NodeJS.Timeout | null;
}

export class Group {
  readonly id: string;
  state: GroupState = 'Empty';
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, Member>();
  /** group.instance.id → current member id (KIP-345). */
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, expiring after the session timeout. */
  readonly pendingMembers = new Map<string, NodeJS.Timeout>();
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSync = new Set<string>();
  /** The rebalance (join) or sync deadline, whichever phase is running. */
  phaseTimer: NodeJS.Timeout | null = null;
  /** While the initial rebalance delay runs, the join never completes early. */
  initialDelay: { remainingMs: number; newMemberAdded: boolean } | null = null;
  /**
   * When the group last became Empty: offset retention counts from here
   * (KIP-211). A group loaded at start counts from the start, so a restart
   * never expires offsets earlier than retention after the last change seen.
   */
  emptySinceMs = Date.now();

  constructor(id: string) {
    this.id = id;
  }

  get size(): number {
    return this.members.size;
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  /** The largest rebalance timeout among members: how long a rebalance may wait. */
  rebalanceTimeoutMs(): number {
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
    return max;
  }

  /** A static member id that does not match the current holder of its instance id. */
  isStaticMemberFenced(groupInstanceId: string | null, memberId: string): boolean {
    if (groupInstanceId === null) return false;
    const current = this.staticMembers.get(groupInstanceId);
    return current !== undefined && current !== memberId;
  }

  allMembersJoined(): boolean {
    if (this.pendingMembers.size > 0) return false;
    for (const m of this.members.values()) if (!m.awaitingJoin) return false;
    return true;
  }

  someMemberJoined(): boolean {
    for (const m of this.members.values()) if (m.awaitingJoin) return true;
    return false;
  }

  /**
   * Whether a member with these protocols may join: the first member sets
   * the protocol type; later ones must share it and support at least one
   * protocol every other member supports.
   */
  supportsProtocols(protocolType: string, protocols: readonly Protocol[], self?: string): boolean {
    const others = [...this.members.values()].filter((m) => m.memberId !== self);
    if (others.length === 0) return protocolType.length > 0 && protocols.length > 0;
    if (this.protocolType !== protocolType) return false;
    return protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  /**
   * The protocol for the next generation: among the protocols every member
   * supports, the one most members list first (ties go to the earliest
   * candidate), as Kafka's GroupMetadata.selectProtocol.
   */
  selectProtocol(): string | null {
    const all = [...this.members.values()];
    const first = all[0];
    if (!first) return null;
    const candidates = first.protocols
      .map((p) => p.name)
      .filter((name) => all.every((m) => m.protocols.some((q) => q.name === name)));
    if (candidates.length === 0) return null;
    const votes = new Map<string, number>(candidates.map((c) => [c, 0]));
    for (const m of all) {
      const vote = m.protocols.find((p) => votes.has(p.name));
      if (vote) votes.set(vote.name, (votes.get(vote.name) ?? 0) + 1);
    }
    let best = candidates[0] as string;
    for (const c of candidates) if ((votes.get(c) ?? 0) > (votes.get(best) ?? 0)) best = c;
    return best;
  }

  metadataFor(member: Member, protocol: string | null): Buffer {
    return member.protocols.find((p) => p.name === protocol)?.metadata ?? Buffer.alloc(0);
  }

  /** Every member with its metadata for the selected protocol (what the leader assigns from). */
  currentMemberMetadata(): JoinResult['members'] {
    return [...this.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: this.metadataFor(m, this.protocolName),
    }));
  }

  add(member: Member): void {
    if (this.members.size === 0) this.protocolType = member.protocolType;
    this.members.set(member.memberId, member);
    if (member.groupInstanceId !== null) this.staticMembers.set(member.groupInstanceId, member.memberId);
    this.leaderId ??= member.memberId;
  }

  remove(memberId: string): Member | undefined {
    const m = this.members.get(memberId);
    if (!m) return undefined;
    this.members.delete(memberId);
    this.pendingSync.delete(memberId);
    if (m.groupInstanceId !== null && this.staticMembers.get(m.groupInstanceId) === memberId) {
      this.staticMembers.delete(m.groupInstanceId);
    }
    if (m.heartbeatTimer) clearTimeout(m.heartbeatTimer);
    m.heartbeatTimer = null;
    if (this.leaderId === memberId) {
      // Prefer a member already waiting in the rebalance, as Kafka does.
      const next =
        [...this.members.values()].find((x) => x.awaitingJoin) ?? this.members.values().next().value;
      this.leaderId = next?.memberId ?? null;
    }
    return m;
  }

  /** Move a static member to a new member id (a restarted instance), keeping its assignment. */
  replaceStaticMember(groupInstanceId: string, oldId: string, newId: string): Member | undefined {
    const m = this.members.get(oldId);
    if (!m) return undefined;
    this.members.delete(oldId);
    m.memberId = newId;
    this.members.set(newId, m);
    this.staticMembers.set(groupInstanceId, newId);
    if (this.leaderId === oldId) this.leaderId = newId;
    if (this.pendingSync.delete(oldId)) this.pendingSync.add(newId);
    return m;
  }

  /** Stop every timer the group holds (group deleted or coordinator closed). */
  clearTimers(): void {
    if (this.phaseTimer) clearTimeout(this.phaseTimer);
    this.phaseTimer = null;
    for (const t of this.pendingMembers.values()) clearTimeout(t);
    this.pendingMembers.clear();
    for (const m of this.members.values()) {
      if (m.heartbeatTimer) clearTimeout(m.heartbeatTimer);
      m.heartbeatTimer = null;
    }
  }
}
