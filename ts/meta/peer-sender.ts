/**
 * The calling side of the Raft transport: one gRPC client per peer, the
 * bounded per-peer queue of Raft messages batched into `Step` calls, the
 * probes that keep every member's health known, and the `Forward` and
 * `InstallSnapshotChunk` calls. grpc-transport.ts's header describes the
 * queueing and flushing rules.
 */
import * as grpc from '@grpc/grpc-js';
import type { Counter } from 'prom-client';
import { isErrorCode } from '../errors.ts';
import type { InstallSnapshot, Message, NodeId } from '../raft/types.ts';
import { clientCredentials, type PeerTls } from './peer-tls.ts';
import {
  ERROR_HEADER,
  ForwardError,
  type ForwardRequest,
  LEADER_HEADER,
  NODE_HEADER,
  type RaftClient,
  type StepBatch,
} from './raft-rpc.ts';
import type { SnapshotChunk } from './snapshot-assembler.ts';
import { chunkToPb } from './snapshot-wire.ts';
import { messageToPb, type PbMessage } from './wire.ts';

/** The sending side's settings: part of TransportOptions (grpc-transport.ts). */
export interface PeerSendOptions {
  nodeId: NodeId;
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
  /** Mutual TLS on the listener and toward peers; plaintext when absent. */
  tls?: PeerTls | undefined;
}

export interface PeerSenderOptions extends PeerSendOptions {
  /** The client class of the Raft service (raft-rpc.ts's loadService). */
  ClientCtor: grpc.ServiceClientConstructor;
  /** Where a member listens, or undefined if not (or no longer) a member. */
  addressOf(id: NodeId): string | undefined;
  /** Every member but this node: the peers to probe. */
  peers(): NodeId[];
  /** Snapshots do not go through the Step queue: snapshot-sender.ts sends them in chunks. */
  offerSnapshot(group: number, m: InstallSnapshot): void;
  /** `ferrymq_meta_peer_dropped_messages_total`, when metrics are on. */
  dropped?: Counter | undefined;
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

export class PeerSender {
  readonly #opts: PeerSenderOptions;
  readonly #peers = new Map<NodeId, Peer>();
  #closed = false;
  #probe: NodeJS.Timeout | undefined;

  constructor(opts: PeerSenderOptions) {
    this.#opts = opts;
  }

  /** Probes every `probeMs` from now on (once the listener is up). */
  startProbing(): void {
    this.#probe = setInterval(() => this.#probePeers(), this.#opts.probeMs);
    this.#probe.unref();
  }

  /** Queues each message for its addressee; an InstallSnapshot goes to `offerSnapshot` instead. */
  send(group: number, messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of messages) {
      const peer = this.#peer(m.to);
      if (!peer) continue;
      if (m.type === 'install-snapshot') {
        this.#opts.offerSnapshot(group, m);
        continue;
      }
      if (peer.queue.length >= this.#opts.queueMax) {
        peer.dropped++;
        this.#opts.dropped?.inc({ peer: String(peer.id) });
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
    const address = this.#opts.addressOf(id);
    if (!address) return undefined;
    let peer = this.#peers.get(id);
    if (peer && peer.address !== address) {
      peer.client.close();
      peer = undefined;
    }
    if (!peer) {
      const client = new this.#opts.ClientCtor(address, clientCredentials(this.#opts.tls), {
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
    for (const id of this.#opts.peers()) {
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
        this.#opts.dropped?.inc({ peer: String(peer.id) }, messages.length);
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
  sendChunk(to: NodeId, chunk: SnapshotChunk): Promise<number> {
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

  /** Stops sending and probing and closes every client; calls in flight fail. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#probe);
    for (const p of this.#peers.values()) p.client.close();
  }
}
