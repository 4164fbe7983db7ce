import { describe, expect, it } from 'vitest';
import { SeededRandom } from './clock.ts';
import { applyPersist } from './log-store.ts';
import { MemoryLogStore } from './memory-log-store.ts';
import { RaftNode, type RaftOptions } from './node.ts';
import type { LogEntry, Message, NodeId, Snapshot } from './types.ts';

const ELECTION = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Member {
  raft: RaftNode;
  store: MemoryLogStore;
  applied: string[];
  snapshots: Snapshot[];
  reads: unknown[];
}

function storeWith(restored: RaftOptions['restored']): MemoryLogStore {
  const store = new MemoryLogStore();
  if (restored) {
    store.setHardState(restored.hardState);
    store.append(restored.entries);
    store.sync();
  }
  return store;
}

/** A synchronous in-memory network: FIFO delivery, blockable directed links. */
class Net {
  readonly members = new Map<NodeId, Member>();
  readonly queue: Message[] = [];
  readonly blocked = new Set<string>();
  readonly sent: Message[] = [];

  constructor(ids: NodeId[], extra: Partial<RaftOptions> = {}, voters: NodeId[] = ids) {
    for (const id of ids) this.add(id, voters, extra);
  }

  add(id: NodeId, voters: NodeId[], extra: Partial<RaftOptions> = {}): Member {
    const m: Member = {
      raft: new RaftNode({
        id,
        electionTicks: ELECTION,
        heartbeatTicks: 2,
        random: new SeededRandom(id * 977),
        initialVoters: voters,
        ...extra,
      }),
      store: storeWith(extra.restored),
      applied: [],
      snapshots: [],
      reads: [],
    };
    this.members.set(id, m);
    return m;
  }

  node(id: NodeId): RaftNode {
    return (this.members.get(id) as Member).raft;
  }

  process(id: NodeId): void {
    const m = this.members.get(id) as Member;
    while (m.raft.hasReady()) {
      const rd = m.raft.ready();
      applyPersist(m.store, rd.persist);
      m.store.sync();
      const last = m.store.lastIndex();
      m.raft.persisted(last, m.store.term(last) as number);
      for (const msg of rd.messages) {
        this.sent.push(msg);
        this.queue.push(msg);
      }
      if (rd.snapshot) m.snapshots.push(rd.snapshot);
      for (const e of rd.committed) if (e.type === 'command') m.applied.push(dec.decode(e.data));
      for (const r of rd.readStates) m.reads.push(r.ctx);
    }
  }

  isolate(id: NodeId): void {
    for (const other of this.members.keys()) {
      if (other !== id) this.blocked.add(`${id}>${other}`).add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  deliverOne(): boolean {
    const msg = this.queue.shift();
    if (!msg) return false;
    if (this.blocked.has(`${msg.from}>${msg.to}`)) return true;
    const m = this.members.get(msg.to);
    if (!m) return true;
    m.raft.step(msg);
    this.process(msg.to);
    return true;
  }

  deliverAll(): void {
    for (let i = 0; i < 100_000 && this.deliverOne(); i++);
  }

  tick(times = 1, only?: NodeId[]): void {
    for (let t = 0; t < times; t++) {
      for (const id of only ?? [...this.members.keys()]) {
        this.node(id).tick();
        this.process(id);
      }
      this.deliverAll();
    }
  }

  leaders(): RaftNode[] {
    return [...this.members.values()].map((m) => m.raft).filter((r) => r.role === 'leader');
  }

  electLeader(): RaftNode {
    for (let i = 0; i < 20 * ELECTION; i++) {
      this.tick();
      const ls = this.leaders();
      if (ls.length === 1) return ls[0] as RaftNode;
    }
    throw new Error('no leader');
  }

  propose(leader: RaftNode, text: string): void {
    const res = leader.propose(enc.encode(text));
    expect(res.ok).toBe(true);
    this.process(leader.id);
    this.deliverAll();
  }
}

/** A function, so TypeScript does not narrow `role` across calls that change it. */
function isLeader(r: RaftNode): boolean {
  return r.role === 'leader';
}

function logOf(r: RaftNode): string[] {
  const out: string[] = [];
  for (let i = r.snapshotMeta.index + 1; i <= r.lastIndex; i++) {
    const e = r.entryAt(i) as LogEntry;
    out.push(`${e.index}@${e.term}:${e.type === 'command' ? dec.decode(e.data) : e.type}`);
  }
  return out;
}

describe('RaftNode election', () => {
  it('elects exactly one leader, which commits a no-op of its term', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    net.tick(3);
    expect(net.leaders()).toHaveLength(1);
    for (const id of [1, 2, 3]) {
      expect(net.node(id).term).toBe(leader.term);
      expect(net.node(id).leader).toBe(leader.id);
      expect(net.node(id).commitIndex).toBe(1);
    }
    expect(leader.entryAt(1)?.type).toBe('noop');
  });

  it('a single-member cluster elects itself and commits alone', () => {
    const net = new Net([1]);
    const leader = net.electLeader();
    net.propose(leader, 'x');
    expect(leader.commitIndex).toBe(2);
    expect(net.members.get(1)?.applied).toEqual(['x']);
  });

  it('pre-vote: a partitioned node does not raise its term and does not disrupt when it rejoins', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    const term = leader.term;
    const outsider = [1, 2, 3].find((id) => id !== leader.id) as NodeId;
    net.isolate(outsider);
    net.tick(10 * ELECTION);
    expect(net.node(outsider).term).toBe(term);
    expect(net.node(outsider).role).not.toBe('leader');
    net.heal();
    net.tick(5 * ELECTION);
    expect(leader.role).toBe('leader');
    expect(leader.term).toBe(term);
    expect(net.node(outsider).leader).toBe(leader.id);
  });

  it('check-quorum: an isolated leader steps down and the majority elects a new one', () => {
    const net = new Net([1, 2, 3]);
    const old = net.electLeader();
    net.isolate(old.id);
    net.tick(3 * ELECTION);
    expect(old.role).toBe('follower');
    const others = [1, 2, 3].filter((id) => id !== old.id).map((id) => net.node(id));
    expect(others.filter((r) => r.role === 'leader')).toHaveLength(1);
    expect(Math.max(...others.map((r) => r.term))).toBeGreaterThan(old.term);
  });

  it('a leader steps down when it sees a higher term; the term never goes backwards', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    const follower = [1, 2, 3].find((id) => id !== leader.id) as NodeId;
    leader.step({
      type: 'append-entries-response',
      from: follower,
      to: leader.id,
      term: leader.term + 5,
      success: false,
      matchIndex: 0,
      rejectedIndex: 0,
      conflictTerm: 0,
      conflictIndex: 0,
      seq: 0,
    });
    expect(leader.role).toBe('follower');
    const term = leader.term;
    leader.step({ type: 'timeout-now', from: follower, to: leader.id, term: term - 1 });
    expect(leader.term).toBe(term);
  });
});

describe('RaftNode replication', () => {
  it('replicates and applies proposals in order on every node', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    for (let i = 0; i < 20; i++) net.propose(leader, `c${i}`);
    net.tick(2);
    for (const m of net.members.values())
      expect(m.applied).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
  });

  it('batches and pipelines: one append carries many entries', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    net.tick(2);
    for (let i = 0; i < 30; i++) leader.propose(enc.encode(`b${i}`));
    net.sent.length = 0;
    net.process(leader.id);
    const appends = net.sent.filter((m) => m.type === 'append-entries' && m.entries.length > 0);
    expect(appends.length).toBeLessThanOrEqual(2);
    net.deliverAll();
    expect(leader.commitIndex).toBe(leader.lastIndex);
  });

  it('bounds uncommitted proposals and pending reads', () => {
    const net = new Net([1, 2, 3], { uncommittedEntriesMax: 5, readsPendingMax: 2 });
    const leader = net.electLeader();
    net.tick(2);
    for (const id of [1, 2, 3]) if (id !== leader.id) net.isolate(id);
    for (let i = 0; i < 5; i++) expect(leader.propose(enc.encode(`p${i}`)).ok).toBe(true);
    expect(leader.propose(enc.encode('p5'))).toMatchObject({ ok: false, reason: 'overloaded' });
    expect(leader.readIndex('a')).toBe(true);
    expect(leader.readIndex('b')).toBe(true);
    expect(leader.readIndex('c')).toBe(false);
    net.heal();
    net.tick(2);
    expect(leader.commitIndex).toBe(leader.lastIndex);
    expect(leader.propose(enc.encode('p6')).ok).toBe(true);
  });

  it('log repair: a deposed leader drops its uncommitted entries and adopts the new log', () => {
    const net = new Net([1, 2, 3]);
    const old = net.electLeader();
    net.propose(old, 'committed');
    net.isolate(old.id);
    for (let i = 0; i < 5; i++) old.propose(enc.encode(`lost${i}`));
    net.process(old.id);
    net.deliverAll();
    net.tick(
      3 * ELECTION,
      [1, 2, 3].filter((id) => id !== old.id),
    );
    const fresh = net.leaders().find((r) => r.id !== old.id) as RaftNode;
    expect(fresh).toBeDefined();
    for (let i = 0; i < 3; i++) net.propose(fresh, `new${i}`);
    net.heal();
    net.tick(3 * ELECTION);
    expect(logOf(old)).toEqual(logOf(fresh));
    expect(logOf(old).some((e) => e.includes('lost'))).toBe(false);
    expect(net.members.get(old.id)?.applied).toEqual(['committed', 'new0', 'new1', 'new2']);
  });

  it('commits only entries of the current term by counting replicas (Raft §5.4.2, Figure 8)', () => {
    // Node 1 holds an entry of term 2 that nodes 2 and 3 lack; it wins term 4.
    const noop: LogEntry = { type: 'noop', index: 1, term: 1 };
    const old: LogEntry = { type: 'command', index: 2, term: 2, data: enc.encode('old') };
    const restored = (entries: LogEntry[]) => ({ hardState: { term: 3, vote: 0 }, snapshot: null, entries });
    const net = new Net([]);
    const opts = { entriesPerAppendMax: 1 };
    net.add(1, [1, 2, 3], { ...opts, restored: restored([noop, old]) });
    net.add(2, [1, 2, 3], { ...opts, restored: restored([noop]) });
    net.add(3, [1, 2, 3], { ...opts, restored: restored([noop]) });
    net.blocked.add('1>3');
    const leader = net.node(1);
    for (let i = 0; i < 5 * ELECTION && !isLeader(leader); i++) {
      leader.tick();
      net.process(1);
      while (!isLeader(leader) && net.deliverOne());
    }
    expect(leader.role).toBe('leader');
    // Node 2 now receives index 2 (term 2) alone, then the term-4 no-op: one entry per append.
    let sawOldOnMajority = false;
    while (net.deliverOne()) {
      if (net.node(2).lastIndex >= 2) sawOldOnMajority = true;
      // Index 2 is on a majority (1, 2) before the no-op is, yet must not commit by itself.
      expect(leader.commitIndex).not.toBe(2);
    }
    expect(sawOldOnMajority).toBe(true);
    expect(leader.commitIndex).toBe(3);
  });

  it('installs a snapshot on a follower that fell behind the leader’s compacted log', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    const lagging = [1, 2, 3].find((id) => id !== leader.id) as NodeId;
    net.isolate(lagging);
    for (let i = 0; i < 40; i++) net.propose(leader, `s${i}`);
    leader.compact(leader.appliedIndex, enc.encode('image'));
    net.process(leader.id);
    expect(leader.snapshotMeta.index).toBe(leader.appliedIndex);
    net.heal();
    net.tick(2 * ELECTION);
    const m = net.members.get(lagging) as Member;
    expect(m.snapshots).toHaveLength(1);
    expect(dec.decode(m.snapshots[0]?.data)).toBe('image');
    expect(m.raft.snapshotMeta.index).toBe(leader.snapshotMeta.index);
    net.propose(leader, 'after');
    net.tick(2);
    expect(m.raft.commitIndex).toBe(leader.commitIndex);
    expect(m.applied).toEqual(['after']);
    expect(m.store.snapshot()?.meta.index).toBe(leader.snapshotMeta.index);
  });

  it('rejects stale append responses and never truncates committed entries', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    for (let i = 0; i < 5; i++) net.propose(leader, `x${i}`);
    const follower = net.node([1, 2, 3].find((id) => id !== leader.id) as NodeId);
    const commit = follower.commitIndex;
    // A stale append from the current leader for an older prefix changes nothing.
    follower.step({
      type: 'append-entries',
      from: leader.id,
      to: follower.id,
      term: leader.term,
      prevLogIndex: 1,
      prevLogTerm: follower.termAt(1) as number,
      entries: [],
      leaderCommit: 0,
      seq: 0,
    });
    expect(follower.commitIndex).toBe(commit);
    expect(follower.lastIndex).toBe(leader.lastIndex);
  });
});

describe('RaftNode membership', () => {
  it('adds a voter, then removes a follower, then removes the leader, which steps down', () => {
    const net = new Net([1, 2, 3]);
    net.add(4, []);
    const leader = net.electLeader();
    net.tick(2);
    expect(leader.proposeConfigChange({ add: 4 }).ok).toBe(true);
    // A second change waits until the first is committed.
    expect(leader.proposeConfigChange({ add: 5 })).toMatchObject({
      ok: false,
      reason: 'config-change-pending',
    });
    net.process(leader.id);
    net.deliverAll();
    net.tick(4);
    for (const id of [1, 2, 3, 4]) expect(net.node(id).voters).toEqual([1, 2, 3, 4]);
    net.propose(leader, 'with-four');
    net.tick(2);
    expect(net.members.get(4)?.applied).toEqual(['with-four']);

    const follower = [1, 2, 3].find((id) => id !== leader.id) as NodeId;
    expect(leader.proposeConfigChange({ remove: follower }).ok).toBe(true);
    net.process(leader.id);
    net.tick(4);
    expect(leader.voters).not.toContain(follower);

    expect(leader.proposeConfigChange({ remove: leader.id }).ok).toBe(true);
    net.process(leader.id);
    net.tick(4);
    expect(leader.role).toBe('follower');
    net.tick(5 * ELECTION);
    const next = net.leaders();
    expect(next).toHaveLength(1);
    expect(next[0]?.id).not.toBe(leader.id);
    expect(next[0]?.voters).toHaveLength(2);
  });
});

describe('RaftNode leader transfer', () => {
  it('hands leadership to a caught-up follower through TimeoutNow', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    net.propose(leader, 'before');
    const target = [1, 2, 3].find((id) => id !== leader.id) as NodeId;
    expect(leader.transferLeadership(target)).toBe(true);
    expect(leader.propose(enc.encode('during'))).toMatchObject({ ok: false, reason: 'transferring' });
    net.process(leader.id);
    net.deliverAll();
    expect(net.node(target).role).toBe('leader');
    expect(net.node(target).term).toBe(leader.term);
    expect(leader.role).toBe('follower');
  });
});

describe('RaftNode read-index', () => {
  it('answers a read only after a majority confirms leadership, at the commit index', () => {
    const net = new Net([1, 2, 3]);
    const leader = net.electLeader();
    net.tick(2);
    net.propose(leader, 'w1');
    expect(leader.readIndex('r1')).toBe(true);
    const m = net.members.get(leader.id) as Member;
    net.process(leader.id);
    expect(m.reads).toEqual([]);
    net.deliverAll();
    expect(m.reads).toEqual(['r1']);
    expect(m.applied).toEqual(['w1']);
  });

  it('a deposed leader cut off from the majority never confirms a read', () => {
    const net = new Net([1, 2, 3]);
    const old = net.electLeader();
    net.tick(2);
    net.isolate(old.id);
    expect(old.readIndex('stale')).toBe(true);
    net.tick(
      3 * ELECTION,
      [1, 2, 3].filter((id) => id !== old.id),
    );
    const fresh = net.leaders().find((r) => r.id !== old.id) as RaftNode;
    net.propose(fresh, 'newer');
    net.tick(2 * ELECTION, [old.id]);
    expect(net.members.get(old.id)?.reads).toEqual([]);
    expect(old.readIndex('again')).toBe(false);
  });

  it('a new leader defers reads until it has committed an entry of its term', () => {
    const net = new Net([1, 2, 3]);
    const n1 = net.node(1);
    for (let i = 0; i < 5 * ELECTION && !isLeader(n1); i++) {
      n1.tick();
      net.process(1);
      while (!isLeader(n1) && net.deliverOne());
    }
    expect(n1.role).toBe('leader');
    // Elected, but no follower has acknowledged its no-op yet.
    net.blocked.add('2>1').add('3>1');
    net.deliverAll();
    expect(n1.commitIndex).toBe(0);
    expect(n1.readIndex('early')).toBe(true);
    net.process(1);
    net.deliverAll();
    expect(net.members.get(1)?.reads).toEqual([]);
    net.heal();
    net.tick(2, [1]);
    expect(n1.commitIndex).toBe(1);
    expect(net.members.get(1)?.reads).toEqual(['early']);
  });
});
