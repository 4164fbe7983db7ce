import {
  type MappingEntry,
  MappingError,
  parseMappings,
  UNKEYED_RULES,
  type UnkeyedRule,
} from '../bridge/mapping.ts';
import { bool, integer, type KeySpec, oneOf, ValueError } from './value-parsers.ts';

/** `bridge.kafka_qos` values, by QoS level. */
export const BRIDGE_QOS_NAMES = ['at_most_once', 'at_least_once', 'exactly_once'] as const;

/** `[bridge]`: MQTT ↔ Kafka on one log (ts/bridge/, docs/bridge.md). */
export interface BridgeConfig {
  enabled: boolean;
  mappings: MappingEntry[];
  default_rule: boolean;
  mqtt_to_kafka: boolean;
  kafka_to_mqtt: boolean;
  partition_count: number;
  topics_max: number;
  qos0_inflight_bytes_max: number;
  read_bytes_max: number;
  kafka_qos: (typeof BRIDGE_QOS_NAMES)[number];
  unkeyed: UnkeyedRule;
  discovery_ms: number;
}

export const BRIDGE_KEYS: readonly KeySpec<unknown>[] = [
  {
    key: 'bridge.enabled',
    default: false,
    doc: 'Run the MQTT ↔ Kafka bridge (needs the broker and engine roles); see docs/bridge.md',
    parse: bool,
  },
  {
    key: 'bridge.mappings',
    default: [],
    doc: 'MQTT topic filter → Kafka topic, as [[bridge.mappings]] tables { filter, kafka_topic }, first match wins; env: JSON or "filter=topic,..."',
    parse: (raw, fromEnv) => {
      try {
        return parseMappings(raw, fromEnv);
      } catch (err) {
        if (err instanceof MappingError) throw new ValueError(err.message);
        throw err;
      }
    },
  },
  {
    key: 'bridge.default_rule',
    default: true,
    doc: 'After the mappings: the first topic level names the Kafka topic (characters Kafka refuses become _)',
    parse: bool,
  },
  {
    key: 'bridge.mqtt_to_kafka',
    default: true,
    doc: 'Append mapped MQTT publishes to Kafka topics (QoS 1/2 acknowledged after the append)',
    parse: bool,
  },
  {
    key: 'bridge.kafka_to_mqtt',
    default: true,
    doc: 'Publish records Kafka clients produce to bridged topics to MQTT subscribers',
    parse: bool,
  },
  {
    key: 'bridge.partition_count',
    default: 1,
    doc: 'Partitions of a Kafka topic the bridge creates; messages are spread by murmur2 of the MQTT topic',
    parse: integer(1, 10_000),
  },
  {
    key: 'bridge.topics_max',
    default: 1000,
    doc: 'The bridge creates no Kafka topic once this many exist; such publishes get 0x97 (3.1.1: disconnect; QoS 0: dropped)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'bridge.qos0_inflight_bytes_max',
    default: 16 * 1024 * 1024,
    doc: 'Bytes of QoS 0 appends not yet settled; beyond it QoS 0 messages are not bridged (ferrymq_bridge_mqtt_dropped_total)',
    parse: integer(1024, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'bridge.read_bytes_max',
    default: 1024 * 1024,
    doc: 'Kafka → MQTT: bytes one partition read may return (at least one whole batch)',
    parse: integer(1024, 1 << 30),
  },
  {
    key: 'bridge.kafka_qos',
    default: 'at_least_once',
    doc: `Kafka → MQTT: QoS of records without an mqtt.qos header (subscriptions cap it): ${BRIDGE_QOS_NAMES.join(', ')} (QoS 0, 1, 2)`,
    parse: oneOf(BRIDGE_QOS_NAMES),
  },
  {
    key: 'bridge.unkeyed',
    default: 'partition_topic',
    doc: `Kafka → MQTT: a record whose key is not an MQTT topic of that Kafka topic is published on "<kafka topic>/<partition>" (partition_topic) or skipped (skip); one of ${UNKEYED_RULES.join(', ')}`,
    parse: oneOf(UNKEYED_RULES),
  },
  {
    key: 'bridge.discovery_ms',
    default: 1000,
    doc: 'Kafka → MQTT: how often new Kafka topics and partitions are looked for (read from their first record)',
    parse: integer(10, 3_600_000),
  },
];
