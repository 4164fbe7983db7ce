/**
 * AlterConfigs (v0–2: the topic's overrides become exactly the given set)
 * and IncrementalAlterConfigs (v0–1: SET, DELETE, and APPEND / SUBTRACT on
 * list-valued configs only). Unknown names and bad values are INVALID_CONFIG
 * with a message; creation-only configs may not change (AlterConfigs keeps
 * them when the new set leaves them out). Broker configs are read-only here:
 * they come from the TOML file and the environment.
 */
import type { KafkaContext } from '../dispatch.ts';
import { AlterConfigs, IncrementalAlterConfigs } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import {
  effectiveConfigs,
  isListConfig,
  TOPIC_CONFIGS,
  TopicConfigError,
  type TopicOverrides,
  topicConfigDef,
  validateAlteredConfigs,
} from '../topic-config.ts';
import { AdminError, adminErrorFor, type ErrorAnswer } from './admin-errors.ts';
import { isThisBroker, ResourceType } from './describe-configs.ts';

const OK: ErrorAnswer = { errorCode: 0, errorMessage: null };

export const AlterOp = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

/** Non-topic resources: only ever an error. */
function refuseResource(ctx: KafkaContext, resourceType: number, resourceName: string): ErrorAnswer {
  if (resourceType === ResourceType.BROKER && isThisBroker(ctx, resourceName))
    return {
      errorCode: AdminError.INVALID_CONFIG,
      errorMessage:
        'Broker configs are read-only: set them in the FerryMQ config file or FERRYMQ_* environment.',
    };
  if (resourceType === ResourceType.BROKER)
    return {
      errorCode: AdminError.INVALID_REQUEST,
      errorMessage: `Broker ${resourceName} is not this node (${ctx.config.node_id}).`,
    };
  return {
    errorCode: AdminError.INVALID_REQUEST,
    errorMessage: `Resource type ${resourceType} is not supported; FerryMQ has topic (2) and broker (4) configs.`,
  };
}

/** Validate `next` against the topic's overrides and store it unless validateOnly. */
async function apply(
  ctx: KafkaContext,
  name: string,
  build: (current: TopicOverrides) => Record<string, string>,
  validateOnly: boolean,
): Promise<ErrorAnswer> {
  const topic = ctx.topics.get(name);
  if (!topic)
    return {
      errorCode: AdminError.UNKNOWN_TOPIC_OR_PARTITION,
      errorMessage: `Topic '${name}' does not exist.`,
    };
  try {
    const next = validateAlteredConfigs(topic.configs, build(topic.configs), ctx.config);
    if (!validateOnly) await ctx.topics.setConfigs(name, next);
    return OK;
  } catch (err) {
    return answerFor(err);
  }
}

/** AlterConfigs: the given set replaces the overrides; creation-only ones carry over when left out. */
export function replaceSet(
  current: TopicOverrides,
  given: readonly { name: string; value: string | null }[],
): Record<string, string> {
  const next: Record<string, string> = {};
  for (const c of given) {
    if (!topicConfigDef(c.name)) throw new TopicConfigError(`Unknown topic config name: ${c.name}`);
    if (c.value !== null) next[c.name] = c.value;
  }
  for (const d of TOPIC_CONFIGS) {
    const kept = current[d.name];
    if (d.mutability === 'creation' && kept !== undefined && !given.some((c) => c.name === d.name))
      next[d.name] = kept;
  }
  return next;
}

/** IncrementalAlterConfigs: apply the operations in order to the current overrides. */
export function applyOps(
  current: TopicOverrides,
  ops: readonly { name: string; configOperation: number; value: string | null }[],
  defaults: Readonly<Record<string, string>>,
): Record<string, string> {
  const next: Record<string, string> = { ...current };
  const seen = new Set<string>();
  for (const op of ops) {
    if (!topicConfigDef(op.name)) throw new TopicConfigError(`Unknown topic config name: ${op.name}`);
    if (seen.has(op.name)) throw new InvalidRequest(`Config ${op.name} appears more than once.`);
    seen.add(op.name);
    switch (op.configOperation) {
      case AlterOp.SET:
        if (op.value === null) throw new TopicConfigError(`SET of ${op.name} needs a value.`);
        next[op.name] = op.value;
        break;
      case AlterOp.DELETE:
        delete next[op.name];
        break;
      case AlterOp.APPEND:
      case AlterOp.SUBTRACT: {
        if (!isListConfig(op.name))
          throw new InvalidRequest(
            `${op.configOperation === AlterOp.APPEND ? 'APPEND' : 'SUBTRACT'} applies only to list-valued configs; ${op.name} is not one.`,
          );
        const items = (next[op.name] ?? defaults[op.name] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0);
        const given = (op.value ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0);
        const out =
          op.configOperation === AlterOp.APPEND
            ? [...items, ...given.filter((g) => !items.includes(g))]
            : items.filter((i) => !given.includes(i));
        next[op.name] = out.join(',');
        break;
      }
      default:
        throw new InvalidRequest(`Unknown config operation ${op.configOperation} for ${op.name}.`);
    }
  }
  return next;
}

/** A malformed change request (INVALID_REQUEST rather than INVALID_CONFIG). */
export class InvalidRequest extends Error {}

function answerFor(err: unknown): ErrorAnswer {
  if (err instanceof InvalidRequest)
    return { errorCode: AdminError.INVALID_REQUEST, errorMessage: err.message };
  return adminErrorFor(err);
}

export async function handleAlterConfigs(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = AlterConfigs.decodeAlterConfigsRequest(version, r);
  const responses: AlterConfigs.AlterConfigsResourceResponse[] = [];
  for (const res of req.resources) {
    let e: ErrorAnswer;
    if (res.resourceType !== ResourceType.TOPIC) e = refuseResource(ctx, res.resourceType, res.resourceName);
    else {
      try {
        e = await apply(ctx, res.resourceName, (cur) => replaceSet(cur, res.configs), req.validateOnly);
      } catch (err) {
        e = answerFor(err);
      }
    }
    responses.push({
      ...AlterConfigs.defaultAlterConfigsResourceResponse(),
      ...e,
      resourceType: res.resourceType,
      resourceName: res.resourceName,
    });
  }
  return AlterConfigs.encodeAlterConfigsResponse(version, {
    ...AlterConfigs.defaultAlterConfigsResponse(),
    responses,
  });
}

export async function handleIncrementalAlterConfigs(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = IncrementalAlterConfigs.decodeIncrementalAlterConfigsRequest(version, r);
  const responses: IncrementalAlterConfigs.AlterConfigsResourceResponse[] = [];
  for (const res of req.resources) {
    let e: ErrorAnswer;
    if (res.resourceType !== ResourceType.TOPIC) e = refuseResource(ctx, res.resourceType, res.resourceName);
    else {
      try {
        e = await apply(
          ctx,
          res.resourceName,
          (cur) => applyOps(cur, res.configs, effectiveConfigs({}, ctx.config)),
          req.validateOnly,
        );
      } catch (err) {
        e = answerFor(err);
      }
    }
    responses.push({
      ...IncrementalAlterConfigs.defaultAlterConfigsResourceResponse(),
      ...e,
      resourceType: res.resourceType,
      resourceName: res.resourceName,
    });
  }
  return IncrementalAlterConfigs.encodeIncrementalAlterConfigsResponse(version, {
    ...IncrementalAlterConfigs.defaultIncrementalAlterConfigsResponse(),
    responses,
  });
}
