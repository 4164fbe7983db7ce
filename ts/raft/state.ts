/**
 * The state of one Raft node, shared by the modules that act on it
 * (`election.ts`, `replication.ts`, `read-index.ts`) and owned by `RaftNode`
 * (`node.ts`), which holds it in a private field: nothing outside `ts/raft/`
 * reaches it except through RaftNode's read-only views.
 *
 * Holds: the options, the durable state (term, vote, snapshot, log), the
 * volatile state (role, voters, commit, applied, timers) and the Ready
 * accumulators. Also the log helpers and `become()`, the one function that
 * assigns `role` (STYLE principle 7).
 *
 * Invariants asserted here (a violation is a bug, STYLE principle 4): the term
 * never decreases; commit never decreases; committed entries are never
 * truncated; a leader never truncates its own log; only a candidate becomes
 * leader and a leader never becomes a (pre-)candidate.
 */
import type { Random } from './clock.ts';
import type { PersistOp } from './log-store.ts';
import {
  assert,
  type HardState,
  type Index,
  type LogEntry,
  type Message,
  NO_NODE,
  type NodeId,
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

export interface PendingRead {
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

export class NodeState {
  readonly id: NodeId;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly random: Random;
  readonly entriesPerAppendMax: number;
  readonly inflightAppendsMax: number;
  readonly committedPerReadyMax: number;
  readonly uncommittedEntriesMax: number;
  readonly readsPendingMax: number;

  term: Term = 0;
  vote: NodeId = NO_NODE;
  role: Role = { kind: 'follower', leader: NO_NODE };
  /** Last snapshot (or the implicit one at index 0 holding the initial voters). */
  snapshot: Snapshot;
  /** log[i] has index snapshot.index + 1 + i. */
  log: LogEntry[] = [];
  voters: NodeId[];
  commit: Index;
  applied: Index;
  electionElapsed = 0;
  electionTimeout = 0;
  ticks = 0;

  // Ready accumulators.
  persist: PersistOp[] = [];
  messages: Message[] = [];
  snapshotToRestore: Snapshot | null = null;
  readStates: ReadState[] = [];
  persisted: HardState;
  /**
   * The last index of this node's log the driver reported durable
   * (`RaftNode.persisted`). A leader counts its own copy of an entry toward
   * commit only up to here, so it may send entries before writing them
   * (thesis §10.2.1) and commit with followers' copies while its own write
   * is still on the disk.
   */
  durable: Index = 0;
  appendsDirty = false;

  constructor(options: RaftOptions) {
    this.id = options.id;
    assert(options.id !== NO_NODE, 'node id 0 is reserved');
    assert(options.heartbeatTicks > 0 && options.electionTicks > options.heartbeatTicks, 'bad tick config');
    this.electionTicks = options.electionTicks;
    this.heartbeatTicks = options.heartbeatTicks;
    this.random = options.random;
    this.entriesPerAppendMax = options.entriesPerAppendMax ?? 64;
    this.inflightAppendsMax = options.inflightAppendsMax ?? 8;
    this.committedPerReadyMax = options.committedPerReadyMax ?? 256;
    this.uncommittedEntriesMax = options.uncommittedEntriesMax ?? 10_000;
    this.readsPendingMax = options.readsPendingMax ?? 4096;
    const r = options.restored;
    this.snapshot = r?.snapshot ?? {
      meta: { index: 0, term: 0, voters: [...options.initialVoters] },
      data: new Uint8Array(0),
    };
    if (r) {
      this.term = r.hardState.term;
      this.vote = r.hardState.vote;
      this.log = [...r.entries];
      let expected = this.snapshot.meta.index + 1;
      for (const e of this.log) {
        assert(e.index === expected++, 'restored log is not contiguous with its snapshot');
      }
    }
    this.persisted = { term: this.term, vote: this.vote };
    this.durable = this.lastIndex();
    this.commit = this.snapshot.meta.index;
    this.applied = this.snapshot.meta.index;
    this.voters = this.configAt(this.lastIndex());
    this.resetElectionTimeout();
  }

  /** The leader this node knows of in its term: itself, a follower's leader, or NO_NODE. */
  get leader(): NodeId {
    if (this.role.kind === 'leader') return this.id;
    return this.role.kind === 'follower' ? this.role.leader : NO_NODE;
  }

  // ---- log helpers ----

  lastIndex(): Index {
    return this.snapshot.meta.index + this.log.length;
  }
  lastTerm(): Term {
    return this.termAt(this.lastIndex()) as Term;
  }
  termAt(index: Index): Term | undefined {
    const base = this.snapshot.meta.index;
    if (index === base) return this.snapshot.meta.term;
    if (index < base) return undefined;
    return this.log[index - base - 1]?.term;
  }
  entryAt(index: Index): LogEntry | undefined {
    return this.log[index - this.snapshot.meta.index - 1];
  }
  /** Entries with index in [lo, hi). */
  entries(lo: Index, hi: Index): LogEntry[] {
    const base = this.snapshot.meta.index;
    return this.log.slice(lo - base - 1, hi - base - 1);
  }
  configAt(index: Index): NodeId[] {
    const base = this.snapshot.meta.index;
    for (let i = Math.min(index, this.lastIndex()); i > base; i--) {
      const e = this.log[i - base - 1];
      if (e?.type === 'config') return [...e.voters];
    }
    return [...this.snapshot.meta.voters];
  }
  /** True when no config entry lies above the commit index. */
  configCommitted(): boolean {
    for (let i = this.commit + 1; i <= this.lastIndex(); i++) {
      if (this.entryAt(i)?.type === 'config') return false;
    }
    return true;
  }
  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }
  quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  appendLocal(entries: LogEntry[]): void {
    if (entries.length === 0) return;
    const first = entries[0] as LogEntry;
    assert(first.index === this.lastIndex() + 1, 'append not contiguous');
    const prevTerm = this.lastTerm();
    for (const e of entries) {
      this.log.push(e);
      if (e.type === 'config') this.voters = [...e.voters];
    }
    this.persist.push({ kind: 'append', entries, prevTerm });
  }

  truncateLocal(from: Index): void {
    assert(from > this.commit, `truncating committed entry ${from} (commit ${this.commit})`);
    assert(this.role.kind !== 'leader', 'a leader never truncates its own log');
    this.log.length = from - this.snapshot.meta.index - 1;
    this.voters = this.configAt(this.lastIndex());
    this.durable = Math.min(this.durable, from - 1);
    this.persist.push({ kind: 'truncate', from });
  }

  setCommit(index: Index): void {
    if (index <= this.commit) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.commit = index;
  }

  send(m: Message): void {
    this.messages.push(m);
  }

  resetElectionTimeout(): void {
    this.electionTimeout = this.electionTicks + this.random.int(this.electionTicks);
  }

  // ---- role transitions: the one place `role` changes ----

  /**
   * Changes role (and term, clearing the vote when the term grows). Becoming
   * leader only installs the leader state; `becomeLeader()` in
   * `replication.ts` calls this and then does the new leader's first steps.
   */
  become(next: RoleKind, term: Term, leader: NodeId = NO_NODE): void {
    assert(term >= this.term, `term going backwards: ${this.term} -> ${term}`);
    if (term > this.term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.electionElapsed = 0;
    this.resetElectionTimeout();
    switch (next) {
      case 'follower':
        this.role = { kind: 'follower', leader };
        return;
      case 'pre-candidate':
        assert(this.role.kind !== 'leader', 'leader cannot become pre-candidate');
        this.role = { kind: 'pre-candidate', votes: new Map([[this.id, true]]) };
        return;
      case 'candidate':
        assert(this.role.kind !== 'leader', 'leader cannot become candidate');
        assert(this.vote === NO_NODE, 'candidate in a term it already voted in');
        this.vote = this.id;
        this.role = { kind: 'candidate', votes: new Map([[this.id, true]]) };
        return;
      case 'leader':
        assert(this.role.kind === 'candidate', 'only a candidate becomes leader');
        this.role = {
          kind: 'leader',
          progress: new Map<NodeId, Progress>(),
          seq: 0,
          reads: [],
          readsAwaitingCommit: [],
          transfer: null,
          termStart: this.lastIndex() + 1,
          heartbeatElapsed: 0,
        };
        return;
    }
  }
}
