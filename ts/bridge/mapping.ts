/**
 * Which MQTT topics travel to which Kafka topic, and back.
 *
 * Forward (MQTT → Kafka): explicit mappings are tried in the order the
 * config lists them (first match wins), then the default rule if it is on:
 * the first topic level names the Kafka topic, sanitized to Kafka's legal
 * characters (see `kafkaTopicForLevel`). Topics starting with `$` are never
 * taken by the default rule: they belong to the server [MQTT-4.7.2-1].
 *
 * Backward (Kafka → MQTT): a record's key is its MQTT topic when it is a
 * valid topic name that maps forward to the very Kafka topic it was read
 * from (so a Kafka producer cannot inject into topics the mapping does not
 * tie to that Kafka topic); otherwise `bridge.unkeyed` decides: publish to
 * `<kafka topic>/<partition>` or skip.
 */
import { isUtf8 } from 'node:buffer';
import { validateTopicFilter, validateTopicName } from '../mqtt/topic.ts';
import { topicMatches } from '../mqtt/topic-match.ts';

export interface MappingEntry {
  /** MQTT topic filter (wildcards allowed, no shared-subscription prefix). */
  filter: string;
  kafka_topic: string;
}

export const UNKEYED_RULES = ['partition_topic', 'skip'] as const;
export type UnkeyedRule = (typeof UNKEYED_RULES)[number];

/** Longest Kafka topic name. */
const KAFKA_NAME_MAX = 249;
/** Explicit mappings are matched one by one; the list is kept small. */
export const MAPPINGS_MAX = 1000;
/** Resolved MQTT topics remembered, so the hot path is one Map lookup. */
const CACHE_MAX = 10_000;

export class MappingError extends Error {}

/** Kafka's legal names, minus the `__` prefix Kafka reserves for internal topics. */
export function isBridgeableKafkaTopic(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= KAFKA_NAME_MAX &&
    /^[a-zA-Z0-9._-]+$/.test(name) &&
    name !== '.' &&
    name !== '..' &&
    !name.startsWith('__')
  );
}

/**
 * The default rule's Kafka name for a first topic level: every character
 * outside [a-zA-Z0-9._-] becomes `_` (one per code point); a name past 249
 * characters keeps its first 240 plus `-` and 8 hex digits of the level's
 * FNV-1a hash, so long levels stay distinct. Undefined (not bridged) for an
 * empty level, `.`, `..`, and names starting with `__` (Kafka's internal
 * topics).
 */
export function kafkaTopicForLevel(level: string): string | undefined {
  if (level === '') return undefined;
  let name = '';
  for (const ch of level) name += /^[a-zA-Z0-9._-]$/.test(ch) ? ch : '_';
  if (name === '.' || name === '..') return undefined;
  if (name.length > KAFKA_NAME_MAX) name = `${name.slice(0, 240)}-${fnv1a(level)}`;
  return isBridgeableKafkaTopic(name) ? name : undefined;
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s)) h = Math.imul(h ^ b, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Parse the `bridge.mappings` config value: a list of `{ filter, kafka_topic }` tables. */
export function parseMappings(raw: unknown, fromEnv: boolean): MappingEntry[] {
  let value = raw;
  if (fromEnv && typeof raw === 'string') value = parseEnvMappings(raw);
  if (!Array.isArray(value)) throw new MappingError('expected a list of { filter, kafka_topic } tables');
  if (value.length > MAPPINGS_MAX) throw new MappingError(`more than ${MAPPINGS_MAX} mappings`);
  const seen = new Set<string>();
  return value.map((entry, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new MappingError(`mapping ${i + 1} is not a table`);
    }
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (k !== 'filter' && k !== 'kafka_topic') throw new MappingError(`mapping ${i + 1}: unknown key ${k}`);
    }
    const { filter, kafka_topic } = e;
    if (typeof filter !== 'string') throw new MappingError(`mapping ${i + 1}: filter must be a string`);
    const check = validateTopicFilter(filter);
    if (!check.ok)
      throw new MappingError(`mapping ${i + 1}: filter "${filter}" is invalid (${check.reason})`);
    if (filter.startsWith('$share/') || filter.startsWith('$queue/')) {
      throw new MappingError(`mapping ${i + 1}: filter "${filter}" is a shared subscription`);
    }
    if (seen.has(filter)) throw new MappingError(`mapping ${i + 1}: filter "${filter}" is listed twice`);
    seen.add(filter);
    if (typeof kafka_topic !== 'string' || !isBridgeableKafkaTopic(kafka_topic)) {
      throw new MappingError(
        `mapping ${i + 1}: kafka_topic ${JSON.stringify(kafka_topic)} is not a legal Kafka topic name (1-249 of [a-zA-Z0-9._-], not "." or "..", not starting with "__")`,
      );
    }
    return { filter, kafka_topic };
  });
}

/**
 * `FERRYMQ_BRIDGE__MAPPINGS`: a JSON list of tables, or the short form
 * `filter=topic,filter=topic` (split at each comma, then at the last `=`;
 * filters holding `,` need the JSON form).
 */
function parseEnvMappings(raw: string): unknown {
  const s = raw.trim();
  if (s === '') return [];
  if (s.startsWith('[')) {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      throw new MappingError('not valid JSON');
    }
  }
  return s.split(',').map((part) => {
    const at = part.lastIndexOf('=');
    if (at <= 0) throw new MappingError(`"${part.trim()}" is not filter=kafka_topic`);
    return { filter: part.slice(0, at).trim(), kafka_topic: part.slice(at + 1).trim() };
  });
}

export interface MappingOptions {
  mappings: readonly MappingEntry[];
  defaultRule: boolean;
  unkeyed: UnkeyedRule;
}

export class TopicMapping {
  readonly #mappings: readonly MappingEntry[];
  readonly #defaultRule: boolean;
  readonly #unkeyed: UnkeyedRule;
  readonly #explicitTargets: ReadonlySet<string>;
  #cache = new Map<string, string | null>();

  constructor(opts: MappingOptions) {
    this.#mappings = opts.mappings;
    this.#defaultRule = opts.defaultRule;
    this.#unkeyed = opts.unkeyed;
    this.#explicitTargets = new Set(opts.mappings.map((m) => m.kafka_topic));
  }

  /** The Kafka topic an MQTT topic name is bridged to, or undefined. */
  kafkaTopicFor(mqttTopic: string): string | undefined {
    const hit = this.#cache.get(mqttTopic);
    if (hit !== undefined) return hit ?? undefined;
    const resolved = this.#resolve(mqttTopic);
    // Bounded: a flood of distinct topics costs a re-resolve, never memory.
    if (this.#cache.size >= CACHE_MAX) this.#cache = new Map();
    this.#cache.set(mqttTopic, resolved ?? null);
    return resolved;
  }

  #resolve(mqttTopic: string): string | undefined {
    for (const m of this.#mappings) if (topicMatches(m.filter, mqttTopic)) return m.kafka_topic;
    if (!this.#defaultRule || mqttTopic.startsWith('$')) return undefined;
    const slash = mqttTopic.indexOf('/');
    return kafkaTopicForLevel(slash < 0 ? mqttTopic : mqttTopic.slice(0, slash));
  }

  /** Whether records of this Kafka topic are published to MQTT at all. */
  bridgesKafkaTopic(kafkaTopic: string): boolean {
    if (!isBridgeableKafkaTopic(kafkaTopic)) return false;
    return this.#defaultRule || this.#explicitTargets.has(kafkaTopic);
  }

  /**
   * The MQTT topic for a record of `kafkaTopic` / `partition` with `key`, or
   * undefined to skip it (rule `skip`).
   */
  mqttTopicFor(kafkaTopic: string, partition: number, key: Buffer | null): string | undefined {
    if (key && key.length > 0 && key.length <= 65_535) {
      // A key that is not UTF-8 is not a topic name [MQTT-1.5.4-1].
      const topic = isUtf8(key) ? key.toString('utf8') : undefined;
      if (topic !== undefined && validateTopicName(topic).ok && this.kafkaTopicFor(topic) === kafkaTopic) {
        return topic;
      }
    }
    return this.#unkeyed === 'skip' ? undefined : `${kafkaTopic}/${partition}`;
  }
}
