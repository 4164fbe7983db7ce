/**
 * Deterministic Raft simulator: N RaftNodes in one process over a seeded
 * virtual network, a key-value state machine, clients issuing puts and gets,
 * and faults as plain inputs. One seed reproduces one run exactly.
 *
 * One step = one tick of virtual time:
 *   1. faults: partitions (symmetric, one-way, split), heal, crashes
 *      (process crash keeps unsynced writes; machine crash loses them; a
 *      crash may also hit between a Ready's writes and its sync; a new
 *      leader may be doomed to crash within 4 steps), restarts,
 *      membership changes, leader transfers;
 *   2. clients invoke ops or time out;
 *   3. messages due at this time are delivered in random order (each send
 *      may be dropped, duplicated, or delayed 0..delayTicksMax, so reordered);
 *   4. every live node ticks.
 * Every Ready is handled as the meta driver does: a leader's AppendEntries
 * leave first (unless the Ready changes term or vote), then persist + sync
 * (a crash may hit here, after they left), `persisted()`, the other
 * messages, then apply. The Checker sees each append, apply and leader as
 * it happens; the KV history is checked for linearizability at the end.
 *
 * Parts: sim-options.ts (options, defaults, fault profiles by seed),
 * sim-network.ts (messages in flight, partitions), sim-node.ts (per-node and
 * per-op state, snapshot encoding).
 */
import { Checker, checkLinearizable, fingerprint, InvariantViolation, type KvOp } from './checker.ts';
import { SeededRandom } from './clock.ts';
import { applyPersist } from './log-store.ts';
import { MemoryLogStore } from './memory-log-store.ts';
import { RaftNode } from './node.ts';
import { SimNetwork } from './sim-network.ts';
import {
  type ClientOp,
  type Command,
  decodeCommand,
  encodeCommand,
  encodeState,
  mix,
  restoreState,
  type SimNode,
} from './sim-node.ts';
import { resolveOptions, type SimOptions, type SimResult } from './sim-options.ts';
import type { Message, NodeId } from './types.ts';

export { profile, type SimOptions, type SimResult } from './sim-options.ts';

const TRACE_MAX = 300;
const OP_TIMEOUT_STEPS = 40;

export class Simulator {
  readonly o: Required<SimOptions>;
  readonly rng: SeededRandom;
  readonly checker = new Checker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly history: KvOp[] = [];
  readonly #network: SimNetwork;
  #now = 0;
  #logicalTime = 0;
  #nextOp = 1;
  #clientOps = new Map<number, ClientOp | null>();
  #clientLeader = new Map<number, NodeId>();
  #trace: string[] = [];
  #calm = false;
  #roles = new Map<NodeId, string>();
  stats: SimResult['stats'] = {
    leaders: 0,
    crashes: 0,
    messagesDelivered: 0,
    opsCompleted: 0,
    opsInvoked: 0,
    snapshotsInstalled: 0,
    configChanges: 0,
    maxCommit: 0,
    linearizabilityStates: 0,
  };

  constructor(input: SimOptions) {
    this.o = resolveOptions(input);
    const nodes = this.o.nodes;
    this.rng = new SeededRandom(this.o.seed);
    this.#network = new SimNetwork(this.rng, this.o);
    const voters: NodeId[] = [];
    for (let id = 1; id <= this.o.initialVoters; id++) voters.push(id);
    for (let id = 1; id <= nodes; id++) {
      const n: SimNode = {
        id,
        store: new MemoryLogStore(),
        raft: null,
        incarnation: 0,
        kv: new Map(),
        digest: 0,
        proposed: new Map(),
        reads: [],
        crashMidReady: 'none',
        crashAtStep: Number.POSITIVE_INFINITY,
        bootstrapVoters: id <= this.o.initialVoters ? voters : [],
      };
      this.nodes.set(id, n);
      this.#start(n);
    }
    for (let c = 1; c <= this.o.clients; c++) this.#clientOps.set(c, null);
  }

  trace(line: string): void {
    this.#trace.push(`[${this.#now}] ${line}`);
    if (this.#trace.length > TRACE_MAX) this.#trace.shift();
  }

  #start(n: SimNode): RaftNode {
    n.incarnation++;
    const snapshot = n.store.snapshot();
    const first = n.store.firstIndex();
    const entries = n.store.entries(first, n.store.lastIndex() + 1);
    n.raft = new RaftNode({
      id: n.id,
      electionTicks: this.o.electionTicks,
      heartbeatTicks: this.o.heartbeatTicks,
      random: new SeededRandom((this.o.seed * 31 + n.id * 7919 + n.incarnation * 104729) >>> 0),
      initialVoters: n.bootstrapVoters,
      restored: { hardState: n.store.hardState(), snapshot, entries },
      entriesPerAppendMax: this.o.entriesPerAppendMax,
      inflightAppendsMax: this.o.inflightAppendsMax,
    });
    restoreState(n, snapshot?.data);
    n.proposed = new Map();
    n.reads = [];
    n.crashMidReady = 'none';
    n.crashAtStep = Number.POSITIVE_INFINITY;
    return n.raft;
  }

  #crash(n: SimNode, loseUnsynced: boolean): void {
    if (!n.raft) return;
    n.raft = null;
    n.store.crash({ loseUnsynced });
    this.stats.crashes++;
    this.trace(`crash node ${n.id} (${loseUnsynced ? 'unsynced writes lost' : 'disk kept'})`);
  }

  #leaders(): RaftNode[] {
    const out: RaftNode[] = [];
    for (const n of this.nodes.values()) if (n.raft?.role === 'leader') out.push(n.raft);
    return out;
  }

  /** Handles every pending Ready of one node, as a real driver would. */
  #process(n: SimNode): void {
    for (let guard = 0; n.raft?.hasReady(); guard++) {
      if (guard > 1000) throw new Error(`node ${n.id}: Ready loop does not settle`);
      const raft = n.raft;
      const rd = raft.ready();
      // A leader's appends may leave before its own write (thesis §10.2.1);
      // anything else waits for the sync.
      const early = !rd.persist.some((op) => op.kind === 'hard-state');
      if (early) for (const m of rd.messages) if (m.type === 'append-entries') this.#send(m);
      applyPersist(n.store, rd.persist);
      if (n.crashMidReady !== 'none') {
        // Crash after the writes, before sync: only the appends above left the node.
        this.#crash(n, n.crashMidReady === 'lose');
        return;
      }
      n.store.sync();
      const last = n.store.lastIndex();
      raft.persisted(last, n.store.term(last) as number);
      for (const op of rd.persist) {
        if (op.kind === 'append') this.checker.onAppend(n.id, op.entries, op.prevTerm);
      }
      for (const m of rd.messages) if (!(early && m.type === 'append-entries')) this.#send(m);
      if (rd.snapshot) {
        restoreState(n, rd.snapshot.data);
        this.checker.onRestore(n.id, rd.snapshot.meta.index, n.digest);
        this.stats.snapshotsInstalled++;
      }
      this.checker.onVote(n.id, raft.term, raft.vote);
      const leaders = this.#leaders();
      for (const e of rd.committed) {
        n.digest = mix(n.digest, fingerprint(e));
        this.checker.onApply(n.id, e, n.digest, leaders);
        if (e.index > this.stats.maxCommit) this.stats.maxCommit = e.index;
        if (e.type !== 'command') continue;
        const cmd = decodeCommand(e.data);
        n.kv.set(cmd.key, cmd.value);
        const op = n.proposed.get(cmd.op);
        if (op) {
          n.proposed.delete(cmd.op);
          this.#complete(op, op.value);
        }
      }
      for (const rs of rd.readStates) {
        const op = rs.ctx as ClientOp;
        n.reads.push({ op, index: rs.index });
      }
      if (n.reads.length > 0) {
        const waiting: SimNode['reads'] = [];
        for (const r of n.reads) {
          if (raft.appliedIndex >= r.index) this.#complete(r.op, n.kv.get(r.op.key) ?? null);
          else waiting.push(r);
        }
        n.reads = waiting;
      }
      if (raft.appliedIndex - raft.snapshotMeta.index >= this.o.snapshotEveryEntries) {
        raft.compact(raft.appliedIndex, encodeState(n));
      }
      if (raft.role === 'leader' && this.checker.onLeader(raft)) {
        this.trace(`node ${raft.id} leader of term ${raft.term} (voters ${raft.voters.join(',')})`);
        if (!this.#calm && this.rng.chance(this.o.leaderCrashRate))
          n.crashAtStep = this.#now + 1 + this.rng.int(4);
      } else if (raft.role !== this.#roles.get(n.id) && raft.role !== 'leader') {
        this.trace(
          `node ${n.id} ${raft.role} term ${raft.term} last ${raft.lastIndex}@${raft.termAt(raft.lastIndex)}`,
        );
      }
      this.#roles.set(n.id, raft.role);
    }
  }
  #send(m: Message): void {
    this.#network.send(m, this.#now, this.#calm);
  }

  #complete(op: ClientOp, value: string | null): void {
    if (op.done) return;
    op.done = true;
    this.history.push({
      client: op.client,
      key: op.key,
      kind: op.kind,
      value: op.kind === 'put' ? op.value : value,
      call: op.call,
      ret: ++this.#logicalTime,
    });
    this.stats.opsCompleted++;
    if (this.#clientOps.get(op.client) === op) this.#clientOps.set(op.client, null);
  }

  #faults(): void {
    const r = this.rng;
    const ids = [...this.nodes.keys()];
    if (r.chance(this.o.partitionRate)) this.trace(this.#network.partition(ids));
    for (const n of this.nodes.values()) {
      if (n.raft) {
        if (n.crashAtStep <= this.#now) {
          this.#crash(n, r.chance(0.5));
        } else if (r.chance(this.o.crashRate)) {
          const mode = r.int(3);
          if (mode === 0) this.#crash(n, false);
          else if (mode === 1) this.#crash(n, true);
          else n.crashMidReady = r.chance(0.5) ? 'lose' : 'keep';
        }
      } else if (r.chance(this.o.restartRate)) {
        const raft = this.#start(n);
        this.trace(`restart node ${n.id} (term ${raft.term}, last index ${raft.lastIndex})`);
      }
    }
    const leader = this.#leaders().sort((a, b) => b.term - a.term)[0];
    if (leader && r.chance(this.o.membershipRate)) {
      const voters = leader.voters;
      const outside = ids.filter((id) => !voters.includes(id));
      const add = voters.length < 3 || (outside.length > 0 && r.chance(0.5));
      const change = add && outside.length > 0 ? { add: r.pick(outside) } : { remove: r.pick(voters) };
      if ('remove' in change && voters.length <= 2) return;
      const res = leader.proposeConfigChange(change);
      if (res.ok) this.stats.configChanges++;
      this.trace(
        `leader ${leader.id} config change ${JSON.stringify(change)}: ${res.ok ? 'ok' : res.reason}`,
      );
      this.#process(this.nodes.get(leader.id) as SimNode);
    }
    if (leader && leader.role === 'leader' && r.chance(this.o.transferRate)) {
      const target = r.pick(leader.voters);
      const ok = leader.transferLeadership(target);
      this.trace(`leader ${leader.id} transfer to ${target}: ${ok}`);
      this.#process(this.nodes.get(leader.id) as SimNode);
    }
  }

  #clients(): void {
    const r = this.rng;
    for (const [client, pending] of this.#clientOps) {
      if (pending) {
        if (this.#now - pending.invokedStep > OP_TIMEOUT_STEPS) {
          // Outcome unknown: a put may still take effect later (ret = Infinity).
          if (pending.kind === 'put') {
            this.history.push({
              client,
              key: pending.key,
              kind: 'put',
              value: pending.value,
              call: pending.call,
              ret: Number.POSITIVE_INFINITY,
            });
          }
          pending.done = true;
          this.#clientOps.set(client, null);
          this.#clientLeader.delete(client);
        }
        continue;
      }
      if (!r.chance(this.#calm ? 1 : 0.3)) continue;
      const id = this.#nextOp++;
      const key = `k${r.int(this.o.keys)}`;
      const kind = r.chance(0.5) ? 'put' : 'get';
      const op: ClientOp = {
        id,
        client,
        kind,
        key,
        value: kind === 'put' ? `v${id}` : null,
        call: ++this.#logicalTime,
        invokedStep: this.#now,
        done: false,
      };
      let target = this.#clientLeader.get(client) ?? r.pick([...this.nodes.keys()]);
      const n = this.nodes.get(target) as SimNode;
      const raft = n.raft;
      let accepted = false;
      if (raft) {
        if (kind === 'put') {
          const cmd: Command = { op: id, key, value: op.value as string };
          const res = raft.propose(encodeCommand(cmd));
          accepted = res.ok;
          if (res.ok) n.proposed.set(id, op);
          else if (res.leader) target = res.leader;
        } else {
          accepted = raft.readIndex(op);
          if (!accepted && raft.leader) target = raft.leader;
        }
      }
      if (!accepted) {
        // Refused before anything was proposed: not in the history; try another node next time.
        this.#clientLeader.set(client, target === n.id ? r.pick([...this.nodes.keys()]) : target);
        continue;
      }
      this.#clientLeader.set(client, n.id);
      this.stats.opsInvoked++;
      this.#clientOps.set(client, op);
      this.#process(n);
    }
  }

  #deliver(): void {
    for (const { m } of this.#network.takeDue(this.#now)) {
      if (this.#network.isBlocked(m)) continue;
      const n = this.nodes.get(m.to);
      if (!n?.raft) continue;
      this.stats.messagesDelivered++;
      n.raft.step(m);
      this.#process(n);
    }
  }

  #tickAll(): void {
    for (const n of this.nodes.values()) {
      if (!n.raft) continue;
      n.raft.tick();
      this.#process(n);
    }
  }

  step(): void {
    this.#now++;
    if (!this.#calm) this.#faults();
    this.#clients();
    this.#deliver();
    this.#tickAll();
  }

  /** Heals everything, restarts every node and requires a write to commit within settleSteps. */
  #settle(): void {
    this.#calm = true;
    this.#network.healAll();
    this.trace('settle: heal all, restart all, no drops');
    for (const n of this.nodes.values()) {
      n.crashMidReady = 'none';
      if (!n.raft) this.#start(n);
    }
    const completedBefore = this.stats.opsCompleted;
    for (let i = 0; i < this.o.settleSteps; i++) {
      this.step();
      if (this.stats.opsCompleted >= completedBefore + this.o.clients) return;
    }
    throw new InvariantViolation(
      `liveness: no ${this.o.clients} ops completed within ${this.o.settleSteps} calm steps after healing`,
    );
  }

  run(): SimResult {
    let error: string | undefined;
    try {
      for (let i = 0; i < this.o.steps; i++) this.step();
      if (this.o.settleSteps > 0) this.#settle();
      this.stats.leaders = this.checker.leadersByTerm.size;
      // Puts still pending may have taken effect: their outcome is unknown.
      for (const [client, op] of this.#clientOps) {
        if (op && !op.done && op.kind === 'put') {
          op.done = true;
          this.history.push({
            client,
            key: op.key,
            kind: 'put',
            value: op.value,
            call: op.call,
            ret: Infinity,
          });
        }
      }
      const lin = checkLinearizable(this.history);
      this.stats.linearizabilityStates = lin.explored;
      if (!lin.ok)
        throw new InvariantViolation(`linearizability: history of key ${lin.key} is not linearizable`);
    } catch (e) {
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      this.trace(`FAILED: ${error}`);
    }
    const result: SimResult = {
      seed: this.o.seed,
      steps: this.#now,
      ok: error === undefined,
      trace: this.#trace,
      stats: this.stats,
    };
    if (error !== undefined) result.error = error;
    return result;
  }
}

export function simulate(options: SimOptions): SimResult {
  return new Simulator(options).run();
}
