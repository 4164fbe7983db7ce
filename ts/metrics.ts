import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ShardMetrics } from './storage/shard.ts';

/**
 * The node's Prometheus registry. One per node (not prom-client's global),
 * so several nodes can run in one process in tests. Default metrics include
 * process CPU/RSS/fds, heap, GC and `nodejs_eventloop_lag_*` under their
 * standard names (so stock Node.js dashboards work); FerryMQ's own metrics
 * are `ferrymq_*`.
 */
export interface Metrics {
  registry: Registry;
  storage: ShardMetrics;
}

function storageMetrics(registry: Registry): ShardMetrics {
  const calls = new Counter({
    name: 'ferrymq_storage_append_calls_total',
    help: 'Native append calls (each carries one or more grouped appends)',
    labelNames: ['engine'],
    registers: [registry],
  });
  const records = new Counter({
    name: 'ferrymq_storage_appended_records_total',
    help: 'Records appended',
    labelNames: ['engine'],
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'ferrymq_storage_appended_bytes_total',
    help: 'Bytes appended (packed records or Kafka batches)',
    labelNames: ['engine'],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'ferrymq_storage_append_errors_total',
    help: 'Failed appends by error code (FERRY_ERR_OVERLOADED counts queue-limit refusals)',
    labelNames: ['engine', 'code'],
    registers: [registry],
  });
  const readErrors = new Counter({
    name: 'ferrymq_storage_read_errors_total',
    help: 'Failed reads by error code (FERRY_ERR_OVERLOADED counts read_waiters_max refusals)',
    labelNames: ['engine', 'code'],
    registers: [registry],
  });
  const callsInFlight = new Gauge({
    name: 'ferrymq_storage_append_calls_in_flight',
    help: 'Native append calls in flight (at most storage.append_calls_in_flight_max per shard)',
    labelNames: ['engine'],
    registers: [registry],
  });
  return {
    appendCallsInFlight: (engine, delta) => callsInFlight.inc({ engine }, delta),
    readErrors: (engine, code) => readErrors.inc({ engine, code }),
    appendCalls: (engine, n) => calls.inc({ engine }, n),
    appendedRecords: (engine, n) => records.inc({ engine }, n),
    appendedBytes: (engine, n) => bytes.inc({ engine }, n),
    appendErrors: (engine, code) => errors.inc({ engine, code }),
  };
}

export function createMetrics(labels: { node_id: number }): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node_id: String(labels.node_id) });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  return { registry, storage: storageMetrics(registry) };
}
