/**
 * The bridge's Prometheus metrics. Per-record counts are plain numbers,
 * read by prom-client only at scrape time; gauges are computed then too.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface BridgeMetrics {
  /** MQTT messages appended to Kafka topics. */
  appended(n: number): void;
  /** A failed MQTT → Kafka append, by FerryMQ error code (or `topics-max`). */
  appendFailed(code: string): void;
  /** An MQTT message not bridged: `qos0-inflight`, `qos0-quota`, `qos0-error`. */
  dropped(reason: string): void;
  /** Kafka records read by the reverse path, by outcome. */
  kafkaRecord(outcome: KafkaRecordOutcome, n?: number): void;
  /** Register the source of the QoS 0 in-flight bytes gauge. */
  qos0Inflight(read: () => number): void;
  /** Register the source of the reverse path's lag gauge (records behind the log ends). */
  lag(read: () => number): void;
  readErrors(code: string): void;
}

export type KafkaRecordOutcome =
  | 'published'
  | 'skipped-origin'
  | 'skipped-unkeyed'
  | 'skipped-compression'
  | 'skipped-malformed'
  | 'invalid-payload-format';

export function bridgeMetrics(registry: Registry | undefined): BridgeMetrics {
  const registers = registry ? [registry] : [];
  let appended = 0;
  const kafka = new Map<KafkaRecordOutcome, number>();
  let qos0 = (): number => 0;
  let lag = (): number => 0;
  new Counter({
    name: 'ferrymq_bridge_mqtt_appended_total',
    help: 'MQTT messages appended to Kafka topics by the bridge',
    registers,
    collect() {
      this.reset();
      this.inc(appended);
    },
  });
  const failed = new Counter({
    name: 'ferrymq_bridge_mqtt_append_errors_total',
    help: 'Failed MQTT → Kafka appends by error code (topics-max: bridge.topics_max reached)',
    labelNames: ['code'],
    registers,
  });
  const dropped = new Counter({
    name: 'ferrymq_bridge_mqtt_dropped_total',
    help: 'QoS 0 messages not bridged by reason (qos0-inflight: bridge.qos0_inflight_bytes_max reached; qos0-quota, qos0-error: the append failed)',
    labelNames: ['reason'],
    registers,
  });
  new Gauge({
    name: 'ferrymq_bridge_qos0_inflight_bytes',
    help: 'Bytes of QoS 0 MQTT → Kafka appends not yet settled',
    registers,
    collect() {
      this.set(qos0());
    },
  });
  new Counter({
    name: 'ferrymq_bridge_kafka_records_total',
    help: 'Kafka records read by the bridge, by outcome (published to MQTT, skipped because they came from MQTT, had no usable key under bridge.unkeyed = skip, were in an undecodable compressed batch, or declared a UTF-8 payload that is not)',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      for (const [outcome, n] of kafka) this.inc({ outcome }, n);
    },
  });
  new Gauge({
    name: 'ferrymq_bridge_kafka_lag_records',
    help: 'Records of bridged Kafka partitions not yet read by the bridge (sum over partitions)',
    registers,
    collect() {
      this.set(lag());
    },
  });
  const readErrors = new Counter({
    name: 'ferrymq_bridge_kafka_read_errors_total',
    help: 'Failed shard reads of the Kafka → MQTT path by error code (retried after a pause)',
    labelNames: ['code'],
    registers,
  });
  return {
    appended: (n) => {
      appended += n;
    },
    appendFailed: (code) => failed.inc({ code }),
    dropped: (reason) => dropped.inc({ reason }),
    kafkaRecord: (outcome, n = 1) => {
      kafka.set(outcome, (kafka.get(outcome) ?? 0) + n);
    },
    qos0Inflight: (read) => {
      qos0 = read;
    },
    lag: (read) => {
      lag = read;
    },
    readErrors: (code) => readErrors.inc({ code }),
  };
}
