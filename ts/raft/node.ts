/**
 * One Raft node as a pure, deterministic state machine (Raft paper and
 * Ongaro's thesis; structure after etcd/raft's Ready loop).
 *
 * Inputs: `tick()`, `step(message)`, `propose()`, `readIndex()`,
 * `proposeConfigChange()`, `transferLeadership()`, `compact()`, and
 * `persisted()` (the driver's report of how far the log is durable). Output:
 * one `Ready` at a time (`ready()`), which the driver handles in this order:
 *   1. apply `persist` to the LogStore and `sync()` it, then report
 *      `persisted()`,
 *   2. send `messages` (a leader's append-entries may go before the sync,
 *      unless the Ready changes term or vote: the leader counts its own copy
 *      toward commit only once `persisted()` reported it),
 *   3. restore `snapshot` into the state machine if set, then apply
 *      `committed` entries in order, then serve `readStates` once applied
 *      (committed entries are durable on a majority: they may be applied
 *      before this Ready's sync).
 * A driver may start the next Ready before a sync resolved, if its syncs
 * complete in order and it holds each non-append message until its sync.
 * The node never does I/O and never reads a clock or Math.random.
 *
 * This file is the node's surface: the inputs above, the message dispatcher
 * (`step()`, which settles terms before any handler runs), the timers
 * (`tick()`) and the Ready output. The state lives in a `NodeState`
 * (`state.ts`), where `role` is one discriminated union changed only by
 * `become()` (STYLE principle 7); the handlers live in `election.ts`,
 * `replication.ts` and `read-index.ts`.
 *
 * Invariants asserted here (a violation is a bug, STYLE principle 4): a
 * message reaches only the node it is addressed to; compaction never passes
 * the applied index; applied <= commit. The others (term, vote, commit, log)
 * are asserted where they change: `state.ts`, `election.ts`, `replication.ts`.
 */
import {
  campaign,
  checkQuorum,
  handlePreVote,
  handleRequestVote,
  handleTimeoutNow,
  handleVoteResponse,
  inLease,
} from './election.ts';
import type { PersistOp } from './log-store.ts';
import { admitRead } from './read-index.ts';
import {
  broadcastHeartbeat,
  handleAppend,
  handleAppendResponse,
  handleSnapshot,
  maybeCommit,
  respondAppend,
  sendAppends,
  syncProgress,
} from './replication.ts';
import { NodeState, type RaftOptions, type ReadState, type Role } from './state.ts';
import {
  assert,
  type Index,
  type LogEntry,
  type Message,
  NO_NODE,
  type NodeId,
  type RoleKind,
  type Snapshot,
  type Term,
} from './types.ts';

export type { Progress, ProgressState, RaftOptions, ReadState, Role } from './state.ts';

export interface Ready {
  persist: PersistOp[];
  messages: Message[];
  /** Set when a snapshot from the leader replaced the log: restore it before `committed`. */
  snapshot: Snapshot | null;
  committed: LogEntry[];
  readStates: ReadState[];
}

export type ProposeResult =
  | { ok: true; index: Index; term: Term }
  | {
      ok: false;
      reason: 'not-leader' | 'transferring' | 'config-change-pending' | 'overloaded';
      leader: NodeId;
    };

export class RaftNode {
  readonly id: NodeId;
  readonly #s: NodeState;

  constructor(options: RaftOptions) {
    this.#s = new NodeState(options);
    this.id = this.#s.id;
  }

  // ---- read-only views (for drivers, tests and the checker) ----

  get term(): Term {
    return this.#s.term;
  }
  get vote(): NodeId {
    return this.#s.vote;
  }
  get role(): RoleKind {
    return this.#s.role.kind;
  }
  get roleState(): Readonly<Role> {
    return this.#s.role;
  }
  get leader(): NodeId {
    return this.#s.leader;
  }
  get commitIndex(): Index {
    return this.#s.commit;
  }
  get appliedIndex(): Index {
    return this.#s.applied;
  }
  get voters(): readonly NodeId[] {
    return this.#s.voters;
  }
  get snapshotMeta(): Snapshot['meta'] {
    return this.#s.snapshot.meta;
  }
  get lastIndex(): Index {
    return this.#s.lastIndex();
  }
  termAt(index: Index): Term | undefined {
    return this.#s.termAt(index);
  }
  entryAt(index: Index): LogEntry | undefined {
    return this.#s.entryAt(index);
  }

  // ---- inputs ----

  tick(): void {
    const s = this.#s;
    s.ticks++;
    const role = s.role;
    if (role.kind === 'leader') {
      s.electionElapsed++;
      if (role.transfer && ++role.transfer.elapsed >= s.electionTicks) role.transfer = null;
      if (s.electionElapsed >= s.electionTicks) {
        s.electionElapsed = 0;
        if (!checkQuorum(s)) {
          s.become('follower', s.term);
          return;
        }
      }
      if (++role.heartbeatElapsed >= s.heartbeatTicks) {
        role.heartbeatElapsed = 0;
        broadcastHeartbeat(s);
      }
      return;
    }
    s.electionElapsed++;
    // A non-voter never campaigns; its elapsed time keeps growing, so its
    // leader lease lapses and it can vote for a leader of a config it has
    // not heard of yet.
    // A sole voter has nobody to wait for: its election cannot race another
    // candidate's, so it campaigns on its first tick (a one-node cluster,
    // and every group of one, is ready a timeout sooner).
    const sole = s.role.kind === 'follower' && s.voters.length === 1 && s.voters[0] === s.id;
    if (s.isVoter(s.id) && (sole || s.electionElapsed >= s.electionTimeout)) {
      s.electionElapsed = 0;
      campaign(s, 'pre-candidate', false);
    }
  }

  step(m: Message): void {
    const s = this.#s;
    assert(m.to === s.id, `message for ${m.to} delivered to ${s.id}`);
    if (m.term > s.term) {
      if (m.type === 'pre-vote' || m.type === 'request-vote') {
        if (!(m.type === 'request-vote' && m.transfer) && inLease(s)) return;
      }
      if (m.type === 'pre-vote') {
        // A pre-vote never changes the receiver's term.
      } else if (m.type === 'pre-vote-response' && m.granted) {
        // Granted pre-votes carry the term the sender would campaign in.
      } else {
        const fromLeader =
          m.type === 'append-entries' || m.type === 'install-snapshot' || m.type === 'timeout-now';
        s.become('follower', m.term, fromLeader ? m.from : NO_NODE);
      }
    } else if (m.term < s.term) {
      if (m.type === 'append-entries' || m.type === 'install-snapshot') {
        // Tell a stale leader about the newer term so it steps down.
        respondAppend(s, m.from, false, 0, 0, 0, 0, m.seq);
      } else if (m.type === 'pre-vote') {
        s.send({
          type: 'pre-vote-response',
          from: s.id,
          to: m.from,
          term: s.term,
          granted: false,
        });
      }
      return;
    }

    switch (m.type) {
      case 'pre-vote':
        handlePreVote(s, m);
        return;
      case 'request-vote':
        handleRequestVote(s, m);
        return;
      case 'pre-vote-response':
      case 'request-vote-response':
        handleVoteResponse(s, m);
        return;
      case 'append-entries':
        handleAppend(s, m);
        return;
      case 'install-snapshot':
        handleSnapshot(s, m);
        return;
      case 'append-entries-response':
        handleAppendResponse(s, m);
        return;
      case 'timeout-now':
        handleTimeoutNow(s, m);
        return;
    }
  }

  // ---- client API ----

  propose(data: Uint8Array): ProposeResult {
    const s = this.#s;
    const role = s.role;
    if (role.kind !== 'leader') return { ok: false, reason: 'not-leader', leader: s.leader };
    if (role.transfer) return { ok: false, reason: 'transferring', leader: s.id };
    if (s.lastIndex() - s.commit >= s.uncommittedEntriesMax) {
      return { ok: false, reason: 'overloaded', leader: s.id };
    }
    const entry: LogEntry = { type: 'command', index: s.lastIndex() + 1, term: s.term, data };
    s.appendLocal([entry]);
    s.appendsDirty = true;
    maybeCommit(s);
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Single-server membership change (thesis §4.1): add or remove one voter.
   * Refused while an earlier change is uncommitted or before this leader has
   * committed an entry of its own term (the fix to the thesis bug).
   */
  proposeConfigChange(change: { add: NodeId } | { remove: NodeId }): ProposeResult {
    const s = this.#s;
    const role = s.role;
    if (role.kind !== 'leader') return { ok: false, reason: 'not-leader', leader: s.leader };
    if (role.transfer) return { ok: false, reason: 'transferring', leader: s.id };
    if (s.commit < role.termStart || !s.configCommitted()) {
      return { ok: false, reason: 'config-change-pending', leader: s.id };
    }
    let voters: NodeId[];
    if ('add' in change) {
      if (s.voters.includes(change.add)) return { ok: true, index: s.commit, term: s.term };
      voters = [...s.voters, change.add].sort((a, b) => a - b);
    } else {
      if (!s.voters.includes(change.remove)) return { ok: true, index: s.commit, term: s.term };
      voters = s.voters.filter((id) => id !== change.remove);
      assert(voters.length > 0, 'cannot remove the last voter');
    }
    const entry: LogEntry = { type: 'config', index: s.lastIndex() + 1, term: s.term, voters };
    s.appendLocal([entry]);
    syncProgress(s);
    s.appendsDirty = true;
    maybeCommit(s);
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Leader transfer (thesis §3.10): catch the target up, then send TimeoutNow. */
  transferLeadership(target: NodeId): boolean {
    const s = this.#s;
    const role = s.role;
    if (role.kind !== 'leader' || target === s.id) return false;
    const pr = role.progress.get(target);
    if (!pr) return false;
    role.transfer = { target, elapsed: 0 };
    if (pr.match === s.lastIndex()) {
      s.send({ type: 'timeout-now', from: s.id, to: target, term: s.term });
    } else {
      sendAppends(s, target, pr, true);
    }
    return true;
  }

  /**
   * Read-index (thesis §6.4): record the commit index, confirm leadership
   * with a heartbeat round acknowledged by a majority, then the read may be
   * served once that index is applied. `ctx` comes back in a ReadState.
   * Reads still pending when this node stops leading are dropped: the caller
   * fails them on its own timeout or on the role change.
   */
  readIndex(ctx: unknown): boolean {
    const s = this.#s;
    const admitted = admitRead(s, ctx);
    if (admitted === 'pending') broadcastHeartbeat(s);
    return admitted !== 'refused';
  }

  /**
   * The driver's report that this node's log through `index` (whose entry
   * has `term`) is durable: every Ready handed out up to one whose store
   * reached that index has been synced. A report for an entry since
   * truncated or replaced (another term at that index) is ignored; a later
   * one covers it. A leader may then commit what its own copy completes.
   */
  persisted(index: Index, term: Term): void {
    const s = this.#s;
    if (index <= s.durable || index > s.lastIndex() || s.termAt(index) !== term) return;
    s.durable = index;
    maybeCommit(s);
  }

  /**
   * Log compaction: the application has applied through `index` and hands
   * over its state-machine image. Entries up to `index` are dropped.
   */
  compact(index: Index, data: Uint8Array): void {
    const s = this.#s;
    assert(index <= s.applied, `compact(${index}) beyond applied ${s.applied}`);
    if (index <= s.snapshot.meta.index) return;
    const term = s.termAt(index) as Term;
    const snapshot: Snapshot = { meta: { index, term, voters: s.configAt(index) }, data };
    s.log = s.log.slice(index - s.snapshot.meta.index);
    s.snapshot = snapshot;
    s.persist.push({ kind: 'snapshot', snapshot });
  }

  // ---- output ----

  /** True when `ready()` has something for the driver. */
  hasReady(): boolean {
    const s = this.#s;
    return (
      s.persist.length > 0 ||
      s.messages.length > 0 ||
      s.snapshotToRestore !== null ||
      s.applied < s.commit ||
      s.readStates.length > 0 ||
      s.appendsDirty ||
      s.term !== s.persisted.term ||
      s.vote !== s.persisted.vote
    );
  }

  ready(): Ready {
    const s = this.#s;
    if (s.appendsDirty) {
      s.appendsDirty = false;
      const role = s.role;
      if (role.kind === 'leader') {
        // New entries only: a commit that advanced with nothing new to send
        // reaches followers with the next append or heartbeat. An empty
        // append per commit (and its answer) would double the RPCs of a
        // lightly loaded group for no client: proposals are answered by the
        // leader, which applies at once.
        for (const [id, pr] of role.progress) sendAppends(s, id, pr, false);
      }
    }
    const persist = s.persist;
    if (s.term !== s.persisted.term || s.vote !== s.persisted.vote) {
      const state = { term: s.term, vote: s.vote };
      persist.push({ kind: 'hard-state', state });
      s.persisted = { term: s.term, vote: s.vote };
    }
    const hi = Math.min(s.commit, s.applied + s.committedPerReadyMax);
    const committed = hi > s.applied ? s.entries(s.applied + 1, hi + 1) : [];
    assert(hi <= s.commit, 'applied beyond commit');
    s.applied = Math.max(s.applied, hi);
    const ready: Ready = {
      persist,
      messages: s.messages,
      snapshot: s.snapshotToRestore,
      committed,
      readStates: s.readStates,
    };
    s.persist = [];
    s.messages = [];
    s.snapshotToRestore = null;
    s.readStates = [];
    return ready;
  }
}
