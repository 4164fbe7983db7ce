/**
 * DescribeCluster (v0–2): the cluster id from the topic registry; this node
 * is the only broker and the controller, for either endpoint type.
 */
import type { KafkaContext } from '../dispatch.ts';
import { DescribeCluster } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

/** Kafka's "not asked for" value of authorized-operations fields. */
const OPERATIONS_OMITTED = -2147483648;

/**
 * Bits of the ACL operations that apply to a cluster (CREATE 5, ALTER 7,
 * DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
 * IDEMPOTENT_WRITE 12): FerryMQ has no ACLs yet, so a client may do them all.
 */
export const CLUSTER_OPERATIONS = [5, 7, 8, 9, 10, 11, 12].reduce((bits, op) => bits | (1 << op), 0);

export async function handleDescribeCluster(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = DescribeCluster.decodeDescribeClusterRequest(version, r);
  const node = ctx.config.node_id;
  return DescribeCluster.encodeDescribeClusterResponse(version, {
    ...DescribeCluster.defaultDescribeClusterResponse(),
    errorMessage: null,
    endpointType: req.endpointType,
    clusterId: ctx.topics.clusterId,
    controllerId: node,
    brokers: [
      {
        ...DescribeCluster.defaultDescribeClusterBroker(),
        brokerId: node,
        host: ctx.host,
        port: ctx.port,
        rack: null,
        isFenced: false,
      },
    ],
    clusterAuthorizedOperations: req.includeClusterAuthorizedOperations
      ? CLUSTER_OPERATIONS
      : OPERATIONS_OMITTED,
  });
}
