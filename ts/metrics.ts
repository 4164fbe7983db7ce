import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * The node's Prometheus registry. One per node (not prom-client's global),
 * so several nodes can run in one process in tests. Default metrics include
 * process CPU/RSS/fds, heap, GC and `nodejs_eventloop_lag_*` under their standard
 * names (so stock Node.js dashboards work); FerryMQ's own metrics are `ferrymq_*`.
 */
export interface Metrics {
  registry: Registry;
}

export function createMetrics(labels: { node_id: number }): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node_id: String(labels.node_id) });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  return { registry };
}
