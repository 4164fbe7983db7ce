/**
 * The controller's records in the metadata group, their keys and their
 * JSON shapes (docs/raft.md, "Controller"):
 *
 * - `streams/<topic>` = { partitions, replication_factor }: what an operator
 *   (or the Kafka layer) asked for.
 * - `assignments/<topic>/<partition>` = { leader, replicas, leader_epoch,
 *   data_loss_possible? }: where the controller placed each partition.
 * - `liveness/<node>` = { alive, since }: the controller's verdict on a
 *   node and the wall-clock time (ms) it last changed.
 *
 * Every record is written through Raft, so a new controller resumes from
 * them. Parsing is defensive: the metadata KV is also writable through the
 * admin API, and one bad record must not stop the controller; it is
 * skipped (a stream) or replaced (an assignment).
 */
import type { NodeId } from '../raft/types.ts';

export const STREAMS_PREFIX = 'streams/';
export const ASSIGNMENTS_PREFIX = 'assignments/';
export const LIVENESS_PREFIX = 'liveness/';

/** Kafka's topic-name rule, which also keeps `/` out of the keys above. */
export const STREAM_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export interface StreamSpec {
  partitions: number;
  replication_factor: number;
}

export interface Assignment {
  leader: NodeId;
  /** Distinct nodes; the first is the preferred leader. */
  replicas: NodeId[];
  /** Raised by one on every leader change, like Kafka's leader epoch. */
  leader_epoch: number;
  /** The leader was chosen outside the replicas: it may not hold the partition's data. */
  data_loss_possible?: boolean;
}

export interface Liveness {
  alive: boolean;
  /** Wall-clock ms of the last change of `alive`. */
  since: number;
}

export const streamKey = (topic: string): string => `${STREAMS_PREFIX}${topic}`;
export const assignmentKey = (topic: string, partition: number): string =>
  `${ASSIGNMENTS_PREFIX}${topic}/${partition}`;
export const livenessKey = (node: NodeId): string => `${LIVENESS_PREFIX}${node}`;

const isNodeId = (v: unknown): v is NodeId => Number.isInteger(v) && (v as number) > 0;

function parseObject(value: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(value);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function parseStream(value: string): StreamSpec | undefined {
  const o = parseObject(value);
  if (!o) return undefined;
  const { partitions, replication_factor } = o;
  if (!Number.isInteger(partitions) || (partitions as number) < 1) return undefined;
  if (!Number.isInteger(replication_factor) || (replication_factor as number) < 1) return undefined;
  return { partitions: partitions as number, replication_factor: replication_factor as number };
}

export function parseAssignment(value: string): Assignment | undefined {
  const o = parseObject(value);
  if (!o) return undefined;
  const { leader, replicas, leader_epoch, data_loss_possible } = o;
  if (!isNodeId(leader) || !Array.isArray(replicas) || !replicas.every(isNodeId)) return undefined;
  if (new Set(replicas).size !== replicas.length || !replicas.includes(leader)) return undefined;
  if (!Number.isInteger(leader_epoch) || (leader_epoch as number) < 0) return undefined;
  return {
    leader,
    replicas: [...replicas],
    leader_epoch: leader_epoch as number,
    ...(data_loss_possible === true ? { data_loss_possible: true } : {}),
  };
}

export function parseLiveness(value: string): Liveness | undefined {
  const o = parseObject(value);
  if (!o || typeof o.alive !== 'boolean' || typeof o.since !== 'number') return undefined;
  return { alive: o.alive, since: o.since };
}

/** `assignments/<topic>/<partition>` → its parts, or undefined for a key of another shape. */
export function parseAssignmentKey(key: string): { topic: string; partition: number } | undefined {
  if (!key.startsWith(ASSIGNMENTS_PREFIX)) return undefined;
  const rest = key.slice(ASSIGNMENTS_PREFIX.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const partition = Number(rest.slice(slash + 1));
  if (!Number.isInteger(partition) || partition < 0 || String(partition) !== rest.slice(slash + 1)) {
    return undefined;
  }
  return { topic: rest.slice(0, slash), partition };
}

export function sameAssignment(a: Assignment, b: Assignment): boolean {
  return (
    a.leader === b.leader &&
    a.leader_epoch === b.leader_epoch &&
    (a.data_loss_possible ?? false) === (b.data_loss_possible ?? false) &&
    a.replicas.length === b.replicas.length &&
    a.replicas.every((r, i) => b.replicas[i] === r)
  );
}
