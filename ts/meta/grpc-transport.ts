/**
 * Raft between nodes over gRPC (proto/raft.proto, @grpc/grpc-js, loaded at
 * run time by @grpc/proto-loader). One `Step` call carries a batch of Raft
 * messages of every group from this node to one peer; `Forward` carries a
 * request to a group's leader.
 *
 * This module ties the sides together (listener, metrics, lifecycle);
 * raft-rpc.ts holds the service contract both sides share.
 *
 * Sending (peer-sender.ts): per peer, a bounded queue (`meta.peer_queue_max` messages) and up
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
 * Receiving (rpc-receiver.ts): the request bytes are decoded there (not by
 * grpc-js) so that bytes that do not decode get INVALID_ARGUMENT, like a
 * message that does not validate (wire.ts). A sender that is not a member
 * gets PERMISSION_DENIED; a batch for another node id FAILED_PRECONDITION.
 * The sender's id is claimed; with `meta.tls_*` set, only holders of a
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
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { PeerSender, type PeerSendOptions, type PeerStatus } from './peer-sender.ts';
import { createPeerListener } from './peer-tls.ts';
import { type ForwardRequest, loadService } from './raft-rpc.ts';
import { type ReceiverHandlers, RpcReceiver } from './rpc-receiver.ts';
import { SnapshotAssembler } from './snapshot-assembler.ts';
import { SnapshotSender } from './snapshot-sender.ts';
import type { SnapshotStaging } from './snapshot-staging.ts';

export type { PeerStatus } from './peer-sender.ts';
export { ForwardError, type ForwardKind, type ForwardRequest, PROTO_PATH } from './raft-rpc.ts';

export interface TransportHandlers extends ReceiverHandlers {
  /** Every member but this node: the peers to probe. */
  peers(): NodeId[];
  addressOf(id: NodeId): string | undefined;
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

export interface TransportOptions extends PeerSendOptions {
  host: string;
  port: number;
  snapshot: SnapshotTransferOptions;
  logger: Logger;
  registry?: Registry;
}

export class GrpcTransport {
  readonly #server: grpc.Server;
  #listener: NetServer | undefined;
  #injector: grpc.ConnectionInjector | undefined;
  readonly #sender: PeerSender;
  readonly #refused: Counter | undefined;
  readonly #snapshots: SnapshotSender;
  readonly #assembler: SnapshotAssembler;
  #closed = false;
  boundAddress = '';

  private constructor(opts: TransportOptions, handlers: TransportHandlers) {
    const service = loadService();
    const reg = opts.registry ? [opts.registry] : [];
    let dropped: Counter | undefined;
    if (opts.registry) {
      dropped = new Counter({
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
      const queued: Gauge = new Gauge({
        name: 'ferrymq_meta_peer_queue_messages',
        help: 'Raft messages queued for a peer (bounded by meta.peer_queue_max)',
        labelNames: ['peer'],
        registers: reg,
        collect: () => {
          for (const p of this.#sender.peers()) queued.set({ peer: String(p.id) }, p.queued);
        },
      });
    }
    this.#sender = new PeerSender({
      ...opts,
      ClientCtor: grpc.makeGenericClientConstructor(service, 'Raft'),
      addressOf: (id) => handlers.addressOf(id),
      peers: () => handlers.peers(),
      offerSnapshot: (group, m) => this.#snapshots.offer(group, m),
      dropped,
    });
    this.#snapshots = new SnapshotSender({
      chunkBytes: opts.snapshot.chunkBytes,
      sendChunk: (to, chunk) => this.#sender.sendChunk(to, chunk),
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
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': opts.messageBytesMax,
    });
    new RpcReceiver(opts.nodeId, handlers, this.#assembler, this.#refused).addTo(this.#server, service);
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
    t.#sender.startProbing();
    const addr = listener.address();
    const port = typeof addr === 'object' && addr ? addr.port : opts.port;
    t.boundAddress = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
    return t;
  }

  send(group: number, messages: readonly Message[]): void {
    this.#sender.send(group, messages);
  }

  /** Sends a request to `to` (a group's leader) and resolves with its result. */
  forward(to: NodeId, req: Omit<ForwardRequest, 'from'>): Promise<Uint8Array> {
    return this.#sender.forward(to, req);
  }

  peers(): PeerStatus[] {
    return this.#sender.peers();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sender.close();
    this.#snapshots.close();
    this.#assembler.close();
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
