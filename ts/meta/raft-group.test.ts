import { afterEach, describe, expect, it } from 'vitest';
import type { FerryError } from '../errors.ts';
import { MemoryLogStore } from '../raft/memory-log-store.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { decodeJson, encodeJson, type KvEvent, type KvResult, KvStateMachine } from './kv-state-machine.ts';
import { NotLeaderError, RaftGroup } from './raft-group.ts';

/** In-process transport: delivers on a later macrotask; a node can be cut off. */
class Net {
  readonly groups = new Map<NodeId, RaftGroup>();
  readonly down = new Set<NodeId>();
  send(from: NodeId, messages: readonly Message[]): void {
    for (const m of messages) {
      setImmediate(() => {
        if (this.down.has(from) || this.down.has(m.to)) return;
        this.groups.get(m.to)?.step(m);
      });
    }
  }
}

interface Member {
  id: NodeId;
  group: RaftGroup;
  sm: KvStateMachine;
  store: MemoryLogStore;
}

const running: RaftGroup[] = [];
afterEach(() => {
  for (const g of running.splice(0)) g.stop();
});

function start(net: Net, id: NodeId, voters: NodeId[], store = new MemoryLogStore()): Member {
  const sm = new KvStateMachine();
  const group = new RaftGroup({
    nodeId: id,
    groupId: 0,
    name: 'metadata',
    store,
    stateMachine: sm,
    transport: { send: (_g, ms) => net.send(id, ms) },
    initialVoters: voters,
    tickMs: 5,
    electionTicks: 10,
    heartbeatTicks: 2,
    snapshotEntries: 20,
    requestTimeoutMs: 2000,
    pendingMax: 1000,
  });
  net.groups.set(id, group);
  running.push(group);
  return { id, group, sm, store };
}

async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const put = (key: string, value: string, ifVersion?: number) =>
  encodeJson({ op: 'put', key, value, ...(ifVersion === undefined ? {} : { ifVersion }) });

async function leaderOf(members: Member[]): Promise<Member> {
  return until(() => members.find((m) => m.group.isLeader));
}

describe('RaftGroup', () => {
  it('a single voter elects itself and applies proposals after its own sync', async () => {
    const net = new Net();
    const m = start(net, 1, [1]);
    await until(() => m.group.isLeader);
    const r = decodeJson<KvResult>(await m.group.propose(put('a', '1')));
    expect(r.ok).toBe(true);
    expect(m.sm.get('a')?.value).toBe('1');
    expect(m.store.unsyncedOps).toBe(0);
    expect(decodeJson(await m.group.read(encodeJson({ op: 'get', key: 'a' })))).toMatchObject({ value: '1' });
  });

  it('three voters: one leader, followers refuse with its id, everyone applies in order', async () => {
    const net = new Net();
    const ms = [1, 2, 3].map((id) => start(net, id, [1, 2, 3]));
    const leader = await leaderOf(ms);
    const follower = ms.find((m) => m !== leader) as Member;
    await until(() => follower.group.leader === leader.id);
    await expect(follower.group.propose(put('x', '1'))).rejects.toMatchObject({
      code: 'FERRY_ERR_NOT_LEADER',
      leader: leader.id,
    });
    await expect(follower.group.read(encodeJson({ op: 'get', key: 'x' }))).rejects.toBeInstanceOf(
      NotLeaderError,
    );
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => leader.group.propose(put(`k${i % 7}`, `v${i}`))),
    );
    const versions = results.map((b) => (decodeJson<KvResult>(b) as { version: number }).version);
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    await until(() => ms.every((m) => m.group.status().appliedIndex >= (versions.at(-1) ?? 0)));
    for (const m of ms) expect(m.sm.list('k', 100)).toEqual(leader.sm.list('k', 100));
    // 100 applied entries with snapshotEntries 20: the log was compacted.
    expect(leader.group.status().snapshotIndex).toBeGreaterThan(0);
  });

  it('a leader compacts only once its followers hold the snapshot index, or after another snapshotEntries', async () => {
    const net = new Net();
    const ms = [1, 2, 3].map((id) => start(net, id, [1, 2, 3]));
    const leader = await leaderOf(ms);
    const [away, other] = ms.filter((m) => m !== leader) as [Member, Member];
    net.down.add(away.id);
    // Past one snapshotEntries (20): the image is taken, but `away` lacks those entries.
    for (let i = 0; i < 25; i++) await leader.group.propose(put(`a${i}`, String(i)));
    expect(leader.group.status().snapshotIndex).toBe(0);
    net.down.delete(away.id);
    await until(() => away.group.status().appliedIndex >= leader.group.status().appliedIndex);
    await leader.group.propose(put('after', 'x'));
    // Caught up by appends, not by a snapshot; then the leader compacted.
    expect(away.group.status().snapshotsInstalled).toBe(0);
    expect(leader.group.status().snapshotIndex).toBeGreaterThanOrEqual(20);
    // A follower that stays away holds the log back for one more snapshotEntries only.
    net.down.add(other.id);
    const held = leader.group.status().snapshotIndex;
    for (let i = 0; i < 45; i++) await leader.group.propose(put(`b${i}`, String(i)));
    expect(leader.group.status().snapshotIndex).toBeGreaterThan(held);
    net.down.delete(other.id);
    await until(() => other.group.status().snapshotsInstalled === 1);
    await until(() => other.sm.get('b44')?.value === '44');
  });

  it('conditional puts: only one of two racing creates wins', async () => {
    const net = new Net();
    const m = start(net, 1, [1]);
    await until(() => m.group.isLeader);
    const [a, b] = await Promise.all([
      m.group.propose(put('lock', 'a', 0)),
      m.group.propose(put('lock', 'b', 0)),
    ]);
    const ra = decodeJson<KvResult>(a as Uint8Array);
    const rb = decodeJson<KvResult>(b as Uint8Array);
    expect([ra.ok, rb.ok]).toEqual([true, false]);
    expect(m.sm.get('lock')?.value).toBe('a');
  });

  it('a new leader takes over when the leader is cut off; acknowledged writes survive; the old one catches up', async () => {
    const net = new Net();
    const ms = [1, 2, 3].map((id) => start(net, id, [1, 2, 3]));
    const old = await leaderOf(ms);
    for (let i = 0; i < 30; i++) await old.group.propose(put(`w${i}`, String(i)));
    net.down.add(old.id);
    const rest = ms.filter((m) => m !== old);
    const next = await leaderOf(rest);
    expect(next.group.status().term).toBeGreaterThan(old.group.status().term);
    for (let i = 0; i < 30; i++)
      expect(next.sm.get(`w${i}`)?.value ?? (await readValue(next, `w${i}`))).toBe(String(i));
    // The cut-off node cannot commit: its proposal never resolves with success.
    const stuck = old.group.propose(put('lost', 'x')).catch((e: FerryError) => e.code);
    await next.group.propose(put('after', 'y'));
    net.down.delete(old.id);
    expect(await stuck).toMatch(/FERRY_ERR_RAFT_(DROPPED|TIMEOUT)|FERRY_ERR_NOT_LEADER/);
    await until(() => old.sm.get('after')?.value === 'y');
    expect(old.sm.get('lost')).toBeUndefined();
  });

  it('a restarted node reads its store back and rejoins with the same log', async () => {
    const net = new Net();
    const ms = [1, 2, 3].map((id) => start(net, id, [1, 2, 3]));
    const leader = await leaderOf(ms);
    for (let i = 0; i < 45; i++) await leader.group.propose(put(`r${i}`, String(i)));
    const victim = ms.find((m) => m !== leader) as Member;
    await until(() => victim.group.status().appliedIndex >= leader.group.status().appliedIndex);
    victim.group.stop();
    victim.store.crash({ loseUnsynced: true });
    const again = start(net, victim.id, [1, 2, 3], victim.store);
    await leader.group.propose(put('later', 'z'));
    await until(() => again.sm.get('later')?.value === 'z');
    expect(again.sm.list('r', 100)).toEqual(leader.sm.list('r', 100));
  });

  it('watch delivers changes under a prefix in order; a slow watcher is ended, not buffered', async () => {
    const net = new Net();
    const m = start(net, 1, [1]);
    await until(() => m.group.isLeader);
    const w = m.sm.watch('cfg/', 100);
    const slow = m.sm.watch('cfg/', 3);
    await m.group.propose(put('cfg/a', '1'));
    await m.group.propose(put('other', '1'));
    await m.group.propose(encodeJson({ op: 'delete', key: 'cfg/a' }));
    for (let i = 0; i < 5; i++) await m.group.propose(put(`cfg/n${i}`, String(i)));
    const seen: KvEvent[] = [];
    for await (const e of w) {
      seen.push(e);
      if (seen.length === 7) break;
    }
    expect(seen.slice(0, 2).map((e) => e.type)).toEqual(['put', 'delete']);
    expect(seen.every((e) => e.type === 'reset' || e.key.startsWith('cfg/'))).toBe(true);
    const it = slow[Symbol.asyncIterator]();
    const got: unknown[] = [];
    await expect(
      (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          got.push(r.value);
        }
      })(),
    ).rejects.toMatchObject({ code: 'FERRY_ERR_OVERLOADED' });
    expect(got).toHaveLength(3);
    expect(m.sm.watchOverflows).toBe(1);
  });

  it('bounds waiting requests and times out when there is no quorum', async () => {
    const net = new Net();
    const ms = [1, 2, 3].map((id) => start(net, id, [1, 2, 3]));
    const leader = await leaderOf(ms);
    for (const m of ms) if (m !== leader) net.down.add(m.id);
    await expect(leader.group.propose(put('q', '1'))).rejects.toMatchObject({
      code: expect.stringMatching(/FERRY_ERR_RAFT_TIMEOUT|FERRY_ERR_CLOSED|FERRY_ERR_RAFT_DROPPED/),
    });
    expect(leader.sm.get('q')).toBeUndefined();
  });
});

async function readValue(m: Member, key: string): Promise<string | undefined> {
  const r = decodeJson<{ value: string } | null>(await m.group.read(encodeJson({ op: 'get', key })));
  return r?.value;
}
