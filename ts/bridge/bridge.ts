/**
 * The MQTT ↔ Kafka bridge on one log: MQTT messages the mapping takes are
 * appended to Kafka topics (mqtt-to-kafka.ts), and records Kafka clients
 * produce to bridged topics reach MQTT subscribers (kafka-to-mqtt.ts). It
 * needs the broker and engine roles (checked with the config); it does not
 * need the Kafka listener, which only serves the same shards to clients.
 */

import type { QoS } from 'mqtt-packet';
import type { Registry } from 'prom-client';
import { BRIDGE_QOS_NAMES, type Config } from '../config/schema.ts';
import type { TopicRegistry } from '../kafka/topics.ts';
import type { Logger } from '../log.ts';
import type { Broker } from '../mqtt/broker.ts';
import type { Storage } from '../storage/storage.ts';
import { KafkaToMqtt } from './kafka-to-mqtt.ts';
import { TopicMapping } from './mapping.ts';
import { bridgeMetrics } from './metrics.ts';
import { MqttToKafka } from './mqtt-to-kafka.ts';

/** What the bridge uses of the topic registry (its public surface only). */
export type BridgeTopics = Pick<TopicRegistry, 'get' | 'create' | 'all'>;

export interface BridgeDeps {
  topics: BridgeTopics;
  storage: Storage;
  broker: Broker;
  logger: Logger;
  registry?: Registry;
}

export class Bridge {
  readonly #broker: Broker;
  readonly #reverse: KafkaToMqtt | undefined;
  #closing: Promise<void> | undefined;

  private constructor(broker: Broker, reverse: KafkaToMqtt | undefined) {
    this.#broker = broker;
    this.#reverse = reverse;
  }

  /** Attach to the broker's publish path and start the readers. */
  static start(config: Config, deps: BridgeDeps): Bridge {
    const c = config.bridge;
    const logger = deps.logger.child({ component: 'bridge' });
    const mapping = new TopicMapping({
      mappings: c.mappings,
      defaultRule: c.default_rule,
      unkeyed: c.unkeyed,
    });
    const metrics = bridgeMetrics(deps.registry);
    const reverse = c.kafka_to_mqtt
      ? new KafkaToMqtt(
          mapping,
          deps.topics,
          deps.storage,
          {
            readBytesMax: c.read_bytes_max,
            defaultQos: BRIDGE_QOS_NAMES.indexOf(c.kafka_qos) as QoS,
            discoveryMs: c.discovery_ms,
          },
          metrics,
          // Marked as bridged so the broker does not hand it back to the forward path.
          (m, now) => void deps.broker.publish(m, now, { bridged: true }),
          logger,
        )
      : undefined;
    if (c.mqtt_to_kafka) {
      deps.broker.bridge = new MqttToKafka(
        mapping,
        deps.topics,
        deps.storage,
        {
          partitions: c.partition_count,
          qos0InflightBytesMax: c.qos0_inflight_bytes_max,
          topicsMax: c.topics_max,
        },
        metrics,
        () => reverse?.discover(),
      );
    }
    reverse?.start();
    logger.info(
      {
        mappings: c.mappings.length,
        default_rule: c.default_rule,
        mqtt_to_kafka: c.mqtt_to_kafka,
        kafka_to_mqtt: c.kafka_to_mqtt,
      },
      'mqtt-kafka bridge started',
    );
    return new Bridge(deps.broker, reverse);
  }

  /** Detach from the broker and end the readers; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#broker.bridge = undefined;
      await this.#reverse?.close();
    })();
    return this.#closing;
  }
}
