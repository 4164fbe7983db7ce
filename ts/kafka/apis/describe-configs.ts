/**
 * DescribeConfigs (v1–4): topics (every config with its value, source and
 * read-only flag; synonyms and documentation when asked) and this broker
 * (its effective settings under Kafka's names, then FerryMQ's own as
 * `ferrymq.<key>`, all read-only).
 */
import type { KafkaContext } from '../dispatch.ts';
import { DescribeConfigs } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { type DescribedConfig, describeBrokerConfigs, describeTopicConfigs } from '../topic-config.ts';
import { AdminError } from './admin-errors.ts';

export const ResourceType = { TOPIC: 2, BROKER: 4 } as const;

type Result = DescribeConfigs.DescribeConfigsResult;

/** Whether `name` addresses this broker: its id, or "" for the cluster-wide default. */
export function isThisBroker(ctx: KafkaContext, name: string): boolean {
  return name === '' || name === String(ctx.config.node_id);
}

/** The configs of one resource, or an error answer. */
export function resourceConfigs(
  ctx: KafkaContext,
  resourceType: number,
  resourceName: string,
): DescribedConfig[] | { errorCode: number; errorMessage: string } {
  if (resourceType === ResourceType.TOPIC) {
    const topic = ctx.topics.get(resourceName);
    if (!topic)
      return {
        errorCode: AdminError.UNKNOWN_TOPIC_OR_PARTITION,
        errorMessage: `Topic '${resourceName}' does not exist.`,
      };
    return describeTopicConfigs(topic.configs, ctx.config);
  }
  if (resourceType === ResourceType.BROKER) {
    if (!isThisBroker(ctx, resourceName))
      return {
        errorCode: AdminError.INVALID_REQUEST,
        errorMessage: `Broker ${resourceName} is not this node (${ctx.config.node_id}).`,
      };
    return describeBrokerConfigs(ctx.config);
  }
  return {
    errorCode: AdminError.INVALID_REQUEST,
    errorMessage: `Resource type ${resourceType} is not supported; FerryMQ has topic (2) and broker (4) configs.`,
  };
}

function describeOne(
  ctx: KafkaContext,
  version: number,
  res: DescribeConfigs.DescribeConfigsResource,
  includeSynonyms: boolean,
  includeDocumentation: boolean,
): Result {
  const out: Result = {
    ...DescribeConfigs.defaultDescribeConfigsResult(),
    resourceType: res.resourceType,
    resourceName: res.resourceName,
    errorMessage: null,
  };
  const configs = resourceConfigs(ctx, res.resourceType, res.resourceName);
  if (!Array.isArray(configs)) return { ...out, ...configs };
  const keys = res.configurationKeys === null ? null : new Set(res.configurationKeys);
  return {
    ...out,
    configs: configs
      .filter((c) => keys === null || keys.has(c.name))
      .map((c) => ({
        ...DescribeConfigs.defaultDescribeConfigsResourceResult(),
        name: c.name,
        value: c.value,
        readOnly: c.readOnly,
        configSource: c.source,
        isSensitive: false,
        synonyms: includeSynonyms ? c.synonyms.map((s) => ({ ...s })) : [],
        configType: version >= 3 ? c.type : 0,
        documentation: includeDocumentation && version >= 3 ? c.doc : null,
      })),
  };
}

export async function handleDescribeConfigs(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = DescribeConfigs.decodeDescribeConfigsRequest(version, r);
  const results = req.resources.map((res) =>
    describeOne(ctx, version, res, req.includeSynonyms, req.includeDocumentation),
  );
  return DescribeConfigs.encodeDescribeConfigsResponse(version, {
    ...DescribeConfigs.defaultDescribeConfigsResponse(),
    results,
  });
}
