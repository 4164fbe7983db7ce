/**
 * Raft between nodes over gRPC (proto/raft.proto, @grpc/grpc-js, loaded at
 * run time by @grpc/proto-loader). One `Step` call carries a batch of Raft
 * messages of every group from this node to one peer; `Forward` carries a
 * request to a group's leader.
 *
 * Sending: per peer, a bounded queue (`meta.peer_queue_max` messages) and up
 * to `meta.peer_calls_in_flight_max` `Step` calls in flight. Messages sent
 * in one turn of the event loop (a Ready's appends, every group's heartbeats
 * of one timer run, the answers to one received batch) leave together in
 * one call, flushed by setImmediate;
 * when every call slot is busy, whatever queued meanwhile goes in the next
 * call (up to `batchMax` messages). More than one call in flight keeps an
 * append from waiting behind the round trip of an earlier call (a commit
 * notice, a heartbeat); Raft copes with the rare reordering. A full queue
 * drops the new message (counted in
 * `ferrymq_meta_peer_dropped_messages_total`): Raft tolerates loss and
 * resends. A failed call drops its batch and holds the peer's sending for
 * `retryMs`, so a dead peer costs a bounded queue and no busy loop.
 *
 * Receiving: the request bytes are decoded here (not by grpc-js) so that
 * bytes that do not decode get INVALID_ARGUMENT, like a message that does
 * not validate (wire.ts). A sender that is not a member gets
 * PERMISSION_DENIED; a batch for another node id FAILED_PRECONDITION. The
 * sender's id is claimed; with `meta.tls_*` set, only holders of a
 * certificate from the cluster's CA get a connection at all (peer-tls.ts),
 * without it the cluster listener must sit on a trusted network. Stale
 * terms are the core's business.
 *
 * Snapshots: an InstallSnapshot from the core does not go through the Step
 * queue; snapshot-sender.ts sends it as `InstallSnapshotChunk` calls of
 * `snapshot.chunkBytes`, and the receiver's snapshot-assembler.ts stages
 * them and hands the group one whole InstallSnapshot at the end.
 */
import type { Server as NetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type ErrorCode, FerryError, isErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { clientCredentials, createPeerListener, type PeerTls } from './peer-tls.ts';
import { SnapshotAssembler, type SnapshotChunk, SnapshotChunkError } from './snapshot-assembler.ts';
import { SnapshotSender } from './snapshot-sender.ts';
import type { SnapshotStaging } from './snapshot-staging.ts';
import { chunkFromPb, chunkToPb, type PbSnapshotChunk } from './snapshot-wire.ts';
import { messageFromPb, messageToPb, type PbMessage, WireError } from './wire.ts';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/raft.proto', import.meta.url));
const SERVICE = 'ferrymq.raft.v1.Raft';
const NODE_HEADER = 'x-ferrymq-node';
const ERROR_HEADER = 'x-ferrymq-error';
const LEADER_HEADER = 'x-ferrymq-leader';

export type ForwardKind = 'PROPOSE' | 'READ' | 'ADD_VOTER' | 'REMOVE_VOTER' | 'TRANSFER_LEADER';

export interface ForwardRequest {
  from: NodeId;
  group: number;
  kind: ForwardKind;
  payload: Uint8Array;
  node: NodeId;
}

export interface TransportHandlers {
  isMember(id: NodeId): boolean;
  /** Every member but this node: the peers to probe. */
  peers(): NodeId[];
  addressOf(id: NodeId): string | undefined;
  hasGroup(group: number): boolean;
  /** Hands a checked message to its group. */
  deliver(group: number, message: Message): void;
  /** Runs a forwarded request on this node (never forwards again). */
  forward(req: ForwardRequest): Promise<Uint8Array>;
  /** The group's current term here: snapshot chunks of older terms are refused or stop. */
  termOf(group: number): number;
}

export interface SnapshotTransferOptions {
  /** `meta.snapshot_chunk_bytes`. */
  chunkBytes: number;
  /** `meta.snapshot_bytes_max`: the largest snapshot this node accepts. */
  bytesMax: number;
  /** `meta.snapshot_transfer_timeout_ms`: a stalled incoming transfer is dropped. */
  timeoutMs: number;
  /** Where incoming chunks wait; emptied at start. */
  staging: SnapshotStaging;
}

export interface TransportOptions {
  nodeId: NodeId;
  host: string;
  port: number;
  queueMax: number;
  batchMax: number;
  /** Step calls in flight per peer (meta.peer_calls_in_flight_max). */
  callsInFlightMax: number;
  rpcTimeoutMs: number;
  retryMs: number;
  /**
   * A peer not answered for this long gets an empty Step (a probe), so
   * health is known for every member, not only the ones Raft talks to
   * (a follower sends nothing to another follower).
   */
  probeMs: number;
  messageBytesMax: number;
  snapshot: SnapshotTransferOptions;
  /** Mutual TLS on the listener and toward peers; plaintext when absent. */
  tls?: PeerTls;
  logger: Logger;
  registry?: Registry;
}

export interface PeerStatus {
  id: NodeId;
  address: string;
  /** Last Step call answered OK (ms since process start), or null. */
  lastOkMs: number | null;
  lastError: string | null;
  queued: number;
  dropped: number;
}

interface StepBatch {
  from: number;
  to: number;
  messages: PbMessage[];
}

interface PbForward {
  from: number;
  group: number;
  kind: string;
  payload: Buffer;
  node: number;
}

type RaftClient = grpc.Client & {
  Step(
    req: StepBatch,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null) => void,
  ): grpc.ClientUnaryCall;
  Forward(
    req: Omit<PbForward, 'payload'> & { payload: Uint8Array },
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { result: Buffer }) => void,
  ): grpc.ClientUnaryCall;
  InstallSnapshotChunk(
    req: PbSnapshotChunk,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { next_offset: string }) => void,
  ): grpc.ClientUnaryCall;
};

function loadService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(PROTO_PATH, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    arrays: true,
  });
  return def[SERVICE] as grpc.ServiceDefinition;
}

/** A gRPC error that carries a FerryError's code across the wire. */
function toStatus(status: grpc.status, err: unknown, leader?: NodeId): Partial<grpc.StatusObject> {
  const md = new grpc.Metadata();
  const code = err instanceof FerryError ? err.code : 'FERRY_ERR_NATIVE';
  md.set(ERROR_HEADER, code);
  if (leader) md.set(LEADER_HEADER, String(leader));
  return { code: status, details: err instanceof Error ? err.message : String(err), metadata: md };
}

export class ForwardError extends FerryError {
  readonly leader: NodeId;
  constructor(code: ErrorCode, message: string, leader: NodeId) {
    super(code, message);
    this.leader = leader;
  }
}

class Peer {
  readonly id: NodeId;
  readonly address: string;
  readonly client: RaftClient;
  queue: PbMessage[] = [];
  inFlight = 0;
  /** A flush is queued (setImmediate). */
  flushQueued = false;
  /** After a failed call: no sending until `retryMs` passed. */
  holding = false;
  lastOkMs: number | null = null;
  lastError: string | null = null;
  dropped = 0;
  constructor(id: NodeId, address: string, client: RaftClient) {
    this.id = id;
    this.address = address;
    this.client = client;
  }
}

export class GrpcTransport {
  readonly #opts: TransportOptions;
  readonly #handlers: TransportHandlers;
  readonly #server: grpc.Server;
  #listener: NetServer | undefined;
  #injector: grpc.ConnectionInjector | undefined;
  readonly #ClientCtor: grpc.ServiceClientConstructor;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #dropped: Counter | undefined;
  readonly #refused: Counter | undefined;
  readonly #queued: Gauge | undefined;
  readonly #snapshots: SnapshotSender;
  readonly #assembler: SnapshotAssembler;
  #closed = false;
  #probe: NodeJS.Timeout | undefined;
  boundAddress = '';

  private constructor(opts: TransportOptions, handlers: TransportHandlers) {
    this.#opts = opts;
    this.#handlers = handlers;
    const service = loadService();
    this.#ClientCtor = grpc.makeGenericClientConstructor(service, 'Raft');
    const raw = Object.fromEntries(
      Object.entries(service).map(([name, m]) => [name, { ...m, requestDeserialize: (b: Buffer) => b }]),
    ) as grpc.ServiceDefinition;
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': opts.messageBytesMax,
    });
    const decodeStep = service.Step?.requestDeserialize as (b: Buffer) => StepBatch;
    const decodeForward = service.Forward?.requestDeserialize as (b: Buffer) => PbForward;
    const decodeChunk = service.InstallSnapshotChunk?.requestDeserialize as (b: Buffer) => PbSnapshotChunk;
    this.#server.addService(raw, {
      Step: (call: grpc.ServerUnaryCall<Buffer, object>, cb: grpc.sendUnaryData<object>) =>
        this.#onStep(call, cb, decodeStep),
      Forward: (call: grpc.ServerUnaryCall<Buffer, object>, cb: grpc.sendUnaryData<object>) =>
        this.#onForward(call, cb, decodeForward),
      InstallSnapshotChunk: (call: grpc.ServerUnaryCall<Buffer, object>, cb: grpc.sendUnaryData<object>) =>
        this.#onChunk(call, cb, decodeChunk),
    });
    this.#snapshots = new SnapshotSender({
      chunkBytes: opts.snapshot.chunkBytes,
      sendChunk: (to, chunk) => this.#sendChunk(to, chunk),
      termOf: (group) => handlers.termOf(group),
      // probeMs is one election timeout: the core re-sends a snapshot about that often.
      resendGuardMs: 2 * opts.probeMs,
      logger: opts.logger,
      ...(opts.registry ? { registry: opts.registry } : {}),
    });
    this.#assembler = new SnapshotAssembler({
      staging: opts.snapshot.staging,
      bytesMax: opts.snapshot.bytesMax,
      timeoutMs: opts.snapshot.timeoutMs,
      termOf: (group) => handlers.termOf(group),
      ...(opts.registry ? { registry: opts.registry } : {}),
    });
    const reg = opts.registry ? [opts.registry] : [];
    if (opts.registry) {
      this.#dropped = new Counter({
        name: 'ferrymq_meta_peer_dropped_messages_total',
        help: 'Raft messages dropped because the peer send queue (meta.peer_queue_max) was full or the call failed',
        labelNames: ['peer'],
        registers: reg,
      });
      this.#refused = new Counter({
        name: 'ferrymq_meta_rpc_refused_total',
        help: 'Inter-node RPCs refused, by reason (unknown_member, wrong_node, malformed, tls: a handshake without a certificate from meta.tls_ca_file)',
        labelNames: ['reason'],
        registers: reg,
      });
      this.#queued = new Gauge({
        name: 'ferrymq_meta_peer_queue_messages',
        help: 'Raft messages queued for a peer (bounded by meta.peer_queue_max)',
        labelNames: ['peer'],
        registers: reg,
        collect: () => {
          for (const p of this.#peers.values()) this.#queued?.set({ peer: String(p.id) }, p.queue.length);
        },
      });
    }
  }

  static async start(opts: TransportOptions, handlers: TransportHandlers): Promise<GrpcTransport> {
    const t = new GrpcTransport(opts, handlers);
    // A transfer staged before a restart is worth nothing: its leader starts over.
    await opts.snapshot.staging.clear();
    // Our own TCP listener with Nagle off, handing connections to grpc-js:
    // grpc-js sets TCP_NODELAY on its client sockets but not on the ones its
    // server accepts, so each call's small response waited for a delayed ACK
    // (~40 ms) and held back the next batch to that peer. With mTLS the
    // listener terminates TLS itself (peer-tls.ts) and grpc-js gets the
    // decrypted stream.
    const injector = t.#server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const log = opts.logger.child({ component: 'meta-transport' });
    const listener = createPeerListener(
      opts.tls,
      (socket) => injector.injectConnection(socket),
      (err, remote, shouldLog) => {
        t.#refused?.inc({ reason: 'tls' });
        if (shouldLog) {
          log.warn({ remote, err: err.message }, 'cluster connection refused: TLS handshake failed');
        }
      },
    );
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(opts.port, opts.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    t.#listener = listener;
    t.#injector = injector;
    t.#probe = setInterval(() => t.#probePeers(), opts.probeMs);
    t.#probe.unref();
    const addr = listener.address();
    const port = typeof addr === 'object' && addr ? addr.port : opts.port;
    t.boundAddress = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
    return t;
  }

  // ---- sending ----

  send(group: number, messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of messages) {
      const peer = this.#peer(m.to);
      if (!peer) continue;
      if (m.type === 'install-snapshot') {
        this.#snapshots.offer(group, m);
        continue;
      }
      if (peer.queue.length >= this.#opts.queueMax) {
        peer.dropped++;
        this.#dropped?.inc({ peer: String(peer.id) });
        continue;
      }
      peer.queue.push(messageToPb(group, m));
      this.#queueFlush(peer);
    }
  }

  #queueFlush(peer: Peer): void {
    if (peer.flushQueued || peer.holding || peer.inFlight >= this.#opts.callsInFlightMax) return;
    peer.flushQueued = true;
    setImmediate(() => {
      peer.flushQueued = false;
      if (peer.inFlight < this.#opts.callsInFlightMax) this.#flush(peer);
    });
  }

  #peer(id: NodeId): Peer | undefined {
    const address = this.#handlers.addressOf(id);
    if (!address) return undefined;
    let peer = this.#peers.get(id);
    if (peer && peer.address !== address) {
      peer.client.close();
      peer = undefined;
    }
    if (!peer) {
      const client = new this.#ClientCtor(address, clientCredentials(this.#opts.tls), {
        'grpc.max_send_message_length': this.#opts.messageBytesMax,
        'grpc.max_receive_message_length': this.#opts.messageBytesMax,
        // Reconnect quickly after a peer restarts: elections are measured in hundreds of ms.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      }) as unknown as RaftClient;
      peer = new Peer(id, address, client);
      this.#peers.set(id, peer);
    }
    return peer;
  }

  #metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(NODE_HEADER, String(this.#opts.nodeId));
    return md;
  }

  #probePeers(): void {
    const now = performance.now();
    for (const id of this.#handlers.peers()) {
      const peer = this.#peer(id);
      if (!peer || peer.inFlight > 0 || peer.holding) continue;
      if (peer.lastOkMs !== null && now - peer.lastOkMs < this.#opts.probeMs) continue;
      this.#flush(peer, true);
    }
  }

  #flush(peer: Peer, probe = false): void {
    if (this.#closed || peer.holding || (peer.queue.length === 0 && !probe)) return;
    const messages = peer.queue.splice(0, this.#opts.batchMax);
    peer.inFlight++;
    const batch: StepBatch = { from: this.#opts.nodeId, to: peer.id, messages };
    peer.client.Step(batch, this.#metadata(), { deadline: Date.now() + this.#opts.rpcTimeoutMs }, (err) => {
      peer.inFlight--;
      if (err) {
        peer.lastError = `${grpc.status[err.code] ?? err.code}: ${err.details}`;
        peer.dropped += messages.length;
        this.#dropped?.inc({ peer: String(peer.id) }, messages.length);
        if (peer.holding) return;
        peer.holding = true;
        const t = setTimeout(() => {
          peer.holding = false;
          this.#flush(peer);
        }, this.#opts.retryMs);
        t.unref();
        return;
      }
      peer.lastOkMs = performance.now();
      peer.lastError = null;
      this.#flush(peer);
    });
  }

  /** Sends a request to `to` (a group's leader) and resolves with its result. */
  forward(to: NodeId, req: Omit<ForwardRequest, 'from'>): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const peer = this.#peer(to);
      if (!peer) {
        reject(new ForwardError('FERRY_ERR_NOT_LEADER', `no address known for leader ${to}`, 0));
        return;
      }
      peer.client.Forward(
        { from: this.#opts.nodeId, group: req.group, kind: req.kind, payload: req.payload, node: req.node },
        this.#metadata(),
        { deadline: Date.now() + this.#opts.rpcTimeoutMs },
        (err, res) => {
          if (!err) {
            resolve(new Uint8Array(res?.result ?? []));
            return;
          }
          const code = err.metadata?.get(ERROR_HEADER)[0];
          const leader = Number(err.metadata?.get(LEADER_HEADER)[0] ?? 0);
          // No FerryMQ code: the call itself failed. A deadline means the
          // leader may still commit it (timeout, outcome unknown); anything
          // else (unreachable, shutting down) is worth asking again.
          const fallback =
            err.code === grpc.status.DEADLINE_EXCEEDED ? 'FERRY_ERR_RAFT_TIMEOUT' : 'FERRY_ERR_NOT_LEADER';
          reject(
            new ForwardError(
              isErrorCode(code) ? code : fallback,
              `node ${to}: ${err.details || grpc.status[err.code]}`,
              Number.isInteger(leader) ? leader : 0,
            ),
          );
        },
      );
    });
  }

  /** One snapshot chunk to `to`; resolves with the offset it expects next. */
  #sendChunk(to: NodeId, chunk: SnapshotChunk): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const peer = this.#peer(to);
      if (!peer || this.#closed) {
        reject(new Error(`no address known for node ${to}`));
        return;
      }
      peer.client.InstallSnapshotChunk(
        chunkToPb(chunk),
        this.#metadata(),
        { deadline: Date.now() + this.#opts.rpcTimeoutMs },
        (err, res) => {
          if (err) reject(new Error(`${grpc.status[err.code] ?? err.code}: ${err.details}`));
          else resolve(Number(res?.next_offset ?? 0));
        },
      );
    });
  }

  peers(): PeerStatus[] {
    return [...this.#peers.values()].map((p) => ({
      id: p.id,
      address: p.address,
      lastOkMs: p.lastOkMs,
      lastError: p.lastError,
      queued: p.queue.length,
      dropped: p.dropped,
    }));
  }

  // ---- receiving ----

  /** The common checks; returns the sender's id, or answers the call with an error. */
  #checkSender(
    call: grpc.ServerUnaryCall<Buffer, object>,
    cb: grpc.sendUnaryData<object>,
    from: number,
  ): boolean {
    const claimed = call.metadata.get(NODE_HEADER)[0];
    // A node never calls itself: a sender claiming this node's id is refused like a stranger.
    if (
      claimed === undefined ||
      Number(claimed) !== from ||
      from === this.#opts.nodeId ||
      !this.#handlers.isMember(from)
    ) {
      this.#refused?.inc({ reason: 'unknown_member' });
      cb({
        code: grpc.status.PERMISSION_DENIED,
        details: `node ${String(claimed ?? from)} is not a member of this cluster`,
      });
      return false;
    }
    return true;
  }

  #malformed(cb: grpc.sendUnaryData<object>, err: unknown): void {
    this.#refused?.inc({ reason: 'malformed' });
    cb({ code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${(err as Error).message}` });
  }

  #onStep(
    call: grpc.ServerUnaryCall<Buffer, object>,
    cb: grpc.sendUnaryData<object>,
    decode: (b: Buffer) => StepBatch,
  ): void {
    let batch: StepBatch;
    try {
      batch = decode(call.request);
    } catch (err) {
      this.#malformed(cb, err);
      return;
    }
    if (!this.#checkSender(call, cb, batch.from)) return;
    if (batch.to !== this.#opts.nodeId) {
      this.#refused?.inc({ reason: 'wrong_node' });
      cb({
        code: grpc.status.FAILED_PRECONDITION,
        details: `batch for node ${batch.to} reached node ${this.#opts.nodeId}`,
      });
      return;
    }
    const decoded: { group: number; message: Message }[] = [];
    try {
      for (const pb of batch.messages) {
        const d = messageFromPb(pb, batch.from, batch.to);
        // A peer with another meta.shard_group_count: say so rather than drop in silence.
        if (!this.#handlers.hasGroup(d.group)) throw new WireError(`no raft group ${d.group} on this node`);
        decoded.push(d);
      }
    } catch (err) {
      // WireError, or a shape protobufjs let through that our checks trip on.
      this.#malformed(cb, err);
      return;
    }
    // Validated as a whole first, so a bad batch changes nothing.
    for (const { group, message } of decoded) this.#handlers.deliver(group, message);
    cb(null, {});
  }

  #onChunk(
    call: grpc.ServerUnaryCall<Buffer, object>,
    cb: grpc.sendUnaryData<object>,
    decode: (b: Buffer) => PbSnapshotChunk,
  ): void {
    let chunk: SnapshotChunk;
    try {
      chunk = chunkFromPb(decode(call.request));
    } catch (err) {
      this.#malformed(cb, err);
      return;
    }
    if (!this.#checkSender(call, cb, chunk.from)) return;
    if (chunk.to !== this.#opts.nodeId) {
      this.#refused?.inc({ reason: 'wrong_node' });
      cb({
        code: grpc.status.FAILED_PRECONDITION,
        details: `snapshot chunk for node ${chunk.to} reached node ${this.#opts.nodeId}`,
      });
      return;
    }
    if (!this.#handlers.hasGroup(chunk.group)) {
      this.#malformed(cb, new WireError(`no raft group ${chunk.group} on this node`));
      return;
    }
    this.#assembler.accept(chunk).then(
      (r) => {
        if (r.install) this.#handlers.deliver(chunk.group, r.install);
        cb(null, { next_offset: r.nextOffset });
      },
      (err: unknown) => {
        // Refused by the transfer rules: the leader starts over. Anything else is this node's storage.
        const code = err instanceof SnapshotChunkError ? grpc.status.ABORTED : grpc.status.INTERNAL;
        cb({ code, details: `snapshot chunk refused: ${(err as Error).message}` });
      },
    );
  }

  #onForward(
    call: grpc.ServerUnaryCall<Buffer, object>,
    cb: grpc.sendUnaryData<object>,
    decode: (b: Buffer) => PbForward,
  ): void {
    let req: PbForward;
    try {
      req = decode(call.request);
      if (!['PROPOSE', 'READ', 'ADD_VOTER', 'REMOVE_VOTER', 'TRANSFER_LEADER'].includes(req.kind)) {
        throw new WireError(`unknown forward kind ${req.kind}`);
      }
    } catch (err) {
      this.#malformed(cb, err);
      return;
    }
    if (!this.#checkSender(call, cb, req.from)) return;
    this.#handlers
      .forward({
        from: req.from,
        group: req.group,
        kind: req.kind as ForwardKind,
        payload: new Uint8Array(req.payload),
        node: req.node,
      })
      .then(
        (result) => cb(null, { result: Buffer.from(result) }),
        (err: unknown) => {
          const leader = (err as { leader?: unknown }).leader;
          cb(toStatus(grpc.status.FAILED_PRECONDITION, err, typeof leader === 'number' ? leader : undefined));
        },
      );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#probe);
    this.#snapshots.close();
    this.#assembler.close();
    for (const p of this.#peers.values()) p.client.close();
    this.#listener?.close();
    this.#injector?.drain(500);
    await new Promise<void>((resolve) => {
      this.#server.tryShutdown(() => resolve());
      // Calls still open after a second are cut: shutdown must be bounded.
      setTimeout(() => {
        this.#server.forceShutdown();
        this.#injector?.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}
