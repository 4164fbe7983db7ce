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
 */
import { Checker, checkLinearizable, fingerprint, InvariantViolation, type KvOp } from './checker.ts';
import { SeededRandom } from './clock.ts';
import { applyPersist } from './log-store.ts';
import { MemoryLogStore } from './memory-log-store.ts';
import { RaftNode } from './node.ts';
import type { Index, Message, NodeId } from './types.ts';

export interface SimOptions {
  seed: number;
  steps: number;
  nodes?: number;
  /** Voters at start; the others can be added by membership changes. */
  initialVoters?: number;
  keys?: number;
  clients?: number;
  dropRate?: number;
  duplicateRate?: number;
  delayTicksMax?: number;
  partitionRate?: number;
  crashRate?: number;
  /** Chance that a newly elected leader crashes 1-4 steps later. */
  leaderCrashRate?: number;
  restartRate?: number;
  membershipRate?: number;
  transferRate?: number;
  snapshotEveryEntries?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  entriesPerAppendMax?: number;
  inflightAppendsMax?: number;
  /** Steps of a calm tail (all healed and up, no drops, short delays) in which ops must complete. */
  settleSteps?: number;
}

export interface SimResult {
  seed: number;
  steps: number;
  ok: boolean;
  error?: string;
  trace: string[];
  stats: {
    leaders: number;
    crashes: number;
    messagesDelivered: number;
    opsCompleted: number;
    opsInvoked: number;
    snapshotsInstalled: number;
    configChanges: number;
    maxCommit: Index;
    linearizabilityStates: number;
  };
}

interface Command {
  op: number;
  key: string;
  value: string;
}

interface SimNode {
  id: NodeId;
  store: MemoryLogStore;
  raft: RaftNode | null;
  incarnation: number;
  kv: Map<string, string>;
  /** Rolling hash of every entry applied so far (travels inside snapshots). */
  digest: number;
  /** Client op ids this node proposed, completed when applied here. */
  proposed: Map<number, ClientOp>;
  /** Reads confirmed by read-index, waiting for apply. */
  reads: { op: ClientOp; index: Index }[];
  crashMidReady: 'none' | 'lose' | 'keep';
  /** A new leader may be doomed to crash a few steps later (Figure 8 shapes). */
  crashAtStep: number;
  /** The configured initial members (like `[cluster] members`); [] for a node that joins later. */
  bootstrapVoters: readonly NodeId[];
}

interface ClientOp {
  id: number;
  client: number;
  kind: 'put' | 'get';
  key: string;
  value: string | null;
  call: number;
  invokedStep: number;
  done: boolean;
}

interface InFlight {
  at: number;
  m: Message;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TRACE_MAX = 300;
const OP_TIMEOUT_STEPS = 40;

export class Simulator {
  readonly o: Required<SimOptions>;
  readonly rng: SeededRandom;
  readonly checker = new Checker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly history: KvOp[] = [];
  #net: InFlight[] = [];
  /** Blocked directed links "from>to". */
  #blocked = new Set<string>();
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
    const options = { ...profile(input.seed), ...input };
    const nodes = options.nodes ?? 5;
    this.o = {
      seed: options.seed,
      steps: options.steps,
      nodes,
      initialVoters: options.initialVoters ?? Math.min(nodes, 3),
      keys: options.keys ?? 3,
      clients: options.clients ?? 3,
      dropRate: options.dropRate ?? 0.05,
      duplicateRate: options.duplicateRate ?? 0.03,
      delayTicksMax: options.delayTicksMax ?? 3,
      partitionRate: options.partitionRate ?? 0.02,
      crashRate: options.crashRate ?? 0.015,
      leaderCrashRate: options.leaderCrashRate ?? 0,
      restartRate: options.restartRate ?? 0.1,
      membershipRate: options.membershipRate ?? 0.01,
      transferRate: options.transferRate ?? 0.005,
      snapshotEveryEntries: options.snapshotEveryEntries ?? 12,
      electionTicks: options.electionTicks ?? 10,
      heartbeatTicks: options.heartbeatTicks ?? 2,
      settleSteps: options.settleSteps ?? 300,
      entriesPerAppendMax: options.entriesPerAppendMax ?? 8,
      inflightAppendsMax: options.inflightAppendsMax ?? 4,
    };
    this.rng = new SeededRandom(options.seed);
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
    this.#restore(n, snapshot?.data);
    n.proposed = new Map();
    n.reads = [];
    n.crashMidReady = 'none';
    n.crashAtStep = Number.POSITIVE_INFINITY;
    return n.raft;
  }

  #restore(n: SimNode, data: Uint8Array | undefined): void {
    if (!data || data.length === 0) {
      n.kv = new Map();
      n.digest = 0;
      return;
    }
    const state = JSON.parse(decoder.decode(data)) as { kv: [string, string][]; digest: number };
    n.kv = new Map(state.kv);
    n.digest = state.digest;
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
        this.#restore(n, rd.snapshot.data);
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
        const cmd = JSON.parse(decoder.decode(e.data)) as Command;
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
    if (!this.#calm && this.rng.chance(this.o.dropRate)) return;
    const copies = !this.#calm && this.rng.chance(this.o.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.#calm ? this.rng.int(2) : this.rng.int(this.o.delayTicksMax + 1);
      this.#net.push({ at: this.#now + 1 + delay, m });
    }
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
    if (r.chance(this.o.partitionRate)) {
      this.#blocked.clear();
      const kind = r.int(4);
      if (kind === 0) {
        this.trace('heal all links');
      } else if (kind === 1) {
        const a = r.pick(ids);
        for (const b of ids) if (b !== a) this.#blocked.add(`${a}>${b}`).add(`${b}>${a}`);
        this.trace(`isolate node ${a}`);
      } else if (kind === 2) {
        const a = r.pick(ids);
        const inbound = r.chance(0.5);
        for (const b of ids) if (b !== a) this.#blocked.add(inbound ? `${b}>${a}` : `${a}>${b}`);
        this.trace(`one-way partition: node ${a} ${inbound ? 'cannot receive' : 'cannot send'}`);
      } else {
        const side = new Set(ids.filter(() => r.chance(0.5)));
        for (const a of ids)
          for (const b of ids) if (side.has(a) !== side.has(b)) this.#blocked.add(`${a}>${b}`);
        this.trace(`split {${[...side].join(',')}} | {${ids.filter((i) => !side.has(i)).join(',')}}`);
      }
    }
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
          const res = raft.propose(encoder.encode(JSON.stringify(cmd)));
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
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.#net) (f.at <= this.#now ? due : later).push(f);
    this.#net = later;
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const t = due[i] as InFlight;
      due[i] = due[j] as InFlight;
      due[j] = t;
    }
    for (const { m } of due) {
      if (this.#blocked.has(`${m.from}>${m.to}`)) continue;
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
    this.#blocked.clear();
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

/**
 * Fault profiles, chosen by seed so that a range of seeds covers them all;
 * explicit options override. 0: five nodes, three voters, mild faults.
 * 1: three voters, frequent crashes, long delays (split votes, lost votes).
 * 2: five voters, one entry per append, long delays, crashes (Figure 8 shapes).
 * 3: heavy partitions and drops.
 */
export function profile(seed: number): Partial<SimOptions> {
  switch (seed % 4) {
    case 1:
      return { nodes: 3, initialVoters: 3, crashRate: 0.04, restartRate: 0.3, delayTicksMax: 5 };
    case 2:
      return {
        nodes: 5,
        initialVoters: 5,
        leaderCrashRate: 0.5,
        entriesPerAppendMax: 1,
        delayTicksMax: 6,
        crashRate: 0.03,
        restartRate: 0.2,
      };
    case 3:
      return { partitionRate: 0.06, dropRate: 0.15, duplicateRate: 0.05 };
    default:
      return {};
  }
}

function encodeState(n: SimNode): Uint8Array {
  return encoder.encode(JSON.stringify({ kv: [...n.kv], digest: n.digest }));
}

/** FNV-1a over the entry's fingerprint, chained. */
function mix(h: number, s: string): number {
  let x = (h ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return x;
}

export function simulate(options: SimOptions): SimResult {
  return new Simulator(options).run();
}
