import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.ts';
import type { NodeId } from '../raft/types.ts';
import { Controller, type ControllerHost } from './controller.ts';
import { plan } from './controller-plan.ts';
import {
  ASSIGNMENTS_PREFIX,
  type Assignment,
  assignmentKey,
  LIVENESS_PREFIX,
  livenessKey,
  parseAssignment,
  parseAssignmentKey,
  parseLiveness,
  type StreamSpec,
  streamKey,
} from './controller-records.ts';
import { decodeJson, encodeJson, type KvCommand, type KvResult, KvStateMachine } from './kv-state-machine.ts';

const logger = createLogger({ level: 'silent', format: 'json' });
const TIMEOUT = 1000;

/** A metadata group in one process: the real state machine, a fake clock, contacts set by the test. */
class FakeCluster implements ControllerHost {
  readonly nodeId: NodeId = 1;
  readonly sm = new KvStateMachine();
  #index = 0;
  now = 1_000_000;
  leader = true;
  memberIds: NodeId[] = [1, 2, 3];
  /** Last contact per peer on the fake clock (absent: never). */
  readonly lastContact = new Map<NodeId, number>();
  /** When set, proposals of keys with this prefix race: another writer gets there first. */
  raceOn: string | undefined;

  isLeader(): boolean {
    return this.leader;
  }
  members(): NodeId[] {
    return this.memberIds;
  }
  contactsAgoMs(): ReadonlyMap<NodeId, number | null> {
    return new Map(
      this.memberIds.map((id) => [
        id,
        this.lastContact.has(id) ? this.now - (this.lastContact.get(id) ?? 0) : null,
      ]),
    );
  }
  /** Every peer but `except` answered just now. */
  heartbeat(...except: NodeId[]): void {
    for (const id of this.memberIds) if (!except.includes(id)) this.lastContact.set(id, this.now);
  }
  /** list() calls, to see which rounds read the state. */
  lists = 0;
  async list(prefix: string, limit: number) {
    this.lists++;
    return this.sm.list(prefix, limit);
  }
  appliedIndex(): number {
    return this.#index;
  }
  async propose(command: KvCommand): Promise<KvResult> {
    if (this.raceOn && 'key' in command && command.key.startsWith(this.raceOn)) {
      this.write({ op: 'put', key: command.key, value: 'x' });
    }
    return decodeJson<KvResult>(this.sm.apply(++this.#index, encodeJson(command)));
  }
  write(command: KvCommand): void {
    this.sm.apply(++this.#index, encodeJson(command));
  }
  addStream(topic: string, partitions: number, rf: number): void {
    this.write({
      op: 'put',
      key: streamKey(topic),
      value: JSON.stringify({ partitions, replication_factor: rf }),
    });
  }
  assignments(topic: string): Assignment[] {
    return this.sm
      .list(`${ASSIGNMENTS_PREFIX}${topic}/`, 1_000_000)
      .map((i) => ({
        at: parseAssignmentKey(i.key)?.partition ?? -1,
        a: parseAssignment(i.value) as Assignment,
      }))
      .sort((x, y) => x.at - y.at)
      .map((x) => x.a);
  }
  liveness(id: NodeId) {
    const item = this.sm.get(livenessKey(id));
    return item ? parseLiveness(item.value) : undefined;
  }
}

function setup(members: NodeId[] = [1, 2, 3]) {
  const c = new FakeCluster();
  c.memberIds = members;
  c.heartbeat();
  const ctl = new Controller({ host: c, nodeTimeoutMs: TIMEOUT, keysMax: 100_000, logger, now: () => c.now });
  return { c, ctl };
}

const count = (ids: NodeId[]) => {
  const m = new Map<NodeId, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};

describe('plan (pure placement)', () => {
  const streams = (s: Record<string, StreamSpec>) => new Map(Object.entries(s));

  it('places 6 partitions RF 2 on 3 nodes: leaders and replicas evenly, replicas distinct, deterministic', () => {
    const input = {
      streams: streams({ t: { partitions: 6, replication_factor: 2 } }),
      assignments: new Map(),
      members: [1, 2, 3],
      alive: new Set([1, 2, 3]),
    };
    const p = plan(input);
    expect(p.refused).toEqual([]);
    const placed = p.changes.map((c) => (c.kind === 'put' ? c.assignment : undefined)) as Assignment[];
    expect(placed).toHaveLength(6);
    for (const a of placed) {
      expect(new Set(a.replicas).size).toBe(2);
      expect(a.replicas[0]).toBe(a.leader);
      expect(a.leader_epoch).toBe(0);
    }
    expect([...count(placed.map((a) => a.leader)).values()]).toEqual([2, 2, 2]);
    expect([...count(placed.flatMap((a) => a.replicas)).values()]).toEqual([4, 4, 4]);
    // Same input, same answer (a new controller would plan the same).
    expect(plan(input)).toEqual(p);
  });

  it('spreads leaders across topics: a second topic starts on the least-loaded node', () => {
    const p1 = plan({
      streams: streams({ a: { partitions: 2, replication_factor: 1 } }),
      assignments: new Map(),
      members: [1, 2, 3],
      alive: new Set([1, 2, 3]),
    });
    const existing = new Map([
      [
        'a',
        new Map(
          p1.changes.map((c) => [
            c.partition,
            { assignment: (c as { assignment: Assignment }).assignment, version: 1 },
          ]),
        ),
      ],
    ]);
    const p2 = plan({
      streams: streams({
        a: { partitions: 2, replication_factor: 1 },
        b: { partitions: 1, replication_factor: 1 },
      }),
      assignments: existing,
      members: [1, 2, 3],
      alive: new Set([1, 2, 3]),
    });
    expect(p2.changes).toHaveLength(1);
    expect(p2.changes[0]).toMatchObject({ key: 'assignments/b/0', assignment: { leader: 3, replicas: [3] } });
  });

  it('refuses a replication factor above the live node count, and places nothing of that stream', () => {
    const p = plan({
      streams: streams({
        big: { partitions: 3, replication_factor: 3 },
        ok: { partitions: 1, replication_factor: 2 },
      }),
      assignments: new Map(),
      members: [1, 2, 3],
      alive: new Set([1, 2]),
    });
    expect(p.refused).toEqual([
      { topic: 'big', unplaced: 3, reason: 'replication factor 3 is above the 2 live node(s)' },
    ]);
    expect(p.changes.map((c) => c.key)).toEqual(['assignments/ok/0']);
  });

  it('moves a dead leader with no live replica to a live node, marked data_loss_possible', () => {
    const p = plan({
      streams: streams({ t: { partitions: 1, replication_factor: 2 } }),
      assignments: new Map([
        ['t', new Map([[0, { assignment: { leader: 1, replicas: [1, 2], leader_epoch: 4 }, version: 9 }]])],
      ]),
      members: [1, 2, 3],
      alive: new Set([3]),
    });
    expect(p.changes).toEqual([
      {
        kind: 'put',
        key: 'assignments/t/0',
        topic: 't',
        partition: 0,
        ifVersion: 9,
        leaderChanged: true,
        assignment: { leader: 3, replicas: [3, 2], leader_epoch: 5, data_loss_possible: true },
      },
    ]);
  });

  it('drops a node that left from the replicas and tops the list up; deletes partitions of removed streams', () => {
    const a = (leader: NodeId, replicas: NodeId[]) => ({
      assignment: { leader, replicas, leader_epoch: 0 },
      version: 1,
    });
    const p = plan({
      streams: streams({ t: { partitions: 1, replication_factor: 2 } }),
      assignments: new Map([
        [
          't',
          new Map([
            [0, a(1, [1, 3])],
            [1, a(2, [2])],
          ]),
        ],
        ['gone', new Map([[0, a(2, [2])]])],
      ]),
      members: [1, 2],
      alive: new Set([1, 2]),
    });
    expect(p.changes.map((c) => [c.kind, c.key, c.kind === 'put' ? c.assignment : null])).toEqual([
      ['delete', 'assignments/gone/0', null],
      ['put', 'assignments/t/0', { leader: 1, replicas: [1, 2], leader_epoch: 0 }],
      ['delete', 'assignments/t/1', null],
    ]);
  });
});

describe('Controller (fake clock, real state machine)', () => {
  it('records liveness, places a new stream, and fails over after node_timeout_ms, bumping leader epochs', async () => {
    const { c, ctl } = setup();
    c.addStream('orders', 6, 2);
    const r1 = await ctl.tick();
    expect(r1?.alive.sort()).toEqual([1, 2, 3]);
    const before = c.assignments('orders');
    expect(before).toHaveLength(6);
    expect(c.liveness(3)).toEqual({ alive: true, since: c.now });
    const led3 = before.map((a, p) => (a.leader === 3 ? p : -1)).filter((p) => p >= 0);
    expect(led3).toHaveLength(2);

    // Node 3 stops answering; within the timeout nothing moves.
    c.now += TIMEOUT;
    c.heartbeat(3);
    await ctl.tick();
    expect(c.assignments('orders')).toEqual(before);
    expect(c.liveness(3)?.alive).toBe(true);

    c.now += 1;
    c.heartbeat(3);
    const r2 = await ctl.tick();
    expect(r2?.dead).toEqual([3]);
    expect(c.liveness(3)).toEqual({ alive: false, since: c.now });
    const after = c.assignments('orders');
    for (const [p, a] of after.entries()) {
      const old = before[p] as Assignment;
      expect(a.replicas).toEqual(old.replicas);
      if (old.leader === 3) {
        expect(a.leader).not.toBe(3);
        expect(old.replicas).toContain(a.leader);
        expect(a.leader_epoch).toBe(old.leader_epoch + 1);
        expect(a.data_loss_possible).toBeUndefined();
      } else {
        expect(a).toEqual(old);
      }
    }
    // Leaders stay spread over the two live nodes.
    expect([...count(after.map((a) => a.leader)).values()]).toEqual([3, 3]);

    // Node 3 comes back: alive again, a replica (not the leader) of what it held.
    c.now += 500;
    c.heartbeat();
    await ctl.tick();
    expect(c.liveness(3)).toEqual({ alive: true, since: c.now });
    const back = c.assignments('orders');
    expect(back).toEqual(after);
    expect(back.filter((a) => a.replicas.includes(3))).toHaveLength(4);

    // A further round with nothing new writes nothing.
    const idle = await ctl.tick();
    expect(idle?.written).toBe(0);
  });

  it('does nothing off the leader, and a new controller waits a full timeout before declaring anyone dead', async () => {
    const { c, ctl } = setup();
    c.addStream('t', 3, 1);
    c.leader = false;
    expect(await ctl.tick()).toBeUndefined();
    expect(c.assignments('t')).toEqual([]);
    expect(ctl.active).toBe(false);

    c.leader = true;
    await ctl.tick();
    expect(c.assignments('t')).toHaveLength(3);

    // Leadership moves away and comes back long after the last contact with node 2:
    // the returning controller counts from its own start, not from the stale contact.
    c.leader = false;
    await ctl.tick();
    c.now += 10 * TIMEOUT;
    c.leader = true;
    c.heartbeat(2);
    await ctl.tick();
    expect(c.liveness(2)?.alive).toBe(true);
    c.now += TIMEOUT + 1;
    c.heartbeat(2);
    await ctl.tick();
    expect(c.liveness(2)?.alive).toBe(false);
    expect(c.assignments('t').map((a) => a.leader)).not.toContain(2);
  });

  it('a new controller does not revive a node recorded dead until it hears from it', async () => {
    const { c, ctl } = setup();
    c.addStream('t', 3, 2);
    await ctl.tick();
    c.now += TIMEOUT + 1;
    c.heartbeat(3);
    await ctl.tick();
    expect(c.liveness(3)?.alive).toBe(false);
    const dead = c.liveness(3);
    const after = c.assignments('t');
    // Leadership moves away and back: the grace window must not flip node 3 to alive.
    c.leader = false;
    await ctl.tick();
    c.leader = true;
    c.now += 10;
    c.heartbeat(3);
    const r = await ctl.tick();
    expect(r?.dead).toEqual([3]);
    expect(c.liveness(3)).toEqual(dead);
    expect(c.assignments('t')).toEqual(after);
    // Node 2 (recorded alive) keeps its grace; node 3 is alive once heard from.
    c.now += 10;
    c.heartbeat();
    await ctl.tick();
    expect(c.liveness(3)?.alive).toBe(true);
  });

  it('skips reading and planning while nothing is applied and no verdict changes', async () => {
    const { c, ctl } = setup();
    c.addStream('t', 3, 2);
    await ctl.tick(); // places and records liveness
    await ctl.tick(); // sees its own writes: settled
    const before = c.lists;
    for (let i = 0; i < 5; i++) {
      c.now += 100;
      c.heartbeat();
      expect((await ctl.tick())?.written).toBe(0);
    }
    expect(c.lists).toBe(before);
    // A write anywhere in the group: read again.
    c.addStream('u', 1, 1);
    await ctl.tick();
    expect(c.lists).toBe(before + 3);
    expect(c.assignments('u')).toHaveLength(1);
    await ctl.tick();
    // A verdict change with nothing applied: read again, and fail over.
    const settled = c.lists;
    c.now += TIMEOUT + 1;
    c.heartbeat(2);
    const r = await ctl.tick();
    expect(c.lists).toBe(settled + 3);
    expect(r?.dead).toEqual([2]);
    expect(c.assignments('t').map((a) => a.leader)).not.toContain(2);
  });

  it('resumes from the replicated state: a second controller on the same records plans nothing new', async () => {
    const { c, ctl } = setup();
    c.addStream('t', 4, 3);
    await ctl.tick();
    const placed = c.assignments('t');
    const other = new Controller({
      host: c,
      nodeTimeoutMs: TIMEOUT,
      keysMax: 100_000,
      logger,
      now: () => c.now,
    });
    const r = await other.tick();
    expect(r?.plan.changes).toEqual([]);
    expect(c.assignments('t')).toEqual(placed);
  });

  it('loses a compare-and-set race instead of overwriting, and converges next round', async () => {
    const { c, ctl } = setup();
    c.addStream('t', 2, 1);
    c.raceOn = ASSIGNMENTS_PREFIX;
    const r = await ctl.tick();
    expect(r?.conflicts).toBe(2);
    c.raceOn = undefined;
    // The racer's records are unreadable: the controller deletes them, then places again.
    await ctl.tick();
    await ctl.tick();
    expect(c.assignments('t')).toHaveLength(2);
  });

  it('refuses RF above the live count (unplaced gauge), then places once enough nodes are alive', async () => {
    const { c, ctl } = setup([1, 2]);
    c.addStream('t', 2, 3);
    const r = await ctl.tick();
    expect(r?.plan.refused[0]?.reason).toMatch(/replication factor 3 is above the 2 live node/);
    expect(c.assignments('t')).toEqual([]);
    c.memberIds = [1, 2, 3];
    c.heartbeat();
    await ctl.tick();
    expect(c.assignments('t').every((a) => a.replicas.length === 3)).toBe(true);
  });

  it('deletes the liveness record of a node that left and moves its partitions', async () => {
    const { c, ctl } = setup();
    c.addStream('t', 3, 2);
    await ctl.tick();
    expect(c.sm.list(LIVENESS_PREFIX, 10)).toHaveLength(3);
    c.memberIds = [1, 2];
    await ctl.tick();
    expect(c.liveness(3)).toBeUndefined();
    const after = c.assignments('t');
    for (const a of after) {
      expect(a.replicas).not.toContain(3);
      expect(a.replicas).toHaveLength(2);
    }
    expect(c.sm.get(assignmentKey('t', 0))).toBeDefined();
  });

  it('exports its gauges only while active', async () => {
    const c = new FakeCluster();
    c.heartbeat();
    const registry = new Registry();
    const ctl = new Controller({
      host: c,
      nodeTimeoutMs: TIMEOUT,
      keysMax: 100_000,
      logger,
      registry,
      now: () => c.now,
    });
    c.addStream('t', 5, 1);
    await ctl.tick();
    const text = await registry.metrics();
    expect(text).toMatch(/ferrymq_meta_controller_active 1/);
    expect(text).toMatch(/ferrymq_meta_assigned_partitions 5/);
    expect(text).toMatch(/ferrymq_meta_nodes_alive 3/);
    expect(text).toMatch(/ferrymq_meta_partition_leader_changes_total 5/);
    c.leader = false;
    await ctl.tick();
    expect(await registry.metrics()).toMatch(/ferrymq_meta_controller_active 0/);
  });
});
