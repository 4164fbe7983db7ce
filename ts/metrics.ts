import { readFileSync } from 'node:fs';
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

/**
 * Per-engine sums kept in plain numbers and handed to prom-client only when
 * the registry is read: a labelled inc() or set() hashes its label object on
 * every call, and the append path made five such calls per native append.
 */
class EngineSums {
  readonly #sums = new Map<string, number>();

  add(engine: string, n: number): void {
    this.#sums.set(engine, (this.#sums.get(engine) ?? 0) + n);
  }

  /** Moves what was added since the last read into a counter. */
  drainInto(counter: Counter<'engine'>): void {
    for (const [engine, n] of this.#sums) {
      counter.inc({ engine }, n);
      this.#sums.set(engine, 0);
    }
  }

  /** The running totals as a gauge's values (sums of +1/-1 are never drained). */
  setInto(gauge: Gauge<'engine'>): void {
    for (const [engine, n] of this.#sums) gauge.set({ engine }, n);
  }
}

/** The append metrics register themselves and are fed from their sums when the registry is read. */
function storageMetrics(registry: Registry): ShardMetrics {
  const callSums = new EngineSums();
  const recordSums = new EngineSums();
  const byteSums = new EngineSums();
  const inFlightSums = new EngineSums();
  new Counter({
    name: 'ferrymq_storage_append_calls_total',
    help: 'Native append calls (each carries one or more grouped appends)',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      callSums.drainInto(this);
    },
  });
  new Counter({
    name: 'ferrymq_storage_appended_records_total',
    help: 'Records appended',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      recordSums.drainInto(this);
    },
  });
  new Counter({
    name: 'ferrymq_storage_appended_bytes_total',
    help: 'Bytes appended (packed records or Kafka batches)',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      byteSums.drainInto(this);
    },
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
  new Gauge({
    name: 'ferrymq_storage_append_calls_in_flight',
    help: 'Native append calls in flight (at most storage.append_calls_in_flight_max per shard)',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      inFlightSums.setInto(this);
    },
  });
  return {
    appendCallsInFlight: (engine, delta) => inFlightSums.add(engine, delta),
    readErrors: (engine, code) => readErrors.inc({ engine, code }),
    appendCalls: (engine, n) => callSums.add(engine, n),
    appendedRecords: (engine, n) => recordSums.add(engine, n),
    appendedBytes: (engine, n) => byteSums.add(engine, n),
    appendErrors: (engine, code) => errors.inc({ engine, code }),
  };
}

/** The kernel's TcpExt ListenOverflows counter (Linux), or undefined where there is none. */
export function listenOverflows(netstat = '/proc/net/netstat'): number | undefined {
  let text: string;
  try {
    text = readFileSync(netstat, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf('ListenOverflows');
  const v = i > 0 ? Number(values[i]) : Number.NaN;
  return Number.isFinite(v) ? v : undefined;
}

/**
 * Connects dropped because a listener's accept queue was full
 * (`listen_backlog_max`): host-wide, since this node started, read at scrape.
 */
function listenOverflowMetric(registry: Registry): void {
  let last = listenOverflows();
  if (last === undefined) return;
  new Counter({
    name: 'ferrymq_tcp_listen_overflows_total',
    help: 'Connects the kernel dropped because an accept queue was full (all listeners of the host, since this node started; see listen_backlog_max)',
    registers: [registry],
    collect() {
      const now = listenOverflows();
      if (now === undefined || last === undefined) return;
      if (now > last) this.inc(now - last);
      last = now;
    },
  });
}

/** `eventLoopSampleMs`: the event-loop delay histogram's sampling period (config `event_loop_sample_ms`). */
export function createMetrics(labels: { node_id: number }, eventLoopSampleMs = 100): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node_id: String(labels.node_id) });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: eventLoopSampleMs });
  listenOverflowMetric(registry);
  return { registry, storage: storageMetrics(registry) };
}
