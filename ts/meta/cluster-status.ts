/**
 * The meta service's view of the cluster for the admin API
 * (`GET /api/v1/cluster/status`): members, every Raft group as this node
 * sees it, and each node's health from the transport's last contact.
 */
import type { NodeId } from '../raft/types.ts';
import type { PeerStatus } from './grpc-transport.ts';
import type { GroupStatus } from './raft-group.ts';

export interface NodeHealth {
  id: NodeId;
  address: string;
  self: boolean;
  /** 'up': answered a Raft call within 3 election timeouts; 'down': not; 'unknown': never called. */
  health: 'up' | 'down' | 'unknown';
  last_contact_ms_ago: number | null;
  last_error: string | null;
  queued_messages: number;
  dropped_messages: number;
}

export interface ClusterStatus {
  node_id: NodeId;
  members: { id: NodeId; address: string; voter_in: string[] }[];
  groups: {
    name: string;
    id: number;
    role: string;
    leader: NodeId;
    term: number;
    commit_index: number;
    applied_index: number;
    last_index: number;
    snapshot_index: number;
    snapshots_installed: number;
    voters: readonly NodeId[];
  }[];
  nodes: NodeHealth[];
}

/** What the status is made of, read from the meta service at the call. */
export interface StatusInput {
  nodeId: NodeId;
  groups: GroupStatus[];
  /** Every node id known here: this node, the configured members, the nodes/ records, every group's voters. */
  ids: Set<NodeId>;
  peers: PeerStatus[];
  /** A peer not answering for this long is 'down' (3 election timeouts). */
  staleMs: number;
  boundAddress: string;
  addressOf(id: NodeId): string | undefined;
}

export function clusterStatus(s: StatusInput): ClusterStatus {
  const groups = s.groups;
  const ids = s.ids;
  const peers = new Map<NodeId, PeerStatus>(s.peers.map((p) => [p.id, p]));
  const stale = s.staleMs;
  const now = performance.now();
  const sorted = [...ids].sort((a, b) => a - b);
  return {
    node_id: s.nodeId,
    members: sorted.map((id) => ({
      id,
      address: id === s.nodeId ? (s.addressOf(id) ?? s.boundAddress) : (s.addressOf(id) ?? ''),
      voter_in: groups.filter((g) => g.voters.includes(id)).map((g) => g.name),
    })),
    groups: groups.map((g) => ({
      name: g.name,
      id: g.group,
      role: g.role,
      leader: g.leader,
      term: g.term,
      commit_index: g.commitIndex,
      applied_index: g.appliedIndex,
      last_index: g.lastIndex,
      snapshot_index: g.snapshotIndex,
      snapshots_installed: g.snapshotsInstalled,
      voters: g.voters,
    })),
    nodes: sorted.map((id): NodeHealth => {
      const p = peers.get(id);
      const self = id === s.nodeId;
      const ago = p?.lastOkMs == null ? null : Math.round(now - p.lastOkMs);
      return {
        id,
        address: self ? s.boundAddress : (s.addressOf(id) ?? ''),
        self,
        health: self
          ? 'up'
          : ago === null
            ? p?.lastError
              ? 'down'
              : 'unknown'
            : ago <= stale
              ? 'up'
              : 'down',
        last_contact_ms_ago: self ? 0 : ago,
        last_error: p?.lastError ?? null,
        queued_messages: p?.queued ?? 0,
        dropped_messages: p?.dropped ?? 0,
      };
    }),
  };
}
