/**
 * The driver of one Raft group on one node: owns the `RaftNode` (the pure
 * core in ts/raft/), its durable `LogStore`, a `StateMachine`, a timer that
 * turns wall time into ticks, and the Ready loop, in the order the core
 * documents:
 *
 *   1. persist: apply the Ready's ops to the store and start its sync (one
 *      fsynced KV batch); a vote, a term or an entry is durable before any
 *      message that depends on it leaves (a leader's appends do not depend
 *      on its own copy: see #drain);
 *   2. send the messages;
 *   3. restore a received snapshot, apply committed entries in order (and
 *      answer the proposers waiting on them), then serve confirmed reads;
 *   4. compact when `snapshotEntries` entries were applied since the last
 *      snapshot.
 *
 * The loop runs once per event-loop turn, so the inputs of one turn (ticks,
 * messages, proposals) share one Ready; syncs of successive Readies overlap
 * and the store's writer group-commits them (one fsync for all that queued
 * while the previous one was on the disk).
 *
 * API for the rest of the node: `propose` resolves with the state machine's
 * result once the entry is committed and applied here; `read` is
 * linearizable through read-index; both are local only and fail with
 * `FERRY_ERR_NOT_LEADER` (carrying the leader's id) on a follower. Forwarding
 * to the leader is the meta service's business (`service.ts`). Everything
 * waiting is bounded (`pendingMax`) and times out (`requestTimeoutMs`).
 *
 * A failed sync or an assertion inside the core stops the group (its memory
 * is then ahead of its disk): every waiter is rejected and the group stays
 * down until the node restarts.
 */
import { randomInt } from 'node:crypto';
import { FerryError } from '../errors.ts';
import { type Clock, type Random, SeededRandom, systemClock, Ticker } from '../raft/clock.ts';
import { applyPersist, type LogStore } from '../raft/log-store.ts';
import { RaftNode } from '../raft/node.ts';
import type { Index, LogEntry, Message, NodeId, RoleKind, Term } from '../raft/types.ts';
import type { StateMachine } from './state-machine.ts';

export interface GroupTransport {
  send(group: number, messages: readonly Message[]): void;
}

export interface RaftGroupOptions {
  nodeId: NodeId;
  groupId: number;
  name: string;
  store: LogStore;
  stateMachine: StateMachine;
  transport: GroupTransport;
  /** Voters of a brand-new cluster; [] for a node that joins an existing one. */
  initialVoters: readonly NodeId[];
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Take a snapshot and compact the log after this many applied entries. */
  snapshotEntries: number;
  requestTimeoutMs: number;
  /** Proposals plus reads waiting at once; more get FERRY_ERR_OVERLOADED. */
  pendingMax: number;
  clock?: Clock;
  random?: Random;
  /** Called when the group stops on a disk error or a core assertion. */
  onFailure?: (err: unknown) => void;
}

export class NotLeaderError extends FerryError {
  readonly leader: NodeId;
  constructor(group: string, leader: NodeId) {
    super(
      'FERRY_ERR_NOT_LEADER',
      leader === 0 ? `raft group ${group}: no leader known` : `raft group ${group}: node ${leader} leads`,
    );
    this.leader = leader;
  }
}

export interface GroupStatus {
  group: number;
  name: string;
  role: RoleKind | 'failed' | 'stopped';
  leader: NodeId;
  term: Term;
  commitIndex: Index;
  appliedIndex: Index;
  lastIndex: Index;
  snapshotIndex: Index;
  /** Snapshots received from a leader and restored (catch-up of a lagging follower). */
  snapshotsInstalled: number;
  voters: readonly NodeId[];
}

/**
 * One interval timer per tick length for every group of the process: all
 * groups tick in the same callback, so their heartbeats (and the answers to
 * them) leave in one batch per peer instead of one call per group (the
 * transport flushes once per event-loop turn). Each group still counts its
 * own ticks from the clock (`Ticker`), so sharing changes no timing.
 */
class SharedTimer {
  static readonly #byTick = new Map<number, SharedTimer>();
  readonly #tickMs: number;
  readonly #timer: NodeJS.Timeout;
  readonly #callbacks = new Set<() => void>();

  private constructor(tickMs: number) {
    this.#tickMs = tickMs;
    this.#timer = setInterval(() => {
      for (const cb of this.#callbacks) cb();
    }, tickMs);
    this.#timer.unref();
  }

  static add(tickMs: number, cb: () => void): () => void {
    let t = SharedTimer.#byTick.get(tickMs);
    if (!t) {
      t = new SharedTimer(tickMs);
      SharedTimer.#byTick.set(tickMs, t);
    }
    const timer = t;
    timer.#callbacks.add(cb);
    return () => {
      timer.#callbacks.delete(cb);
      if (timer.#callbacks.size === 0 && SharedTimer.#byTick.get(timer.#tickMs) === timer) {
        clearInterval(timer.#timer);
        SharedTimer.#byTick.delete(timer.#tickMs);
      }
    };
  }
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

interface PendingProposal extends Waiter<Uint8Array> {
  term: Term;
}

interface PendingRead extends Waiter<Uint8Array> {
  query: Uint8Array;
}

export class RaftGroup {
  readonly groupId: number;
  readonly name: string;
  readonly #opts: RaftGroupOptions;
  readonly #node: RaftNode;
  readonly #store: LogStore;
  readonly #sm: StateMachine;
  readonly #ticker: Ticker;
  readonly #stopTimer: () => void;
  readonly #proposals = new Map<Index, PendingProposal>();
  readonly #reads = new Map<number, PendingRead>();
  /** Confirmed reads waiting for the state machine to reach their index. */
  #readsToServe: { id: number; index: Index }[] = [];
  #nextReadId = 1;
  #applied: Index;
  #snapshotIndex: Index;
  #kickQueued = false;
  /** Syncs handed to the store and not resolved yet, and the newest of them. */
  #syncsInFlight = 0;
  #lastSync: Promise<void> = Promise.resolve();
  #state: 'running' | 'failed' | 'stopped' = 'running';
  #wasLeader = false;
  #snapshotsInstalled = 0;
  /** The state machine's image at `index`, waiting for the followers before the log is compacted to it. */
  #heldSnapshot: { index: Index; data: Uint8Array } | undefined;

  constructor(opts: RaftGroupOptions) {
    this.#opts = opts;
    this.groupId = opts.groupId;
    this.name = opts.name;
    this.#store = opts.store;
    this.#sm = opts.stateMachine;
    const snapshot = opts.store.snapshot();
    if (snapshot) opts.stateMachine.restore(snapshot.data);
    this.#applied = snapshot?.meta.index ?? 0;
    this.#snapshotIndex = this.#applied;
    this.#node = new RaftNode({
      id: opts.nodeId,
      electionTicks: opts.electionTicks,
      heartbeatTicks: opts.heartbeatTicks,
      random: opts.random ?? new SeededRandom(randomInt(2 ** 31)),
      initialVoters: opts.initialVoters,
      restored: {
        hardState: opts.store.hardState(),
        snapshot,
        entries: opts.store.entries(opts.store.firstIndex(), opts.store.lastIndex() + 1),
      },
      // The driver applies what it gets at once; larger Readies and appends
      // mean fewer fsyncs and RPCs per committed entry under load.
      committedPerReadyMax: 1024,
      entriesPerAppendMax: 256,
      readsPendingMax: opts.pendingMax,
    });
    this.#ticker = new Ticker(opts.clock ?? systemClock, opts.tickMs);
    this.#stopTimer = SharedTimer.add(opts.tickMs, () => this.#onTimer());
  }

  // ---- inputs ----

  /** A message from a peer, already checked by the transport to be for this node and group. */
  step(m: Message): void {
    if (this.#state !== 'running') return;
    this.#guard(() => this.#node.step(m));
  }

  propose(command: Uint8Array): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const refused = this.#refuseNew();
      if (refused) return reject(refused);
      const r = this.#node.propose(command);
      if (!r.ok) {
        if (r.reason === 'not-leader' || r.reason === 'transferring') {
          return reject(new NotLeaderError(this.name, r.reason === 'transferring' ? 0 : r.leader));
        }
        return reject(new FerryError('FERRY_ERR_OVERLOADED', `raft group ${this.name}: ${r.reason}`));
      }
      this.#track(r.index, r.term, resolve, reject, 'proposal');
      this.#kick();
    });
  }

  /** Linearizable read: confirmed by a read-index round, answered once that index is applied. */
  read(query: Uint8Array): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const refused = this.#refuseNew();
      if (refused) return reject(refused);
      if (this.#node.role !== 'leader') return reject(new NotLeaderError(this.name, this.#node.leader));
      const id = this.#nextReadId++;
      if (!this.#node.readIndex(id)) {
        return reject(
          new FerryError('FERRY_ERR_OVERLOADED', `raft group ${this.name}: too many reads pending`),
        );
      }
      this.#reads.set(id, {
        query,
        resolve,
        reject,
        timer: this.#timeout(() => this.#reads.delete(id), reject, 'read'),
      });
      this.#kick();
    });
  }

  /**
   * Adds or removes one voter (single-server change). Resolves once the
   * config entry is committed and applied here; an add of a voter already
   * present, or a remove of one absent, resolves at once.
   */
  changeMembers(change: { add: NodeId } | { remove: NodeId }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const refused = this.#refuseNew();
      if (refused) return reject(refused);
      if ('remove' in change && this.#node.voters.length === 1 && this.#node.voters[0] === change.remove) {
        return reject(new FerryError('FERRY_ERR_CLUSTER_CHANGE', 'cannot remove the last voter'));
      }
      const r = this.#node.proposeConfigChange(change);
      if (!r.ok) {
        if (r.reason === 'not-leader') return reject(new NotLeaderError(this.name, r.leader));
        return reject(new FerryError('FERRY_ERR_CLUSTER_CHANGE', `raft group ${this.name}: ${r.reason}`));
      }
      if (r.index <= this.#applied) return resolve();
      this.#track(r.index, r.term, () => resolve(), reject, 'membership change');
      this.#kick();
    });
  }

  transferLeadership(target: NodeId): boolean {
    if (this.#state !== 'running') return false;
    const ok = this.#node.transferLeadership(target);
    this.#kick();
    return ok;
  }

  status(): GroupStatus {
    const n = this.#node;
    return {
      group: this.groupId,
      name: this.name,
      role: this.#state === 'running' ? n.role : this.#state,
      leader: n.leader,
      term: n.term,
      commitIndex: n.commitIndex,
      appliedIndex: this.#applied,
      lastIndex: n.lastIndex,
      snapshotIndex: this.#snapshotIndex,
      snapshotsInstalled: this.#snapshotsInstalled,
      voters: n.voters,
    };
  }

  get leader(): NodeId {
    return this.#node.leader;
  }

  /** Proposals and reads waiting for an answer. */
  get pending(): number {
    return this.#proposals.size + this.#reads.size;
  }

  get isLeader(): boolean {
    return this.#state === 'running' && this.#node.role === 'leader';
  }

  /** Stops ticking and fails every waiter; the store is left as synced. */
  stop(): void {
    if (this.#state === 'running') this.#state = 'stopped';
    this.#stopTimer();
    this.#rejectAll(new FerryError('FERRY_ERR_CLOSED', `raft group ${this.name} stopped`));
  }

  // ---- the loop ----

  #onTimer(): void {
    if (this.#state !== 'running') return;
    const n = this.#ticker.due();
    if (n === 0) return;
    this.#guard(() => {
      for (let i = 0; i < n; i++) this.#node.tick();
    });
  }

  #refuseNew(): FerryError | undefined {
    if (this.#state !== 'running') {
      return new FerryError('FERRY_ERR_CLOSED', `raft group ${this.name} is ${this.#state}`);
    }
    if (this.#proposals.size + this.#reads.size >= this.#opts.pendingMax) {
      return new FerryError(
        'FERRY_ERR_OVERLOADED',
        `raft group ${this.name}: ${this.#opts.pendingMax} requests pending`,
      );
    }
    return undefined;
  }

  /**
   * Waits for the entry at `index` of `term`. A proposal still waiting at
   * that index belonged to an earlier leadership whose entry was truncated
   * (the index is being reused): it is answered as dropped.
   */
  #track(
    index: Index,
    term: Term,
    resolve: (result: Uint8Array) => void,
    reject: (err: unknown) => void,
    what: string,
  ): void {
    const stale = this.#proposals.get(index);
    if (stale) {
      clearTimeout(stale.timer);
      stale.reject(
        new FerryError(
          'FERRY_ERR_RAFT_DROPPED',
          `raft group ${this.name}: entry ${index} of term ${stale.term} was replaced by term ${term}`,
        ),
      );
    }
    const p: PendingProposal = {
      term,
      resolve,
      reject,
      timer: this.#timeout(
        () => {
          if (this.#proposals.get(index) === p) this.#proposals.delete(index);
        },
        reject,
        what,
      ),
    };
    this.#proposals.set(index, p);
  }

  #timeout(forget: () => void, reject: (err: unknown) => void, what: string): NodeJS.Timeout {
    const t = setTimeout(() => {
      forget();
      reject(
        new FerryError(
          'FERRY_ERR_RAFT_TIMEOUT',
          `raft group ${this.name}: ${what} not done within ${this.#opts.requestTimeoutMs} ms`,
        ),
      );
    }, this.#opts.requestTimeoutMs);
    t.unref();
    return t;
  }

  /** Runs a core input; an assertion failure there is a bug and stops the group. */
  #guard(input: () => void): void {
    try {
      input();
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#afterRoleChange();
    this.#kick();
  }

  /**
   * Runs the Ready loop once per event-loop turn (setImmediate), so every
   * input of one turn (the proposals of many requests, the answers in one
   * received batch, the ticks) goes into one Ready: one append per
   * follower, one write.
   */
  #kick(): void {
    if (this.#kickQueued || this.#state !== 'running') return;
    this.#kickQueued = true;
    setImmediate(() => {
      this.#kickQueued = false;
      if (this.#state !== 'running') return;
      try {
        this.#drain();
      } catch (err) {
        this.#fail(err);
      }
    });
  }

  /**
   * Hands out Readies until the core has nothing more, without waiting for
   * their syncs: each Ready's writes go to the store at once and its sync
   * runs while the next Readies are made (the store's writer keeps them in
   * order and group-commits them). What may not wait for the disk does not:
   *
   * - A leader's AppendEntries leave at once (unless the Ready changes term
   *   or vote: no message may carry a term not yet on disk). A leader may
   *   send entries before they are on its own disk (Ongaro's thesis
   *   §10.2.1); the core counts its own copy toward commit only once
   *   `persisted()` reports it durable.
   * - Committed entries are applied at once: the core commits only what a
   *   majority holds durably, whether or not this node's copy is written yet.
   *
   * Every other message (votes, append answers) promises what is on disk: it
   * leaves once this Ready's sync, and every sync before it, resolved.
   * Then `persisted()` tells the core how far its log is durable.
   */
  #drain(): void {
    while (this.#state === 'running' && this.#node.hasReady()) {
      const rd = this.#node.ready();
      let held = rd.messages;
      if (rd.persist.length > 0) {
        if (!rd.persist.some((op) => op.kind === 'hard-state') && held.length > 0) {
          const early: Message[] = [];
          held = [];
          for (const m of rd.messages) (m.type === 'append-entries' ? early : held).push(m);
          if (early.length > 0) this.#opts.transport.send(this.groupId, early);
        }
        applyPersist(this.#store, rd.persist);
        const last = this.#store.lastIndex();
        const term = this.#store.term(last) as Term;
        const after = held;
        this.#syncsInFlight++;
        const sync = Promise.resolve(this.#store.sync()).then(
          () => {
            this.#syncsInFlight--;
            if (this.#state !== 'running') return;
            if (after.length > 0) this.#opts.transport.send(this.groupId, after);
            this.#guard(() => this.#node.persisted(last, term));
          },
          (err: unknown) => {
            this.#syncsInFlight--;
            this.#fail(err);
          },
        );
        this.#lastSync = sync;
      } else if (held.length > 0) {
        // No writes of its own, but an answer may cover entries of an
        // earlier Ready still on the disk: it waits for that sync.
        if (this.#syncsInFlight === 0) this.#opts.transport.send(this.groupId, held);
        else {
          const after = held;
          this.#lastSync.then(() => {
            if (this.#state === 'running') this.#opts.transport.send(this.groupId, after);
          });
        }
      }
      if (rd.snapshot) {
        this.#sm.restore(rd.snapshot.data);
        this.#applied = rd.snapshot.meta.index;
        this.#snapshotIndex = rd.snapshot.meta.index;
        this.#snapshotsInstalled++;
        this.#heldSnapshot = undefined;
      }
      for (const e of rd.committed) this.#apply(e);
      for (const rs of rd.readStates) this.#readsToServe.push({ id: rs.ctx as number, index: rs.index });
      this.#serveReads();
      this.#afterRoleChange();
      this.#maybeCompact();
    }
  }

  /**
   * Every `snapshotEntries` applied entries the state machine's image is
   * taken, but a leader compacts its log up to it only once every follower
   * holds that index (or after `snapshotEntries` more, so a follower that is
   * down bounds the log at twice that). Compacting at once dropped entries
   * that a follower merely a few hundred entries behind (the usual state of
   * the slower follower under load) still needed: its next append found no
   * entry and it was sent the whole snapshot (megabytes, chunked, restored
   * on its event loop) instead, again at every compaction.
   */
  #maybeCompact(): void {
    const every = this.#opts.snapshotEntries;
    if (!this.#heldSnapshot && this.#applied - this.#snapshotIndex >= every) {
      this.#heldSnapshot = { index: this.#applied, data: this.#sm.snapshot() };
    }
    const held = this.#heldSnapshot;
    if (!held || (this.#applied - held.index < every && !this.#followersHave(held.index))) return;
    this.#node.compact(held.index, held.data);
    this.#snapshotIndex = held.index;
    this.#heldSnapshot = undefined;
  }

  /** True unless this node leads and a follower's log does not reach `index` yet. */
  #followersHave(index: Index): boolean {
    const role = this.#node.roleState;
    if (role.kind !== 'leader') return true;
    for (const pr of role.progress.values()) if (pr.match < index) return false;
    return true;
  }

  #apply(e: LogEntry): void {
    let result: Uint8Array = new Uint8Array(0);
    if (e.type === 'command') result = this.#sm.apply(e.index, e.data);
    this.#applied = e.index;
    const p = this.#proposals.get(e.index);
    if (!p) return;
    this.#proposals.delete(e.index);
    clearTimeout(p.timer);
    if (p.term === e.term) p.resolve(result);
    else {
      p.reject(
        new FerryError(
          'FERRY_ERR_RAFT_DROPPED',
          `raft group ${this.name}: entry ${e.index} of term ${p.term} was replaced by term ${e.term}`,
        ),
      );
    }
  }

  #serveReads(): void {
    if (this.#readsToServe.length === 0) return;
    const later: { id: number; index: Index }[] = [];
    for (const r of this.#readsToServe) {
      if (r.index > this.#applied) {
        later.push(r);
        continue;
      }
      const read = this.#reads.get(r.id);
      if (!read) continue;
      this.#reads.delete(r.id);
      clearTimeout(read.timer);
      try {
        read.resolve(this.#sm.query(read.query));
      } catch (err) {
        read.reject(err);
      }
    }
    this.#readsToServe = later;
  }

  /** Reads pending on a leader that stepped down will never be confirmed: fail them now. */
  #afterRoleChange(): void {
    const leader = this.#node.role === 'leader';
    if (this.#wasLeader && !leader) {
      const err = new NotLeaderError(this.name, this.#node.leader);
      for (const [id, r] of this.#reads) {
        this.#reads.delete(id);
        clearTimeout(r.timer);
        r.reject(err);
      }
      this.#readsToServe = [];
    }
    this.#wasLeader = leader;
  }

  #rejectAll(err: unknown): void {
    for (const p of this.#proposals.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    for (const r of this.#reads.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.#proposals.clear();
    this.#reads.clear();
    this.#readsToServe = [];
  }

  #fail(err: unknown): void {
    if (this.#state !== 'running') return;
    this.#state = 'failed';
    this.#stopTimer();
    this.#rejectAll(new FerryError('FERRY_ERR_CLOSED', `raft group ${this.name} failed`, { cause: err }));
    this.#opts.onFailure?.(err);
  }
}
