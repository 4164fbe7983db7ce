/**
 * The inter-node Raft service's contract (proto/raft.proto), shared by the
 * sending side (peer-sender.ts) and the receiving side (rpc-receiver.ts):
 * the service definition, the metadata headers, the proto-loader shapes of
 * the requests, and how a FerryError crosses the wire.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type ErrorCode, FerryError } from '../errors.ts';
import type { NodeId } from '../raft/types.ts';
import type { PbSnapshotChunk } from './snapshot-wire.ts';
import type { PbMessage } from './wire.ts';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/raft.proto', import.meta.url));
const SERVICE = 'ferrymq.raft.v1.Raft';
/** The caller's node id, on every call. */
export const NODE_HEADER = 'x-ferrymq-node';
/** On a failed Forward: the FerryError code. */
export const ERROR_HEADER = 'x-ferrymq-error';
/** On a failed Forward: the leader the callee knows of, if any. */
export const LEADER_HEADER = 'x-ferrymq-leader';

export const FORWARD_KINDS = ['PROPOSE', 'READ', 'ADD_VOTER', 'REMOVE_VOTER', 'TRANSFER_LEADER'] as const;
export type ForwardKind = (typeof FORWARD_KINDS)[number];

export interface ForwardRequest {
  from: NodeId;
  group: number;
  kind: ForwardKind;
  payload: Uint8Array;
  node: NodeId;
}

export interface StepBatch {
  from: number;
  to: number;
  messages: PbMessage[];
}

export interface PbForward {
  from: number;
  group: number;
  kind: string;
  payload: Buffer;
  node: number;
}

export type RaftClient = grpc.Client & {
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

export function loadService(): grpc.ServiceDefinition {
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
export function toStatus(status: grpc.status, err: unknown, leader?: NodeId): Partial<grpc.StatusObject> {
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
