/**
 * One Kafka request frame in, one response frame (or none) out: reads the
 * request header, checks the API and version against what this broker
 * serves, runs the handler and frames the answer with the right response
 * header version. Anything undecodable throws (a KafkaProtocolError or a
 * KafkaConnectionError): the server closes that connection.
 */
import type { Config } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import type { PartitionDirectory } from '../meta/controller-directory.ts';
import type { Storage } from '../storage/storage.ts';
import { handleAlterConfigs, handleIncrementalAlterConfigs } from './apis/alter-configs.ts';
import { handleApiVersions, unsupportedApiVersions } from './apis/api-versions.ts';
import { handleCreatePartitions } from './apis/create-partitions.ts';
import { handleCreateTopics } from './apis/create-topics.ts';
import { handleDeleteGroups } from './apis/delete-groups.ts';
import { handleDeleteRecords } from './apis/delete-records.ts';
import { handleDeleteTopics } from './apis/delete-topics.ts';
import { handleDescribeCluster } from './apis/describe-cluster.ts';
import { handleDescribeConfigs } from './apis/describe-configs.ts';
import { handleDescribeGroups } from './apis/describe-groups.ts';
import { handleFetch } from './apis/fetch.ts';
import type { FetchReads } from './apis/fetch-reads.ts';
import { handleFindCoordinator } from './apis/find-coordinator.ts';
import { handleHeartbeat } from './apis/heartbeat.ts';
import { handleInitProducerId } from './apis/init-producer-id.ts';
import { handleJoinGroup } from './apis/join-group.ts';
import { handleLeaveGroup } from './apis/leave-group.ts';
import { handleListGroups } from './apis/list-groups.ts';
import { handleListOffsets } from './apis/list-offsets.ts';
import { handleMetadata } from './apis/metadata.ts';
import { handleOffsetCommit } from './apis/offset-commit.ts';
import { handleOffsetFetch } from './apis/offset-fetch.ts';
import { handleOffsetForLeaderEpoch } from './apis/offset-for-leader-epoch.ts';
import { handleProduce } from './apis/produce.ts';
import { handleSyncGroup } from './apis/sync-group.ts';
import type { GroupCoordinator } from './groups/coordinator.ts';
import type { Producers } from './producers/producers.ts';
import {
  ApiKey,
  decodeRequestHeader,
  encodeResponseHeader,
  type RequestHeader,
  requestHeaderVersion,
  responseHeaderVersion,
} from './protocol/generated/index.ts';
import { KafkaReader } from './protocol/reader.ts';
import type { TopicRegistry } from './topics.ts';

export interface KafkaContext {
  config: Config;
  storage: Storage;
  topics: TopicRegistry;
  /** The group coordinator: this node coordinates every group. */
  groups: GroupCoordinator;
  /** Producer ids and idempotent-producer state (producers/). */
  producers: Producers;
  /** The address the client connected to: what Metadata advertises. */
  host: string;
  port: number;
  /** The client's address as Kafka reports it (DescribeGroups), e.g. "/127.0.0.1". */
  clientHost: string;
  /** Aborted when the connection or the server closes (ends long polls). */
  signal: AbortSignal;
  /** The controller's partition leaders, with the meta role on this node (meta/controller-directory.ts). */
  partitions?: PartitionDirectory;
  /** Fetch's reusable read buffers and read-ahead settings (apis/fetch-reads.ts), shared by the listener's connections. */
  fetchReads?: FetchReads;
  /**
   * Run `fn` once the socket has taken every answer this connection has
   * written or is making (the caller's own included), or once it is closed:
   * from then on nothing reads the buffers those answers pointed into.
   */
  afterWritten?: (fn: () => void) => void;
}

/**
 * A handler decodes its body from `r`, and returns the encoded body (one
 * Buffer, or its parts in order, written as they are), or null for no response.
 */
export type Handler = (
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
  header: RequestHeader,
) => Promise<Buffer | readonly Buffer[] | null>;

export interface ServedApi {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
  /** Versions from minVersion below this are advertised but refused (closing the connection). */
  servedFrom?: number;
  handle: Handler;
}

/**
 * What this broker serves (and ApiVersions advertises). Fetch stops at 12:
 * v13+ addresses topics by id only. ListOffsets stops at 6: v7+ lets clients
 * ask for the max-timestamp offset, not served yet. Produce is advertised
 * from 0 but served from 3 (magic-2 batches only), as Kafka 4 does
 * (KAFKA-18659: librdkafka turns compression off unless the advertised
 * range starts at 0); a v0-2 request closes the connection, which is
 * what Kafka 4's socket server does with it. InitProducerId serves
 * idempotent producers only (no transactional ids).
 * The group APIs serve Kafka 4.0's whole ranges (JoinGroup and
 * OffsetCommit from 2, OffsetFetch from 1: KIP-896); OffsetCommit and
 * OffsetFetch end at 9 there, so topics go by name (ids come with v10,
 * Kafka 4.1).
 */
export const SERVED_APIS: readonly ServedApi[] = [
  { apiKey: ApiKey.Produce, minVersion: 0, servedFrom: 3, maxVersion: 12, handle: handleProduce },
  { apiKey: ApiKey.Fetch, minVersion: 4, maxVersion: 12, handle: handleFetch },
  { apiKey: ApiKey.ListOffsets, minVersion: 1, maxVersion: 6, handle: handleListOffsets },
  { apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 13, handle: handleMetadata },
  { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 4, handle: handleApiVersions },
  { apiKey: ApiKey.FindCoordinator, minVersion: 0, maxVersion: 6, handle: handleFindCoordinator },
  { apiKey: ApiKey.JoinGroup, minVersion: 2, maxVersion: 9, handle: handleJoinGroup },
  { apiKey: ApiKey.SyncGroup, minVersion: 0, maxVersion: 5, handle: handleSyncGroup },
  { apiKey: ApiKey.Heartbeat, minVersion: 0, maxVersion: 4, handle: handleHeartbeat },
  { apiKey: ApiKey.LeaveGroup, minVersion: 0, maxVersion: 5, handle: handleLeaveGroup },
  { apiKey: ApiKey.OffsetCommit, minVersion: 2, maxVersion: 9, handle: handleOffsetCommit },
  { apiKey: ApiKey.OffsetFetch, minVersion: 1, maxVersion: 9, handle: handleOffsetFetch },
  { apiKey: ApiKey.ListGroups, minVersion: 0, maxVersion: 5, handle: handleListGroups },
  { apiKey: ApiKey.DescribeGroups, minVersion: 0, maxVersion: 6, handle: handleDescribeGroups },
  { apiKey: ApiKey.DeleteGroups, minVersion: 0, maxVersion: 2, handle: handleDeleteGroups },
  { apiKey: ApiKey.InitProducerId, minVersion: 0, maxVersion: 5, handle: handleInitProducerId },
  { apiKey: ApiKey.OffsetForLeaderEpoch, minVersion: 2, maxVersion: 4, handle: handleOffsetForLeaderEpoch },
  { apiKey: ApiKey.CreateTopics, minVersion: 2, maxVersion: 7, handle: handleCreateTopics },
  { apiKey: ApiKey.DeleteTopics, minVersion: 1, maxVersion: 6, handle: handleDeleteTopics },
  { apiKey: ApiKey.CreatePartitions, minVersion: 0, maxVersion: 3, handle: handleCreatePartitions },
  { apiKey: ApiKey.DescribeConfigs, minVersion: 1, maxVersion: 4, handle: handleDescribeConfigs },
  { apiKey: ApiKey.AlterConfigs, minVersion: 0, maxVersion: 2, handle: handleAlterConfigs },
  {
    apiKey: ApiKey.IncrementalAlterConfigs,
    minVersion: 0,
    maxVersion: 1,
    handle: handleIncrementalAlterConfigs,
  },
  { apiKey: ApiKey.DescribeCluster, minVersion: 0, maxVersion: 2, handle: handleDescribeCluster },
  { apiKey: ApiKey.DeleteRecords, minVersion: 0, maxVersion: 2, handle: handleDeleteRecords },
];

const BY_KEY = new Map(SERVED_APIS.map((a) => [a.apiKey, a]));

/** A request the connection cannot be kept open after (unknown API, unserved version). */
export class KafkaConnectionError extends FerryError {
  constructor(message: string) {
    super('FERRY_ERR_FRAME_UNSUPPORTED', message);
  }
}

/** Bodies at least this big go out as their own write (writev), not copied behind the header. */
const SEPARATE_BODY_BYTES = 16 * 1024;

/** The response frame as the buffers to write, in order: size prefix and header, then the body. */
function frame(head: Buffer, body: Buffer | readonly Buffer[]): Buffer[] {
  if (!Buffer.isBuffer(body)) {
    // Parts (a Fetch body with its stored batches by reference): the small
    // ones before the first big part join the prefix, the rest go as they are.
    let bytes = 0;
    for (const b of body) bytes += b.length;
    let lead = 0;
    let leadBytes = 0;
    while (lead < body.length && (body[lead] as Buffer).length < SEPARATE_BODY_BYTES) {
      leadBytes += (body[lead] as Buffer).length;
      lead++;
    }
    const prefix = Buffer.allocUnsafe(4 + head.length + leadBytes);
    prefix.writeInt32BE(head.length + bytes, 0);
    let at = 4 + head.copy(prefix, 4);
    for (let i = 0; i < lead; i++) at += (body[i] as Buffer).copy(prefix, at);
    const out: Buffer[] = [prefix];
    for (let i = lead; i < body.length; i++) out.push(body[i] as Buffer);
    return out;
  }
  if (body.length >= SEPARATE_BODY_BYTES) {
    const prefix = Buffer.allocUnsafe(4 + head.length);
    prefix.writeInt32BE(head.length + body.length, 0);
    head.copy(prefix, 4);
    return [prefix, body];
  }
  const out = Buffer.allocUnsafe(4 + head.length + body.length);
  out.writeInt32BE(head.length + body.length, 0);
  head.copy(out, 4);
  body.copy(out, 4 + head.length);
  return [out];
}

/** Handle one request frame (without its size prefix); resolves with the response frame's buffers, or null. */
export async function dispatch(ctx: KafkaContext, request: Buffer): Promise<Buffer[] | null> {
  if (request.length < 8) throw new KafkaConnectionError(`request of ${request.length} bytes has no header`);
  const apiKey = request.readInt16BE(0);
  const version = request.readInt16BE(2);
  const correlationId = request.readInt32BE(4);
  const api = BY_KEY.get(apiKey);
  if (!api) throw new KafkaConnectionError(`unknown or unserved API key ${apiKey}`);
  if (version < api.minVersion || version > api.maxVersion) {
    if (apiKey === ApiKey.ApiVersions) {
      // KIP-511: answer with a v0 header and body, error 35 and our ranges, so the client can pick.
      return frame(encodeResponseHeader(0, { correlationId }), unsupportedApiVersions());
    }
    throw new KafkaConnectionError(`API key ${apiKey} version ${version} is not served`);
  }
  if (api.servedFrom !== undefined && version < api.servedFrom) {
    throw new KafkaConnectionError(`API key ${apiKey} version ${version} is advertised but refused`);
  }
  const r = new KafkaReader(request);
  const header = decodeRequestHeader(requestHeaderVersion(apiKey, version), r);
  const body = await api.handle(ctx, version, r, header);
  if (body === null) return null;
  return frame(encodeResponseHeader(responseHeaderVersion(apiKey, version), { correlationId }), body);
}
