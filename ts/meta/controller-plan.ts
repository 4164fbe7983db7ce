/**
 * The controller's decisions as a pure function: from the streams, the
 * current assignments, the members and which of them are alive, the
 * assignment records to write or delete. No clock, no I/O, no randomness:
 * the same input gives the same plan on any node, which is what lets a new
 * metadata leader pick up where the last one stopped.
 *
 * Rules (docs/raft.md, "Controller"):
 * - A new partition gets `replication_factor` distinct live nodes. Its leader
 *   is the live node leading the fewest partitions (then holding the fewest
 *   replicas, then the lowest id); the other replicas are the live nodes
 *   holding the fewest replicas (then leading the fewest, then lowest id).
 *   Loads count every assignment, including those planned earlier in the
 *   same round, so leaders and replicas spread evenly.
 * - A partition whose stream asks for more replicas than there are live
 *   nodes is not placed: the stream is reported as refused, and placed once
 *   enough nodes are alive.
 * - A partition whose leader is dead (or no longer a member) moves to its
 *   least-loaded live replica with leader_epoch + 1. With no live replica it
 *   moves to the least-loaded live node, which takes the dead leader's place
 *   among the replicas, and the record says data_loss_possible. With no live
 *   node at all it stays as it is (offline).
 * - A dead replica stays a replica (it is one again when it comes back);
 *   a node that left the cluster is dropped from every replica list and the
 *   list is topped up from live members, as it is for any partition with
 *   fewer replicas than its stream asks for.
 * - Assignments of deleted streams, or of partitions past a stream's
 *   partition count, are deleted.
 */
import type { NodeId } from '../raft/types.ts';
import { type Assignment, assignmentKey, type StreamSpec, sameAssignment } from './controller-records.ts';

export interface PlanInput {
  streams: ReadonlyMap<string, StreamSpec>;
  /** By topic, then partition: the record and its KV version. */
  assignments: ReadonlyMap<string, ReadonlyMap<number, { assignment: Assignment; version: number }>>;
  members: readonly NodeId[];
  alive: ReadonlySet<NodeId>;
}

export type PlanChange =
  | {
      kind: 'put';
      key: string;
      topic: string;
      partition: number;
      /** 0 for a new record. */
      ifVersion: number;
      assignment: Assignment;
      leaderChanged: boolean;
    }
  | { kind: 'delete'; key: string; topic: string; partition: number; ifVersion: number };

export interface Plan {
  changes: PlanChange[];
  /** Streams (some of) whose partitions cannot be placed, and why. */
  refused: { topic: string; unplaced: number; reason: string }[];
}

class Loads {
  readonly leaders = new Map<NodeId, number>();
  readonly replicas = new Map<NodeId, number>();

  add(a: Assignment, sign: 1 | -1): void {
    this.leaders.set(a.leader, (this.leaders.get(a.leader) ?? 0) + sign);
    for (const r of a.replicas) this.replicas.set(r, (this.replicas.get(r) ?? 0) + sign);
  }

  /** Least leaders, then least replicas, then lowest id. */
  leaderOrder = (a: NodeId, b: NodeId): number =>
    (this.leaders.get(a) ?? 0) - (this.leaders.get(b) ?? 0) ||
    (this.replicas.get(a) ?? 0) - (this.replicas.get(b) ?? 0) ||
    a - b;

  /** Least replicas, then least leaders, then lowest id. */
  replicaOrder = (a: NodeId, b: NodeId): number =>
    (this.replicas.get(a) ?? 0) - (this.replicas.get(b) ?? 0) ||
    (this.leaders.get(a) ?? 0) - (this.leaders.get(b) ?? 0) ||
    a - b;
}

const byNumber = (a: number, b: number): number => a - b;

export function plan(input: PlanInput): Plan {
  const members = new Set(input.members);
  const live = [...input.alive].filter((id) => members.has(id)).sort(byNumber);
  const loads = new Loads();
  for (const parts of input.assignments.values())
    for (const { assignment } of parts.values()) loads.add(assignment, 1);
  const changes: PlanChange[] = [];
  const refused: Plan['refused'] = [];

  const topics = [...input.assignments.keys()].sort();
  for (const topic of topics) {
    const parts = input.assignments.get(topic) ?? new Map();
    const stream = input.streams.get(topic);
    for (const partition of [...parts.keys()].sort(byNumber)) {
      const cur = parts.get(partition);
      if (!cur) continue;
      const key = assignmentKey(topic, partition);
      if (!stream || partition >= stream.partitions) {
        loads.add(cur.assignment, -1);
        changes.push({ kind: 'delete', key, topic, partition, ifVersion: cur.version });
        continue;
      }
      const next = repair(cur.assignment, stream, members, live, loads);
      if (!sameAssignment(next, cur.assignment)) {
        loads.add(cur.assignment, -1);
        loads.add(next, 1);
        changes.push({
          kind: 'put',
          key,
          topic,
          partition,
          ifVersion: cur.version,
          assignment: next,
          leaderChanged: next.leader !== cur.assignment.leader,
        });
      }
    }
  }

  for (const topic of [...input.streams.keys()].sort()) {
    const stream = input.streams.get(topic);
    if (!stream) continue;
    const parts = input.assignments.get(topic);
    const missing: number[] = [];
    for (let p = 0; p < stream.partitions; p++) if (!parts?.has(p)) missing.push(p);
    if (missing.length === 0) continue;
    if (stream.replication_factor > live.length) {
      refused.push({
        topic,
        unplaced: missing.length,
        reason: `replication factor ${stream.replication_factor} is above the ${live.length} live node(s)`,
      });
      continue;
    }
    for (const partition of missing) {
      const assignment = place(stream.replication_factor, live, loads);
      loads.add(assignment, 1);
      changes.push({
        kind: 'put',
        key: assignmentKey(topic, partition),
        topic,
        partition,
        ifVersion: 0,
        assignment,
        leaderChanged: true,
      });
    }
  }
  return { changes, refused };
}

function place(rf: number, live: readonly NodeId[], loads: Loads): Assignment {
  const leader = [...live].sort(loads.leaderOrder)[0] as NodeId;
  const others = live.filter((id) => id !== leader).sort(loads.replicaOrder);
  return { leader, replicas: [leader, ...others.slice(0, rf - 1)], leader_epoch: 0 };
}

function repair(
  cur: Assignment,
  stream: StreamSpec,
  members: ReadonlySet<NodeId>,
  live: readonly NodeId[],
  loads: Loads,
): Assignment {
  const isLive = (id: NodeId) => live.includes(id);
  let replicas = cur.replicas.filter((id) => members.has(id));
  let leader = cur.leader;
  let epoch = cur.leader_epoch;
  let dataLoss = cur.data_loss_possible ?? false;

  if (!isLive(leader) || !members.has(leader)) {
    const candidates = replicas.filter((id) => id !== leader && isLive(id));
    // Least-loaded live replica; among equals, the earlier one in the replica list (preference order).
    candidates.sort(
      (a, b) =>
        (loads.leaders.get(a) ?? 0) - (loads.leaders.get(b) ?? 0) ||
        replicas.indexOf(a) - replicas.indexOf(b),
    );
    const next = candidates[0];
    if (next !== undefined) {
      leader = next;
      epoch++;
      dataLoss = false;
    } else if (live.length > 0) {
      const fresh = live.filter((id) => !replicas.includes(id)).sort(loads.leaderOrder)[0];
      if (fresh !== undefined) {
        const at = replicas.indexOf(cur.leader);
        replicas = at >= 0 ? replicas.map((id) => (id === cur.leader ? fresh : id)) : [fresh, ...replicas];
        leader = fresh;
        epoch++;
        dataLoss = true;
      }
    }
  }
  if (!replicas.includes(leader)) replicas = [leader, ...replicas];

  const want = Math.min(stream.replication_factor, Math.max(live.length, replicas.length));
  if (replicas.length < want) {
    const extra = live.filter((id) => !replicas.includes(id)).sort(loads.replicaOrder);
    replicas = [...replicas, ...extra.slice(0, want - replicas.length)];
  }
  return { leader, replicas, leader_epoch: epoch, ...(dataLoss ? { data_loss_possible: true } : {}) };
}
