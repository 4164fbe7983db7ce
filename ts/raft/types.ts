/**
 * Raft vocabulary: ids, log entries, snapshots, hard state and the messages
 * nodes exchange. Pure data: no I/O, no classes. The gRPC transport (a later
 * part) maps these one to one onto `proto/` messages.
 *
 * Index and term are plain numbers: safe integers up to 2^53, which a log
 * will not reach. Index 0 / term 0 mean "before the first entry".
 */

export type NodeId = number;
export type Term = number;
export type Index = number;

/** An opaque command for the replicated state machine. */
export interface CommandEntry {
  readonly type: 'command';
  readonly index: Index;
  readonly term: Term;
  readonly data: Uint8Array;
}

/**
 * The full voter set after a single-server change (one voter added or
 * removed relative to the previous config). Takes effect on every node as
 * soon as it is appended to that node's log, committed or not.
 */
export interface ConfigEntry {
  readonly type: 'config';
  readonly index: Index;
  readonly term: Term;
  readonly voters: readonly NodeId[];
}

/** Appended by every new leader so it can commit something in its own term. */
export interface NoopEntry {
  readonly type: 'noop';
  readonly index: Index;
  readonly term: Term;
}

export type LogEntry = CommandEntry | ConfigEntry | NoopEntry;

export interface SnapshotMeta {
  /** Last index covered by the snapshot. */
  readonly index: Index;
  /** Term of the entry at `index`. */
  readonly term: Term;
  /** Voter set in effect at `index`. */
  readonly voters: readonly NodeId[];
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** State-machine image, opaque to Raft. */
  readonly data: Uint8Array;
}

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: Term;
  /** Candidate voted for in `term`; 0 when none. */
  readonly vote: NodeId;
}

export const NO_NODE: NodeId = 0;

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** Pre-vote (Raft thesis §9.6): `term` is the term the sender would campaign in. */
export interface PreVote extends MessageBase {
  readonly type: 'pre-vote';
  readonly lastLogIndex: Index;
  readonly lastLogTerm: Term;
}

export interface PreVoteResponse extends MessageBase {
  readonly type: 'pre-vote-response';
  readonly granted: boolean;
}

export interface RequestVote extends MessageBase {
  readonly type: 'request-vote';
  readonly lastLogIndex: Index;
  readonly lastLogTerm: Term;
  /** Set when campaigning after TimeoutNow: voters skip the leader-lease check. */
  readonly transfer: boolean;
}

export interface RequestVoteResponse extends MessageBase {
  readonly type: 'request-vote-response';
  readonly granted: boolean;
}

export interface AppendEntries extends MessageBase {
  readonly type: 'append-entries';
  readonly prevLogIndex: Index;
  readonly prevLogTerm: Term;
  readonly entries: readonly LogEntry[];
  readonly leaderCommit: Index;
  /** Leader's heartbeat round; echoed back, it confirms leadership for read-index. */
  readonly seq: number;
}

export interface AppendEntriesResponse extends MessageBase {
  readonly type: 'append-entries-response';
  readonly success: boolean;
  /** On success: last index known to match the leader's log. */
  readonly matchIndex: Index;
  /** On rejection: the prevLogIndex that was rejected. */
  readonly rejectedIndex: Index;
  /** On rejection: follower's term at rejectedIndex, or 0 when its log is shorter. */
  readonly conflictTerm: Term;
  /** On rejection: first index of conflictTerm, or follower's lastIndex + 1. */
  readonly conflictIndex: Index;
  readonly seq: number;
}

export interface InstallSnapshot extends MessageBase {
  readonly type: 'install-snapshot';
  readonly snapshot: Snapshot;
  readonly seq: number;
}

/** Leader transfer: the target campaigns at once, without pre-vote. */
export interface TimeoutNow extends MessageBase {
  readonly type: 'timeout-now';
}

export type Message =
  | PreVote
  | PreVoteResponse
  | RequestVote
  | RequestVoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | InstallSnapshot
  | TimeoutNow;

export type RoleKind = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** A programmer error inside Raft (STYLE principle 4): crash, never handle. */
export class RaftAssertionError extends Error {
  override name = 'RaftAssertionError';
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftAssertionError(message);
}
