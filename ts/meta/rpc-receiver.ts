/**
 * The serving side of the Raft transport: the gRPC service implementation
 * of `Step`, `Forward` and `InstallSnapshotChunk`. The request bytes are
 * decoded here (not by grpc-js) so that bytes that do not decode get
 * INVALID_ARGUMENT, like a message that does not validate (wire.ts). A
 * sender that is not a member gets PERMISSION_DENIED; a request for another
 * node id FAILED_PRECONDITION. Each refusal is counted by reason.
 */
import * as grpc from '@grpc/grpc-js';
import type { Counter } from 'prom-client';
import type { Message, NodeId } from '../raft/types.ts';
import {
  FORWARD_KINDS,
  type ForwardKind,
  type ForwardRequest,
  NODE_HEADER,
  type PbForward,
  type StepBatch,
  toStatus,
} from './raft-rpc.ts';
import { type SnapshotAssembler, type SnapshotChunk, SnapshotChunkError } from './snapshot-assembler.ts';
import { chunkFromPb, type PbSnapshotChunk } from './snapshot-wire.ts';
import { messageFromPb, WireError } from './wire.ts';

export interface ReceiverHandlers {
  isMember(id: NodeId): boolean;
  hasGroup(group: number): boolean;
  /** Hands a checked message to its group. */
  deliver(group: number, message: Message): void;
  /** Runs a forwarded request on this node (never forwards again). */
  forward(req: ForwardRequest): Promise<Uint8Array>;
}

type Call = grpc.ServerUnaryCall<Buffer, object>;
type Answer = grpc.sendUnaryData<object>;

export class RpcReceiver {
  readonly #nodeId: NodeId;
  readonly #handlers: ReceiverHandlers;
  readonly #assembler: SnapshotAssembler;
  readonly #refused: Counter | undefined;

  constructor(nodeId: NodeId, handlers: ReceiverHandlers, assembler: SnapshotAssembler, refused?: Counter) {
    this.#nodeId = nodeId;
    this.#handlers = handlers;
    this.#assembler = assembler;
    this.#refused = refused;
  }

  /** Registers the service on `server`, with requests left as bytes for the handlers to decode. */
  addTo(server: grpc.Server, service: grpc.ServiceDefinition): void {
    const raw = Object.fromEntries(
      Object.entries(service).map(([name, m]) => [name, { ...m, requestDeserialize: (b: Buffer) => b }]),
    ) as grpc.ServiceDefinition;
    const decodeStep = service.Step?.requestDeserialize as (b: Buffer) => StepBatch;
    const decodeForward = service.Forward?.requestDeserialize as (b: Buffer) => PbForward;
    const decodeChunk = service.InstallSnapshotChunk?.requestDeserialize as (b: Buffer) => PbSnapshotChunk;
    server.addService(raw, {
      Step: (call: Call, cb: Answer) => this.#onStep(call, cb, decodeStep),
      Forward: (call: Call, cb: Answer) => this.#onForward(call, cb, decodeForward),
      InstallSnapshotChunk: (call: Call, cb: Answer) => this.#onChunk(call, cb, decodeChunk),
    });
  }

  /** The common checks; false when the call was answered with an error. */
  #checkSender(call: Call, cb: Answer, from: number): boolean {
    const claimed = call.metadata.get(NODE_HEADER)[0];
    // A node never calls itself: a sender claiming this node's id is refused like a stranger.
    if (
      claimed === undefined ||
      Number(claimed) !== from ||
      from === this.#nodeId ||
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

  /** A request meant for another node id (a stale address): false when the call was answered with an error. */
  #checkAddressee(cb: Answer, what: string, to: number): boolean {
    if (to === this.#nodeId) return true;
    this.#refused?.inc({ reason: 'wrong_node' });
    cb({
      code: grpc.status.FAILED_PRECONDITION,
      details: `${what} for node ${to} reached node ${this.#nodeId}`,
    });
    return false;
  }

  #malformed(cb: Answer, err: unknown): void {
    this.#refused?.inc({ reason: 'malformed' });
    cb({ code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${(err as Error).message}` });
  }

  #onStep(call: Call, cb: Answer, decode: (b: Buffer) => StepBatch): void {
    let batch: StepBatch;
    try {
      batch = decode(call.request);
    } catch (err) {
      this.#malformed(cb, err);
      return;
    }
    if (!this.#checkSender(call, cb, batch.from)) return;
    if (!this.#checkAddressee(cb, 'batch', batch.to)) return;
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

  #onChunk(call: Call, cb: Answer, decode: (b: Buffer) => PbSnapshotChunk): void {
    let chunk: SnapshotChunk;
    try {
      chunk = chunkFromPb(decode(call.request));
    } catch (err) {
      this.#malformed(cb, err);
      return;
    }
    if (!this.#checkSender(call, cb, chunk.from)) return;
    if (!this.#checkAddressee(cb, 'snapshot chunk', chunk.to)) return;
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

  #onForward(call: Call, cb: Answer, decode: (b: Buffer) => PbForward): void {
    let req: PbForward;
    try {
      req = decode(call.request);
      if (!(FORWARD_KINDS as readonly string[]).includes(req.kind)) {
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
}
