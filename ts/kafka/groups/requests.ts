/**
 * What the group APIs hand the coordinator (JoinRequest, SyncRequest,
 * member identities), the error answers, and the member check several of
 * them share. Wire-free: apis/ decodes, these are the decoded shapes.
 */
import type { Group, JoinResult, Protocol, SyncResult } from './group.ts';

/** Kafka's error codes for the group APIs. */
export const GroupError = {
  NONE: 0,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_REQUEST: 42,
  POLICY_VIOLATION: 44,
  NON_EMPTY_GROUP: 68,
  GROUP_ID_NOT_FOUND: 69,
  MEMBER_ID_REQUIRED: 79,
  GROUP_MAX_SIZE_REACHED: 81,
  FENCED_INSTANCE_ID: 82,
} as const;

export interface JoinRequest {
  memberId: string;
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  clientId: string;
  clientHost: string;
  /** JoinGroup v4+: a new dynamic member first gets its id with MEMBER_ID_REQUIRED. */
  requireKnownMemberId: boolean;
}

export interface SyncRequest {
  memberId: string;
  groupInstanceId: string | null;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface MemberIdentity {
  memberId: string;
  groupInstanceId: string | null;
}

export function joinError(errorCode: number, memberId = ''): JoinResult {
  return {
    errorCode,
    memberId,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: '',
    skipAssignment: false,
    members: [],
  };
}

export function syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
}

/**
 * The member checks shared by SyncGroup, Heartbeat and OffsetCommit
 * (Kafka's ClassicGroup.validateMember): a static member id that lost its
 * instance id is fenced; an id the group does not know is unknown.
 */
export function validateMember(group: Group, memberId: string, groupInstanceId: string | null): number {
  if (groupInstanceId !== null) {
    const current = group.staticMembers.get(groupInstanceId);
    if (current === undefined) return GroupError.UNKNOWN_MEMBER_ID;
    if (current !== memberId) return GroupError.FENCED_INSTANCE_ID;
  }
  return group.members.has(memberId) ? GroupError.NONE : GroupError.UNKNOWN_MEMBER_ID;
}
