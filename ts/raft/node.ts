/**
 * One Raft node as a pure, deterministic state machine (Raft paper and
 * Ongaro's thesis; structure after etcd/raft's Ready loop).
 *
 * Inputs: `tick()`, `step(message)`, `propose()`, `readIndex()`,
 * `proposeConfigChange()`, `transferLeadership()`, `compact()`. Output: one
 * `Ready` at a time (`ready()`), which the driver handles in this order:
 *   1. apply `persist` to the LogStore and `sync()` it,
 *   2. send `messages`,
 *   3. restore `snapshot` into the state machine if set, then apply
 *      `committed` entries in order, then serve `readStates` once applied.
 * The node never does I/O and never reads a clock or Math.random.
 *
 * State: `role` is one discriminated union changed only by `#become()`
 * (STYLE principle 7). Per-follower replication state (`Progress`) is a union
 * too: probe (one append in flight) | replicate (pipelined, up to
 * `inflightMax` appends) | snapshot (InstallSnapshot in flight).
 *
 * Invariants asserted here (a violation is a bug, STYLE principle 4): the term
 * never decreases; the vote never changes within a term; commit never
 * decreases; committed entries are never truncated; a leader never
 * overwrites its own log; applied <= commit.
 */
import type { Random } from './clock.ts';
import type { PersistOp } from './log-store.ts';
import {
  type AppendEntries,
  type AppendEntriesResponse,
  assert,
  type HardState,
  type Index,
  type InstallSnapshot,
  type LogEntry,
  type Message,
  NO_NODE,
  type NodeId,
  type PreVote,
  type RequestVote,
  type RoleKind,
  type Snapshot,
  type Term,
} from './types.ts';

export interface RaftOptions {
  id: NodeId;
  /** Minimum election timeout in ticks; the actual one is uniform in [min, 2*min). */
  electionTicks: number;
  heartbeatTicks: number;
  random: Random;
  /** Voters of a brand-new cluster (implicit config at index 0). A joining node passes []. */
  initialVoters: readonly NodeId[];
  /** Durable state read back from the LogStore on restart. */
  restored?: { hardState: HardState; snapshot: Snapshot | null; entries: readonly LogEntry[] };
  entriesPerAppendMax?: number;
  inflightAppendsMax?: number;
  committedPerReadyMax?: number;
  /** Proposals are refused ('overloaded') while this many entries are uncommitted. */
  uncommittedEntriesMax?: number;
  /** readIndex() is refused while this many reads wait for confirmation. */
  readsPendingMax?: number;
}

export type ProgressState =
  | { kind: 'probe'; paused: boolean }
  | { kind: 'replicate'; inflight: Index[] }
  | { kind: 'snapshot'; index: Index; sentTick: number };

export interface Progress {
  match: Index;
  next: Index;
  state: ProgressState;
  /** Heard from since the last check-quorum round. */
  recentActive: boolean;
  /** Highest heartbeat round this peer has acknowledged. */
  ackedSeq: number;
}

interface PendingRead {
  ctx: unknown;
  index: Index;
  seq: number;
}

export type Role =
  | { kind: 'follower'; leader: NodeId }
  | { kind: 'pre-candidate'; votes: Map<NodeId, boolean> }
  | { kind: 'candidate'; votes: Map<NodeId, boolean> }
  | {
      kind: 'leader';
      progress: Map<NodeId, Progress>;
      /** Heartbeat round counter; also numbers read-index requests. */
      seq: number;
      reads: PendingRead[];
      /** Reads waiting until an entry of this term is committed. */
      readsAwaitingCommit: unknown[];
      transfer: { target: NodeId; elapsed: number } | null;
      /** Index of this term's no-op; nothing is committed in this term before it. */
      termStart: Index;
      heartbeatElapsed: number;
    };

export interface ReadState {
  ctx: unknown;
  /** Serve the read once the state machine has applied this index. */
  index: Index;
}

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
  readonly #electionTicks: number;
  readonly #heartbeatTicks: number;
  readonly #random: Random;
  readonly #entriesPerAppendMax: number;
  readonly #inflightAppendsMax: number;
  readonly #committedPerReadyMax: number;
  readonly #uncommittedEntriesMax: number;
  readonly #readsPendingMax: number;

  #term: Term = 0;
  #vote: NodeId = NO_NODE;
  #role: Role = { kind: 'follower', leader: NO_NODE };
  /** Last snapshot (or the implicit one at index 0 holding the initial voters). */
  #snapshot: Snapshot;
  /** #log[i] has index snapshot.index + 1 + i. */
  #log: LogEntry[] = [];
  #voters: NodeId[];
  #commit: Index;
  #applied: Index;
  #electionElapsed = 0;
  #electionTimeout = 0;
  #ticks = 0;

  // Ready accumulators.
  #persist: PersistOp[] = [];
  #messages: Message[] = [];
  #snapshotToRestore: Snapshot | null = null;
  #readStates: ReadState[] = [];
  #persisted: HardState;
  #appendsDirty = false;

  constructor(options: RaftOptions) {
    this.id = options.id;
    assert(options.id !== NO_NODE, 'node id 0 is reserved');
    assert(options.heartbeatTicks > 0 && options.electionTicks > options.heartbeatTicks, 'bad tick config');
    this.#electionTicks = options.electionTicks;
    this.#heartbeatTicks = options.heartbeatTicks;
    this.#random = options.random;
    this.#entriesPerAppendMax = options.entriesPerAppendMax ?? 64;
    this.#inflightAppendsMax = options.inflightAppendsMax ?? 8;
    this.#committedPerReadyMax = options.committedPerReadyMax ?? 256;
    this.#uncommittedEntriesMax = options.uncommittedEntriesMax ?? 10_000;
    this.#readsPendingMax = options.readsPendingMax ?? 4096;
    const r = options.restored;
    this.#snapshot = r?.snapshot ?? {
      meta: { index: 0, term: 0, voters: [...options.initialVoters] },
      data: new Uint8Array(0),
    };
    if (r) {
      this.#term = r.hardState.term;
      this.#vote = r.hardState.vote;
      this.#log = [...r.entries];
      let expected = this.#snapshot.meta.index + 1;
      for (const e of this.#log) {
        assert(e.index === expected++, 'restored log is not contiguous with its snapshot');
      }
    }
    this.#persisted = { term: this.#term, vote: this.#vote };
    this.#commit = this.#snapshot.meta.index;
    this.#applied = this.#snapshot.meta.index;
    this.#voters = this.#configAt(this.#lastIndex());
    this.#resetElectionTimeout();
  }

  // ---- read-only views (for drivers, tests and the checker) ----

  get term(): Term {
    return this.#term;
  }
  get vote(): NodeId {
    return this.#vote;
  }
  get role(): RoleKind {
    return this.#role.kind;
  }
  get roleState(): Readonly<Role> {
    return this.#role;
  }
  get leader(): NodeId {
    if (this.#role.kind === 'leader') return this.id;
    return this.#role.kind === 'follower' ? this.#role.leader : NO_NODE;
  }
  get commitIndex(): Index {
    return this.#commit;
  }
  get appliedIndex(): Index {
    return this.#applied;
  }
  get voters(): readonly NodeId[] {
    return this.#voters;
  }
  get snapshotMeta(): Snapshot['meta'] {
    return this.#snapshot.meta;
  }
  get lastIndex(): Index {
    return this.#lastIndex();
  }
  termAt(index: Index): Term | undefined {
    return this.#termAt(index);
  }
  entryAt(index: Index): LogEntry | undefined {
    return this.#log[index - this.#snapshot.meta.index - 1];
  }

  // ---- log helpers ----

  #lastIndex(): Index {
    return this.#snapshot.meta.index + this.#log.length;
  }
  #lastTerm(): Term {
    return this.#termAt(this.#lastIndex()) as Term;
  }
  #termAt(index: Index): Term | undefined {
    const base = this.#snapshot.meta.index;
    if (index === base) return this.#snapshot.meta.term;
    if (index < base) return undefined;
    return this.#log[index - base - 1]?.term;
  }
  #configAt(index: Index): NodeId[] {
    const base = this.#snapshot.meta.index;
    for (let i = Math.min(index, this.#lastIndex()); i > base; i--) {
      const e = this.#log[i - base - 1];
      if (e?.type === 'config') return [...e.voters];
    }
    return [...this.#snapshot.meta.voters];
  }
  #isVoter(id: NodeId): boolean {
    return this.#voters.includes(id);
  }
  #quorum(): number {
    return Math.floor(this.#voters.length / 2) + 1;
  }

  #appendLocal(entries: LogEntry[]): void {
    if (entries.length === 0) return;
    const first = entries[0] as LogEntry;
    assert(first.index === this.#lastIndex() + 1, 'append not contiguous');
    const prevTerm = this.#lastTerm();
    for (const e of entries) {
      this.#log.push(e);
      if (e.type === 'config') this.#voters = [...e.voters];
    }
    this.#persist.push({ kind: 'append', entries, prevTerm });
  }

  #truncateLocal(from: Index): void {
    assert(from > this.#commit, `truncating committed entry ${from} (commit ${this.#commit})`);
    assert(this.#role.kind !== 'leader', 'a leader never truncates its own log');
    this.#log.length = from - this.#snapshot.meta.index - 1;
    this.#voters = this.#configAt(this.#lastIndex());
    this.#persist.push({ kind: 'truncate', from });
  }

  #setCommit(index: Index): void {
    if (index <= this.#commit) return;
    assert(index <= this.#lastIndex(), `commit ${index} beyond last index ${this.#lastIndex()}`);
    this.#commit = index;
  }

  // ---- role transitions: the one place `#role` changes ----

  #become(next: RoleKind, term: Term, leader: NodeId = NO_NODE): void {
    assert(term >= this.#term, `term going backwards: ${this.#term} -> ${term}`);
    if (term > this.#term) {
      this.#term = term;
      this.#vote = NO_NODE;
    }
    this.#electionElapsed = 0;
    this.#resetElectionTimeout();
    switch (next) {
      case 'follower':
        this.#role = { kind: 'follower', leader };
        return;
      case 'pre-candidate':
        assert(this.#role.kind !== 'leader', 'leader cannot become pre-candidate');
        this.#role = { kind: 'pre-candidate', votes: new Map([[this.id, true]]) };
        return;
      case 'candidate':
        assert(this.#role.kind !== 'leader', 'leader cannot become candidate');
        assert(this.#vote === NO_NODE, 'candidate in a term it already voted in');
        this.#vote = this.id;
        this.#role = { kind: 'candidate', votes: new Map([[this.id, true]]) };
        return;
      case 'leader': {
        assert(this.#role.kind === 'candidate', 'only a candidate becomes leader');
        const progress = new Map<NodeId, Progress>();
        const termStart = this.#lastIndex() + 1;
        this.#role = {
          kind: 'leader',
          progress,
          seq: 0,
          reads: [],
          readsAwaitingCommit: [],
          transfer: null,
          termStart,
          heartbeatElapsed: 0,
        };
        this.#syncProgress();
        this.#appendLocal([{ type: 'noop', index: termStart, term: this.#term }]);
        this.#maybeCommit();
        this.#broadcastHeartbeat();
        return;
      }
    }
  }

  #resetElectionTimeout(): void {
    this.#electionTimeout = this.#electionTicks + this.#random.int(this.#electionTicks);
  }

  /** Adds / removes Progress entries to match the current voters. */
  #syncProgress(): void {
    if (this.#role.kind !== 'leader') return;
    const { progress } = this.#role;
    for (const id of this.#voters) {
      if (id === this.id || progress.has(id)) continue;
      progress.set(id, {
        match: 0,
        next: this.#lastIndex() + 1,
        state: { kind: 'probe', paused: false },
        recentActive: true,
        ackedSeq: 0,
      });
    }
    for (const id of progress.keys()) if (!this.#voters.includes(id)) progress.delete(id);
  }

  // ---- inputs ----

  tick(): void {
    this.#ticks++;
    const role = this.#role;
    if (role.kind === 'leader') {
      this.#electionElapsed++;
      if (role.transfer && ++role.transfer.elapsed >= this.#electionTicks) role.transfer = null;
      if (this.#electionElapsed >= this.#electionTicks) {
        this.#electionElapsed = 0;
        if (!this.#checkQuorum()) {
          this.#become('follower', this.#term);
          return;
        }
      }
      if (++role.heartbeatElapsed >= this.#heartbeatTicks) {
        role.heartbeatElapsed = 0;
        this.#broadcastHeartbeat();
      }
      return;
    }
    this.#electionElapsed++;
    // A non-voter never campaigns; its elapsed time keeps growing, so its
    // leader lease lapses and it can vote for a leader of a config it has
    // not heard of yet.
    if (this.#isVoter(this.id) && this.#electionElapsed >= this.#electionTimeout) {
      this.#electionElapsed = 0;
      this.#campaign('pre-candidate', false);
    }
  }

  /** Check-quorum (thesis §6.2): a leader that has not heard from a majority steps down. */
  #checkQuorum(): boolean {
    if (this.#role.kind !== 'leader') return false;
    let active = this.#isVoter(this.id) ? 1 : 0;
    for (const [id, pr] of this.#role.progress) {
      if (id !== this.id && pr.recentActive) active++;
      pr.recentActive = false;
    }
    return active >= this.#quorum();
  }

  #campaign(kind: 'pre-candidate' | 'candidate', transfer: boolean): void {
    if (kind === 'pre-candidate') this.#become('pre-candidate', this.#term);
    else this.#become('candidate', this.#term + 1);
    if (this.#hasQuorumOfVotes()) {
      this.#onElectionWon();
      return;
    }
    const term = kind === 'pre-candidate' ? this.#term + 1 : this.#term;
    for (const to of this.#voters) {
      if (to === this.id) continue;
      const base = {
        from: this.id,
        to,
        term,
        lastLogIndex: this.#lastIndex(),
        lastLogTerm: this.#lastTerm(),
      };
      if (kind === 'pre-candidate') this.#send({ type: 'pre-vote', ...base } satisfies PreVote);
      else this.#send({ type: 'request-vote', ...base, transfer } satisfies RequestVote);
    }
  }

  #hasQuorumOfVotes(): boolean {
    const role = this.#role;
    if (role.kind !== 'pre-candidate' && role.kind !== 'candidate') return false;
    let granted = 0;
    for (const [id, g] of role.votes) if (g && this.#voters.includes(id)) granted++;
    return granted >= this.#quorum();
  }

  #hasQuorumOfRejections(): boolean {
    const role = this.#role;
    if (role.kind !== 'pre-candidate' && role.kind !== 'candidate') return false;
    let rejected = 0;
    for (const [id, g] of role.votes) if (!g && this.#voters.includes(id)) rejected++;
    return rejected >= this.#quorum();
  }

  #onElectionWon(): void {
    if (this.#role.kind === 'pre-candidate') this.#campaign('candidate', false);
    else if (this.#role.kind === 'candidate') this.#become('leader', this.#term);
  }

  /** Leader lease from check-quorum: a follower that heard from a leader recently ignores campaigns. */
  #inLease(): boolean {
    return this.leader !== NO_NODE && this.#electionElapsed < this.#electionTicks;
  }

  step(m: Message): void {
    assert(m.to === this.id, `message for ${m.to} delivered to ${this.id}`);
    if (m.term > this.#term) {
      if (m.type === 'pre-vote' || m.type === 'request-vote') {
        if (!(m.type === 'request-vote' && m.transfer) && this.#inLease()) return;
      }
      if (m.type === 'pre-vote') {
        // A pre-vote never changes the receiver's term.
      } else if (m.type === 'pre-vote-response' && m.granted) {
        // Granted pre-votes carry the term the sender would campaign in.
      } else {
        const fromLeader =
          m.type === 'append-entries' || m.type === 'install-snapshot' || m.type === 'timeout-now';
        this.#become('follower', m.term, fromLeader ? m.from : NO_NODE);
      }
    } else if (m.term < this.#term) {
      if (m.type === 'append-entries' || m.type === 'install-snapshot') {
        // Tell a stale leader about the newer term so it steps down.
        this.#respondAppend(m.from, false, 0, 0, 0, 0, m.seq);
      } else if (m.type === 'pre-vote') {
        this.#send({
          type: 'pre-vote-response',
          from: this.id,
          to: m.from,
          term: this.#term,
          granted: false,
        });
      }
      return;
    }

    switch (m.type) {
      case 'pre-vote': {
        const grant = m.term > this.#term && this.#logUpToDate(m.lastLogIndex, m.lastLogTerm);
        this.#send({
          type: 'pre-vote-response',
          from: this.id,
          to: m.from,
          term: grant ? m.term : this.#term,
          granted: grant,
        });
        return;
      }
      case 'request-vote': {
        const canVote =
          this.#vote === m.from || (this.#vote === NO_NODE && this.leader === NO_NODE) || m.transfer;
        const votedOther = this.#vote !== NO_NODE && this.#vote !== m.from;
        const grant = canVote && !votedOther && this.#logUpToDate(m.lastLogIndex, m.lastLogTerm);
        if (grant) {
          assert(this.#vote === NO_NODE || this.#vote === m.from, 'double vote');
          this.#vote = m.from;
          this.#electionElapsed = 0;
        }
        this.#send({
          type: 'request-vote-response',
          from: this.id,
          to: m.from,
          term: this.#term,
          granted: grant,
        });
        return;
      }
      case 'pre-vote-response':
      case 'request-vote-response': {
        const role = this.#role;
        const wanted = m.type === 'pre-vote-response' ? 'pre-candidate' : 'candidate';
        if (role.kind !== wanted) return;
        if (m.type === 'pre-vote-response' && m.granted && m.term !== this.#term + 1) return;
        role.votes.set(m.from, m.granted);
        if (this.#hasQuorumOfVotes()) this.#onElectionWon();
        else if (this.#hasQuorumOfRejections()) this.#become('follower', this.#term);
        return;
      }
      case 'append-entries':
        this.#handleAppend(m);
        return;
      case 'install-snapshot':
        this.#handleSnapshot(m);
        return;
      case 'append-entries-response':
        this.#handleAppendResponse(m);
        return;
      case 'timeout-now':
        if (this.#role.kind === 'leader' || !this.#isVoter(this.id)) return;
        this.#campaign('candidate', true);
        return;
    }
  }

  #logUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const myTerm = this.#lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.#lastIndex());
  }

  #followLeader(from: NodeId): void {
    if (this.#role.kind === 'leader') {
      assert(false, `two leaders in term ${this.#term}: ${this.id} and ${from}`);
    }
    if (this.#role.kind !== 'follower' || this.#role.leader !== from) {
      this.#become('follower', this.#term, from);
    }
    this.#electionElapsed = 0;
  }

  #handleAppend(m: AppendEntries): void {
    this.#followLeader(m.from);
    if (m.prevLogIndex < this.#commit) {
      // Everything up to commit is known to match; let the leader continue from there.
      this.#respondAppend(m.from, true, this.#commit, 0, 0, 0, m.seq);
      return;
    }
    const prevTerm = this.#termAt(m.prevLogIndex);
    if (prevTerm === undefined) {
      this.#respondAppend(m.from, false, 0, m.prevLogIndex, 0, this.#lastIndex() + 1, m.seq);
      return;
    }
    if (prevTerm !== m.prevLogTerm) {
      // Fast backtracking: report the first index of the conflicting term.
      let first = m.prevLogIndex;
      while (first - 1 > this.#commit && this.#termAt(first - 1) === prevTerm) first--;
      this.#respondAppend(m.from, false, 0, m.prevLogIndex, prevTerm, first, m.seq);
      return;
    }
    let i = 0;
    for (; i < m.entries.length; i++) {
      const e = m.entries[i] as LogEntry;
      const t = this.#termAt(e.index);
      if (t === undefined) break;
      if (t !== e.term) {
        this.#truncateLocal(e.index);
        break;
      }
    }
    if (i < m.entries.length) this.#appendLocal(m.entries.slice(i));
    const lastNew = m.prevLogIndex + m.entries.length;
    this.#setCommit(Math.min(m.leaderCommit, lastNew));
    this.#respondAppend(m.from, true, lastNew, 0, 0, 0, m.seq);
  }

  #handleSnapshot(m: InstallSnapshot): void {
    this.#followLeader(m.from);
    const { meta } = m.snapshot;
    if (meta.index <= this.#commit) {
      this.#respondAppend(m.from, true, this.#commit, 0, 0, 0, m.seq);
      return;
    }
    if (this.#termAt(meta.index) === meta.term) {
      // The log already holds the snapshot's last entry: keep it, just commit.
      this.#setCommit(meta.index);
      this.#respondAppend(m.from, true, meta.index, 0, 0, 0, m.seq);
      return;
    }
    this.#snapshot = m.snapshot;
    this.#log = [];
    this.#voters = [...meta.voters];
    this.#commit = meta.index;
    this.#applied = meta.index;
    this.#snapshotToRestore = m.snapshot;
    this.#persist.push({ kind: 'snapshot', snapshot: m.snapshot });
    this.#respondAppend(m.from, true, meta.index, 0, 0, 0, m.seq);
  }

  #respondAppend(
    to: NodeId,
    success: boolean,
    matchIndex: Index,
    rejectedIndex: Index,
    conflictTerm: Term,
    conflictIndex: Index,
    seq: number,
  ): void {
    this.#send({
      type: 'append-entries-response',
      from: this.id,
      to,
      term: this.#term,
      success,
      matchIndex,
      rejectedIndex,
      conflictTerm,
      conflictIndex,
      seq,
    });
  }

  #handleAppendResponse(m: AppendEntriesResponse): void {
    const role = this.#role;
    if (role.kind !== 'leader') return;
    const pr = role.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.seq > pr.ackedSeq) {
      pr.ackedSeq = m.seq;
      this.#releaseReads();
    }
    if (m.success) {
      if (m.matchIndex > pr.match) pr.match = m.matchIndex;
      if (pr.next <= pr.match) pr.next = pr.match + 1;
      const st = pr.state;
      if (st.kind === 'replicate') {
        while (st.inflight.length > 0 && (st.inflight[0] as Index) <= pr.match) st.inflight.shift();
      } else {
        pr.state = { kind: 'replicate', inflight: [] };
        pr.next = pr.match + 1;
      }
      this.#maybeCommit();
      if (this.#role.kind !== 'leader') return;
      const transfer = this.#role.transfer;
      if (transfer && transfer.target === m.from && pr.match === this.#lastIndex()) {
        this.#send({ type: 'timeout-now', from: this.id, to: m.from, term: this.#term });
      }
      this.#sendAppends(m.from, pr, false);
      return;
    }
    // Rejection. Ignore stale ones (for an index we already know matches, or an old probe).
    if (m.rejectedIndex === 0 || m.rejectedIndex <= pr.match) return;
    if (pr.state.kind === 'probe' && m.rejectedIndex !== pr.next - 1) return;
    if (pr.state.kind === 'snapshot') return;
    let next = m.conflictIndex;
    if (m.conflictTerm > 0) {
      for (let i = Math.min(m.rejectedIndex, this.#lastIndex()); i > this.#snapshot.meta.index; i--) {
        const t = this.#termAt(i) as Term;
        if (t === m.conflictTerm) {
          next = i + 1;
          break;
        }
        if (t < m.conflictTerm) break;
      }
    }
    pr.next = Math.max(pr.match + 1, Math.min(next, m.rejectedIndex));
    pr.state = { kind: 'probe', paused: false };
    this.#sendAppends(m.from, pr, true);
  }

  /** Commit the highest index a majority holds, if it is from the current term (§5.4.2). */
  #maybeCommit(): void {
    const role = this.#role;
    if (role.kind !== 'leader') return;
    const matches: Index[] = [];
    for (const id of this.#voters) {
      if (id === this.id) matches.push(this.#lastIndex());
      else matches.push(role.progress.get(id)?.match ?? 0);
    }
    matches.sort((a, b) => b - a);
    const candidate = matches[this.#quorum() - 1] ?? 0;
    if (candidate <= this.#commit) return;
    if (this.#termAt(candidate) !== this.#term) return;
    this.#setCommit(candidate);
    this.#appendsDirty = true;
    if (this.#commit >= role.termStart && role.readsAwaitingCommit.length > 0) {
      const ctxs = role.readsAwaitingCommit;
      role.readsAwaitingCommit = [];
      for (const ctx of ctxs) this.#startRead(ctx);
    }
    // A leader removed from the config steps down once the removal is committed.
    if (!this.#isVoter(this.id) && this.#configCommitted()) this.#become('follower', this.#term);
  }

  #configCommitted(): boolean {
    for (let i = this.#commit + 1; i <= this.#lastIndex(); i++) {
      if (this.entryAt(i)?.type === 'config') return false;
    }
    return true;
  }

  /** Sends what `pr` allows: one probe, or appends up to the inflight window. */
  #sendAppends(to: NodeId, pr: Progress, force: boolean): void {
    const role = this.#role;
    if (role.kind !== 'leader') return;
    for (;;) {
      const st = pr.state;
      if (st.kind === 'snapshot') return;
      if (st.kind === 'probe' && st.paused) return;
      if (st.kind === 'replicate' && st.inflight.length >= this.#inflightAppendsMax) return;
      const prev = pr.next - 1;
      const prevTerm = this.#termAt(prev);
      if (prevTerm === undefined) {
        this.#sendSnapshot(to, pr);
        return;
      }
      const hi = Math.min(this.#lastIndex(), prev + this.#entriesPerAppendMax);
      const entries = hi > prev ? this.#entries(prev + 1, hi + 1) : [];
      if (entries.length === 0 && !force) return;
      this.#send({
        type: 'append-entries',
        from: this.id,
        to,
        term: this.#term,
        prevLogIndex: prev,
        prevLogTerm: prevTerm,
        entries,
        leaderCommit: this.#commit,
        seq: role.seq,
      } satisfies AppendEntries);
      if (st.kind === 'probe') {
        st.paused = true;
        return;
      }
      if (entries.length === 0) return;
      pr.next = hi + 1;
      st.inflight.push(hi);
      force = false;
    }
  }

  #sendSnapshot(to: NodeId, pr: Progress): void {
    const role = this.#role;
    if (role.kind !== 'leader') return;
    pr.state = { kind: 'snapshot', index: this.#snapshot.meta.index, sentTick: this.#ticks };
    this.#send({
      type: 'install-snapshot',
      from: this.id,
      to,
      term: this.#term,
      snapshot: this.#snapshot,
      seq: role.seq,
    });
  }

  #entries(lo: Index, hi: Index): LogEntry[] {
    const base = this.#snapshot.meta.index;
    return this.#log.slice(lo - base - 1, hi - base - 1);
  }

  #broadcastHeartbeat(): void {
    const role = this.#role;
    if (role.kind !== 'leader') return;
    role.seq++;
    for (const [id, pr] of role.progress) {
      const st = pr.state;
      if (st.kind === 'snapshot') {
        if (this.#ticks - st.sentTick < this.#electionTicks) continue;
        pr.state = { kind: 'probe', paused: false };
      } else if (st.kind === 'probe') {
        st.paused = false;
      } else {
        // Replicate: an empty append at next - 1 both heartbeats and detects lost appends.
        const prevTerm = this.#termAt(pr.next - 1);
        if (prevTerm === undefined) {
          this.#sendSnapshot(id, pr);
          continue;
        }
        this.#send({
          type: 'append-entries',
          from: this.id,
          to: id,
          term: this.#term,
          prevLogIndex: pr.next - 1,
          prevLogTerm: prevTerm,
          entries: [],
          leaderCommit: this.#commit,
          seq: role.seq,
        });
        continue;
      }
      this.#sendAppends(id, pr, true);
    }
    this.#releaseReads();
  }

  #send(m: Message): void {
    this.#messages.push(m);
  }

  // ---- client API ----

  propose(data: Uint8Array): ProposeResult {
    const role = this.#role;
    if (role.kind !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    if (role.transfer) return { ok: false, reason: 'transferring', leader: this.id };
    if (this.#lastIndex() - this.#commit >= this.#uncommittedEntriesMax) {
      return { ok: false, reason: 'overloaded', leader: this.id };
    }
    const entry: LogEntry = { type: 'command', index: this.#lastIndex() + 1, term: this.#term, data };
    this.#appendLocal([entry]);
    this.#appendsDirty = true;
    this.#maybeCommit();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Single-server membership change (thesis §4.1): add or remove one voter.
   * Refused while an earlier change is uncommitted or before this leader has
   * committed an entry of its own term (the fix to the thesis bug).
   */
  proposeConfigChange(change: { add: NodeId } | { remove: NodeId }): ProposeResult {
    const role = this.#role;
    if (role.kind !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    if (role.transfer) return { ok: false, reason: 'transferring', leader: this.id };
    if (this.#commit < role.termStart || !this.#configCommitted()) {
      return { ok: false, reason: 'config-change-pending', leader: this.id };
    }
    let voters: NodeId[];
    if ('add' in change) {
      if (this.#voters.includes(change.add)) return { ok: true, index: this.#commit, term: this.#term };
      voters = [...this.#voters, change.add].sort((a, b) => a - b);
    } else {
      if (!this.#voters.includes(change.remove)) return { ok: true, index: this.#commit, term: this.#term };
      voters = this.#voters.filter((id) => id !== change.remove);
      assert(voters.length > 0, 'cannot remove the last voter');
    }
    const entry: LogEntry = { type: 'config', index: this.#lastIndex() + 1, term: this.#term, voters };
    this.#appendLocal([entry]);
    this.#syncProgress();
    this.#appendsDirty = true;
    this.#maybeCommit();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Leader transfer (thesis §3.10): catch the target up, then send TimeoutNow. */
  transferLeadership(target: NodeId): boolean {
    const role = this.#role;
    if (role.kind !== 'leader' || target === this.id) return false;
    const pr = role.progress.get(target);
    if (!pr) return false;
    role.transfer = { target, elapsed: 0 };
    if (pr.match === this.#lastIndex()) {
      this.#send({ type: 'timeout-now', from: this.id, to: target, term: this.#term });
    } else {
      this.#sendAppends(target, pr, true);
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
    const role = this.#role;
    if (role.kind !== 'leader') return false;
    if (role.reads.length + role.readsAwaitingCommit.length >= this.#readsPendingMax) return false;
    if (this.#commit < role.termStart) {
      role.readsAwaitingCommit.push(ctx);
      return true;
    }
    this.#startRead(ctx);
    return true;
  }

  #startRead(ctx: unknown): void {
    const role = this.#role;
    if (role.kind !== 'leader') return;
    role.reads.push({ ctx, index: this.#commit, seq: role.seq + 1 });
    this.#broadcastHeartbeat();
  }

  #releaseReads(): void {
    const role = this.#role;
    if (role.kind !== 'leader') return;
    while (role.reads.length > 0) {
      const read = role.reads[0] as PendingRead;
      let acks = this.#isVoter(this.id) ? 1 : 0;
      for (const [id, pr] of role.progress) if (id !== this.id && pr.ackedSeq >= read.seq) acks++;
      if (acks < this.#quorum()) return;
      role.reads.shift();
      this.#readStates.push({ ctx: read.ctx, index: read.index });
    }
  }

  /**
   * Log compaction: the application has applied through `index` and hands
   * over its state-machine image. Entries up to `index` are dropped.
   */
  compact(index: Index, data: Uint8Array): void {
    assert(index <= this.#applied, `compact(${index}) beyond applied ${this.#applied}`);
    if (index <= this.#snapshot.meta.index) return;
    const term = this.#termAt(index) as Term;
    const snapshot: Snapshot = { meta: { index, term, voters: this.#configAt(index) }, data };
    this.#log = this.#log.slice(index - this.#snapshot.meta.index);
    this.#snapshot = snapshot;
    this.#persist.push({ kind: 'snapshot', snapshot });
  }

  /** True when `ready()` has something for the driver. */
  hasReady(): boolean {
    return (
      this.#persist.length > 0 ||
      this.#messages.length > 0 ||
      this.#snapshotToRestore !== null ||
      this.#applied < this.#commit ||
      this.#readStates.length > 0 ||
      this.#appendsDirty ||
      this.#term !== this.#persisted.term ||
      this.#vote !== this.#persisted.vote
    );
  }

  ready(): Ready {
    if (this.#appendsDirty) {
      this.#appendsDirty = false;
      const role = this.#role;
      if (role.kind === 'leader') {
        for (const [id, pr] of role.progress) {
          // Probes and idle pipelines also learn the new commit index.
          const idle = pr.state.kind === 'replicate' && pr.state.inflight.length === 0;
          this.#sendAppends(id, pr, idle);
        }
      }
    }
    const persist = this.#persist;
    if (this.#term !== this.#persisted.term || this.#vote !== this.#persisted.vote) {
      const state = { term: this.#term, vote: this.#vote };
      persist.push({ kind: 'hard-state', state });
      this.#persisted = { term: this.#term, vote: this.#vote };
    }
    const hi = Math.min(this.#commit, this.#applied + this.#committedPerReadyMax);
    const committed = hi > this.#applied ? this.#entries(this.#applied + 1, hi + 1) : [];
    assert(hi <= this.#commit, 'applied beyond commit');
    this.#applied = Math.max(this.#applied, hi);
    const ready: Ready = {
      persist,
      messages: this.#messages,
      snapshot: this.#snapshotToRestore,
      committed,
      readStates: this.#readStates,
    };
    this.#persist = [];
    this.#messages = [];
    this.#snapshotToRestore = null;
    this.#readStates = [];
    return ready;
  }
}
