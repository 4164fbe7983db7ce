import { bool, integer, type KeySpec, nonEmptyString } from './value-parsers.ts';

/** `[meta]`: the Raft meta service (ts/meta/, docs/raft.md). */
export interface MetaConfig {
  join: boolean;
  tick_ms: number;
  election_tick_count: number;
  heartbeat_tick_count: number;
  shard_group_count: number;
  snapshot_entry_count: number;
  request_timeout_ms: number;
  pending_max: number;
  peer_queue_max: number;
  peer_calls_in_flight_max: number;
  rpc_bytes_max: number;
  watch_queue_max: number;
  kv_keys_max: number;
  kv_value_bytes_max: number;
  snapshot_chunk_bytes: number;
  snapshot_bytes_max: number;
  snapshot_transfer_timeout_ms: number;
  tls_cert_file: string;
  tls_key_file: string;
  tls_ca_file: string;
  node_timeout_ms: number;
  stream_partitions_max: number;
}

export const META_KEYS: readonly KeySpec<unknown>[] = [
  {
    key: 'meta.join',
    default: false,
    doc: 'Start as a new member of an existing cluster: no voters until a member adds this node (POST /api/v1/cluster/members); off means cluster.members are the first voters',
    parse: bool,
  },
  {
    key: 'meta.tick_ms',
    default: 50,
    doc: 'Raft tick length; election and heartbeat intervals are counted in ticks',
    parse: integer(1, 10_000),
  },
  {
    key: 'meta.election_tick_count',
    default: 10,
    doc: 'Minimum election timeout in ticks (the actual one is random in [n, 2n)); also the check-quorum period',
    parse: integer(2, 10_000),
  },
  {
    key: 'meta.heartbeat_tick_count',
    default: 2,
    doc: 'Leader heartbeat interval in ticks (less than meta.election_tick_count)',
    parse: integer(1, 10_000),
  },
  {
    key: 'meta.shard_group_count',
    default: 2,
    doc: 'Raft groups each for "sessions" and "offsets" data, sharded by key hash; with "metadata" the node runs 1 + 2n groups',
    parse: integer(1, 1000),
  },
  {
    key: 'meta.snapshot_entry_count',
    default: 10_000,
    doc: 'A group snapshots its state machine every this many applied entries; a leader drops its log up to the snapshot once every follower has those entries (at the latest after twice this many, so a follower that is down is sent the snapshot)',
    parse: integer(10, 100_000_000),
  },
  {
    key: 'meta.request_timeout_ms',
    default: 5000,
    doc: 'Bound on a proposal, read or forwarded call (FERRY_ERR_RAFT_TIMEOUT), and on one inter-node RPC',
    parse: integer(100, 600_000),
  },
  {
    key: 'meta.pending_max',
    default: 10_000,
    doc: 'Per group: proposals and reads waiting at once; more get FERRY_ERR_OVERLOADED (gauge ferrymq_meta_pending_requests)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'meta.peer_queue_max',
    default: 4096,
    doc: 'Raft messages queued per peer while a call is in flight; beyond it new ones are dropped (ferrymq_meta_peer_dropped_messages_total)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'meta.peer_calls_in_flight_max',
    default: 4,
    doc: 'Raft Step calls in flight per peer at once; more keep an append from waiting behind an earlier call, fewer make bigger batches (messages wait in meta.peer_queue_max)',
    parse: integer(1, 64),
  },
  {
    key: 'meta.rpc_bytes_max',
    default: 64 * 1024 * 1024,
    doc: 'Largest inter-node gRPC message sent or received (a batch of Raft messages, or a snapshot chunk)',
    parse: integer(64 * 1024, 1 << 30),
  },
  {
    key: 'meta.watch_queue_max',
    default: 1000,
    doc: 'Changes queued per watcher; a watcher that falls this far behind is ended with FERRY_ERR_OVERLOADED and must re-read (ferrymq_meta_watch_overflows)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'meta.kv_keys_max',
    default: 100_000,
    doc: 'Keys the cluster KV (PUT /api/v1/cluster/kv/...) may hold; a put of a new key beyond it gets 429 (gauge ferrymq_meta_kv_keys)',
    parse: integer(1, 100_000_000),
  },
  {
    key: 'meta.kv_value_bytes_max',
    default: 64 * 1024,
    doc: 'Largest key plus value in the cluster KV, in UTF-8 bytes (413 beyond it)',
    parse: integer(64, 16 * 1024 * 1024),
  },
  {
    key: 'meta.snapshot_chunk_bytes',
    default: 1024 * 1024,
    doc: 'A snapshot goes to a lagging follower in chunks of this many bytes, one chunk in flight (at most meta.rpc_bytes_max - 4096)',
    parse: integer(1024, 256 * 1024 * 1024),
  },
  {
    key: 'meta.snapshot_bytes_max',
    default: 1024 * 1024 * 1024,
    doc: 'Largest snapshot a follower accepts; a transfer announcing more is refused (the whole snapshot is held in memory once complete)',
    parse: integer(64 * 1024, 2 ** 32 - 1),
  },
  {
    key: 'meta.snapshot_transfer_timeout_ms',
    default: 30_000,
    doc: 'A follower drops a partly received snapshot (its staged chunks) after this long without a chunk; the leader starts over',
    parse: integer(100, 3_600_000),
  },
  {
    key: 'meta.tls_cert_file',
    default: '',
    doc: 'PEM certificate (chain) this node presents on listeners.cluster and to its peers (mutual TLS); set all three meta.tls_* keys or none',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'meta.tls_key_file',
    default: '',
    doc: 'PEM private key for meta.tls_cert_file',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'meta.tls_ca_file',
    default: '',
    doc: 'PEM CA bundle that every peer certificate (client and server side) must chain to',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'meta.node_timeout_ms',
    default: 6000,
    doc: 'The controller (on the metadata leader) marks a node dead after this long without Raft contact and moves the partitions it leads to live replicas (gauge ferrymq_meta_nodes_alive); at least twice the election timeout',
    parse: integer(100, 3_600_000),
  },
  {
    key: 'meta.stream_partitions_max',
    default: 10_000,
    doc: 'Partitions one stream registered with the controller (POST /api/v1/cluster/streams) may have; more get 400 (gauge ferrymq_meta_assigned_partitions)',
    parse: integer(1, 1_000_000),
  },
];
