/**
 * The meta service's Raft groups and how keys map to them (multi-raft):
 * group 0 is `metadata` (nodes, streams/topics and their config, later users
 * and ACLs); groups 1..n are `sessions-<i>` and n+1..2n `offsets-<i>`,
 * where n is `meta.shard_group_count`. A sessions or offsets key lives in the
 * group `fnv1a(key) mod n` of its kind. Every group has its own leader,
 * log and state machine, over the same transport and the same KV store.
 *
 * The map from key to group is fixed by n: changing `meta.shard_group_count` on
 * an existing cluster would move keys, so it must stay the same for a data
 * dir (the group ids are stored with every log key).
 */

export type GroupKind = 'metadata' | 'sessions' | 'offsets';

export const METADATA_GROUP = 0;

export interface GroupSpec {
  id: number;
  name: string;
  kind: GroupKind;
}

export function groupSpecs(shardGroups: number): GroupSpec[] {
  const out: GroupSpec[] = [{ id: METADATA_GROUP, name: 'metadata', kind: 'metadata' }];
  for (let i = 0; i < shardGroups; i++) out.push({ id: 1 + i, name: `sessions-${i}`, kind: 'sessions' });
  for (let i = 0; i < shardGroups; i++) {
    out.push({ id: 1 + shardGroups + i, name: `offsets-${i}`, kind: 'offsets' });
  }
  return out;
}

/** 32-bit FNV-1a over the key's UTF-8 bytes: stable across nodes and versions. */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(key)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function groupForKey(kind: GroupKind, key: string, shardGroups: number): number {
  if (kind === 'metadata') return METADATA_GROUP;
  const i = fnv1a(key) % shardGroups;
  return kind === 'sessions' ? 1 + i : 1 + shardGroups + i;
}
