/**
 * Every configuration key FerryMQ reads: its type, default, bounds (units
 * in the name, e.g. `shutdown_timeout_ms`) and the environment variable
 * that overrides it. The README's config reference is checked against this
 * table by ts/config/schema.test.ts, so a key cannot exist undocumented.
 *
 * Environment mapping: `FERRYMQ_` + the key path in upper case, with `__`
 * between a section and its key: `listeners.mqtt` -> `FERRYMQ_LISTENERS__MQTT`,
 * `node_id` -> `FERRYMQ_NODE_ID`. Lists are comma-separated.
 *
 * Each section's interface and keys live in its own module (node-keys.ts,
 * storage-keys.ts, mqtt-keys.ts, kafka-keys.ts, tls-keys.ts,
 * bridge-keys.ts, meta-keys.ts; the parsers in value-parsers.ts); this
 * module assembles them in README order and is what the rest of FerryMQ
 * imports.
 */

import { BRIDGE_KEYS, type BridgeConfig } from './bridge-keys.ts';
import { KAFKA_KEYS, type KafkaConfig } from './kafka-keys.ts';
import { META_KEYS, type MetaConfig } from './meta-keys.ts';
import { MQTT_KEYS, type MqttConfig } from './mqtt-keys.ts';
import {
  type ClusterMember,
  type ListenAddress,
  type LOG_FORMATS,
  LOG_KEYS,
  type LOG_LEVELS,
  NODE_KEYS,
  type Role,
} from './node-keys.ts';
import { STORAGE_KEYS, type StorageConfig } from './storage-keys.ts';
import { TLS_KEYS, type TlsConfig } from './tls-keys.ts';
import type { KeySpec } from './value-parsers.ts';

export { BRIDGE_QOS_NAMES, type BridgeConfig } from './bridge-keys.ts';
export type { KafkaConfig } from './kafka-keys.ts';
export type { MetaConfig } from './meta-keys.ts';
export type { MqttConfig } from './mqtt-keys.ts';
export {
  type ClusterMember,
  type ListenAddress,
  LOG_FORMATS,
  LOG_LEVELS,
  parseAddress,
  ROLES,
  type Role,
} from './node-keys.ts';
export { DURABILITIES, ENGINES, type StorageConfig } from './storage-keys.ts';
export { CLIENT_CERT_MODES, type TlsConfig } from './tls-keys.ts';
export { type KeySpec, ValueError } from './value-parsers.ts';

export interface Config {
  node_id: number;
  roles: Role[];
  data_dir: string;
  shutdown_timeout_ms: number;
  listen_backlog_max: number;
  event_loop_sample_ms: number;
  listeners: {
    mqtt: ListenAddress;
    mqtt_tls: ListenAddress;
    mqtt_ws: ListenAddress;
    mqtt_wss: ListenAddress;
    kafka: ListenAddress;
    admin: ListenAddress;
    cluster: ListenAddress;
  };
  cluster: { members: ClusterMember[] };
  log: { level: (typeof LOG_LEVELS)[number]; format: (typeof LOG_FORMATS)[number] };
  storage: StorageConfig;
  mqtt: MqttConfig;
  kafka: KafkaConfig;
  tls: TlsConfig;
  meta: MetaConfig;
  bridge: BridgeConfig;
}

export const SCHEMA: readonly KeySpec<unknown>[] = [
  ...NODE_KEYS,
  ...STORAGE_KEYS,
  ...MQTT_KEYS,
  ...KAFKA_KEYS,
  ...TLS_KEYS,
  ...BRIDGE_KEYS,
  ...META_KEYS,
  ...LOG_KEYS,
];

export function envName(key: string): string {
  return `FERRYMQ_${key.toUpperCase().replaceAll('.', '__')}`;
}
