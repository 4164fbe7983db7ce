/**
 * Streams registered with the controller, and the views of their
 * assignments the admin API and brokers read (docs/raft.md, "Controller").
 * Registering a stream only writes `streams/<topic>`; the controller on the
 * metadata leader places its partitions on its next round.
 */
import { FerryError } from '../errors.ts';
import type { NodeId } from '../raft/types.ts';
import {
  ASSIGNMENTS_PREFIX,
  type Assignment,
  LIVENESS_PREFIX,
  type Liveness,
  parseAssignment,
  parseAssignmentKey,
  parseLiveness,
  parseStream,
  STREAM_NAME,
  STREAMS_PREFIX,
  type StreamSpec,
  streamKey,
} from './controller-records.ts';
import { METADATA_GROUP } from './groups.ts';
import type { KvItem } from './kv-state-machine.ts';
import type { MetaService } from './service.ts';

export interface StreamView extends StreamSpec {
  topic: string;
  /** Placed partitions, by partition number. */
  assignments: (Assignment & { partition: number; leader_alive: boolean })[];
  /** Partitions the controller has not placed (yet, or refused: RF above the live node count). */
  unplaced: number[];
}

/**
 * The live members as the controller last recorded them: metadata voters
 * whose `liveness/` record does not say dead (a voter with no record yet
 * counts as live: the controller has not judged it).
 */
export async function liveMembers(meta: MetaService): Promise<{ voters: NodeId[]; live: NodeId[] }> {
  const voters = [...(meta.groups()[METADATA_GROUP]?.voters ?? [])].sort((a, b) => a - b);
  const records = new Map<string, Liveness | undefined>(
    (await meta.list(METADATA_GROUP, LIVENESS_PREFIX, meta.config.kv_keys_max)).map((i) => [
      i.key,
      parseLiveness(i.value),
    ]),
  );
  const live = voters.filter((id) => records.get(`${LIVENESS_PREFIX}${id}`)?.alive !== false);
  return { voters, live };
}

export async function createStream(
  meta: MetaService,
  topic: string,
  spec: StreamSpec,
): Promise<{ version: number; live: NodeId[] }> {
  const c = meta.config;
  if (!STREAM_NAME.test(topic) || topic === '.' || topic === '..') {
    throw new FerryError(
      'FERRY_ERR_INVALID_ARGUMENT',
      `"${topic}" is not a stream name (1-249 of [a-zA-Z0-9._-])`,
    );
  }
  if (
    !Number.isInteger(spec.partitions) ||
    spec.partitions < 1 ||
    spec.partitions > c.stream_partitions_max
  ) {
    throw new FerryError(
      'FERRY_ERR_INVALID_ARGUMENT',
      `partitions must be 1..${c.stream_partitions_max} (meta.stream_partitions_max)`,
    );
  }
  if (!Number.isInteger(spec.replication_factor) || spec.replication_factor < 1) {
    throw new FerryError('FERRY_ERR_INVALID_ARGUMENT', 'replication_factor must be an integer >= 1');
  }
  const { live } = await liveMembers(meta);
  if (spec.replication_factor > live.length) {
    throw new FerryError(
      'FERRY_ERR_REPLICATION_FACTOR',
      `replication factor ${spec.replication_factor} is above the ${live.length} live node(s) (${live.join(', ') || 'none'})`,
    );
  }
  // The stream record plus one assignment per partition must fit in the KV (this node's count: see cluster.ts).
  if (meta.localSize(METADATA_GROUP) + spec.partitions + 1 > c.kv_keys_max) {
    throw new FerryError(
      'FERRY_ERR_OVERLOADED',
      `${spec.partitions} partitions would pass meta.kv_keys_max (${c.kv_keys_max}) metadata keys`,
    );
  }
  const r = await meta.propose(METADATA_GROUP, {
    op: 'put',
    key: streamKey(topic),
    value: JSON.stringify({ partitions: spec.partitions, replication_factor: spec.replication_factor }),
    ifVersion: 0,
  });
  if (!r.ok) throw new FerryError('FERRY_ERR_TOPIC_EXISTS', `stream "${topic}" exists`);
  return { version: r.version, live };
}

/** Deletes the stream record; the controller deletes its assignments on its next round. */
export async function deleteStream(meta: MetaService, topic: string): Promise<boolean> {
  if (!STREAM_NAME.test(topic)) return false;
  const key = streamKey(topic);
  const cur = await meta.get(METADATA_GROUP, key);
  if (!cur) return false;
  const r = await meta.propose(METADATA_GROUP, { op: 'delete', key, ifVersion: cur.version });
  return r.ok;
}

/** Every stream (or one) with its assignments, read linearizably. */
export async function readStreams(meta: MetaService, topic?: string): Promise<StreamView[]> {
  const max = meta.config.kv_keys_max;
  if (topic !== undefined && !STREAM_NAME.test(topic)) return [];
  const [streams, assignments, liveness] = await Promise.all([
    topic === undefined
      ? meta.list(METADATA_GROUP, STREAMS_PREFIX, max)
      : meta.get(METADATA_GROUP, streamKey(topic)).then((i): KvItem[] => (i ? [i] : [])),
    meta.list(
      METADATA_GROUP,
      topic === undefined ? ASSIGNMENTS_PREFIX : `${ASSIGNMENTS_PREFIX}${topic}/`,
      max,
    ),
    meta.list(METADATA_GROUP, LIVENESS_PREFIX, max),
  ]);
  const dead = new Set(
    liveness
      .filter((i) => parseLiveness(i.value)?.alive === false)
      .map((i) => Number(i.key.slice(LIVENESS_PREFIX.length))),
  );
  const byTopic = new Map<string, Map<number, Assignment>>();
  for (const item of assignments) {
    const at = parseAssignmentKey(item.key);
    const a = parseAssignment(item.value);
    if (!at || !a) continue;
    let parts = byTopic.get(at.topic);
    if (!parts) {
      parts = new Map();
      byTopic.set(at.topic, parts);
    }
    parts.set(at.partition, a);
  }
  const out: StreamView[] = [];
  for (const item of streams) {
    const spec = parseStream(item.value);
    if (!spec) continue;
    const name = item.key.slice(STREAMS_PREFIX.length);
    const parts = byTopic.get(name) ?? new Map<number, Assignment>();
    const view: StreamView = { topic: name, ...spec, assignments: [], unplaced: [] };
    for (let p = 0; p < spec.partitions; p++) {
      const a = parts.get(p);
      if (a) view.assignments.push({ partition: p, ...a, leader_alive: !dead.has(a.leader) });
      else view.unplaced.push(p);
    }
    out.push(view);
  }
  return out;
}

/**
 * Each node's liveness as the controller last recorded it, from this node's
 * copy of the metadata group (no quorum needed: it is for status pages).
 */
export function localLiveness(meta: MetaService): Map<NodeId, Liveness> {
  const out = new Map<NodeId, Liveness>();
  for (const item of meta.localList(METADATA_GROUP, LIVENESS_PREFIX)) {
    const id = Number(item.key.slice(LIVENESS_PREFIX.length));
    const rec = parseLiveness(item.value);
    if (Number.isInteger(id) && rec) out.set(id, rec);
  }
  return out;
}
