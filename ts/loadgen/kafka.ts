/** `ferrymq bench kafka <scenario>`: the topic's layout first (created if asked), then the load workers. */
import { KafkaConn } from './kafka-conn.ts';
import { createTopic, partitionLeaders } from './kafka-meta.ts';
import type { KafkaWorkerOptions } from './kafka-worker.ts';
import type { KafkaOptions } from './options.ts';
import { type BenchReport, buildReport } from './report.ts';
import { type RunHooks, runLoad, workerUrl } from './runner.ts';

export function describeKafka(o: KafkaOptions, partitions: number): string {
  if (o.scenario === 'produce') {
    return `topic ${o.topic} (${partitions} partition(s)), ${o.recordBytes} B records, acks=${o.acks}, batch ${o.batchBytes} B, linger ${o.lingerMs} ms, ${o.inflight} request(s) in flight, ${o.clients} producer(s), ${o.rate > 0 ? `${o.rate} records/s` : 'unthrottled'}`;
  }
  return `topic ${o.topic} (${partitions} partition(s)), ${o.clients} consumer(s), ${o.group !== undefined ? `group ${o.group}` : 'partitions assigned by the bench'}, from ${o.from}, fetch ≤ ${o.fetchMaxBytes} B / ${o.fetchMaxWaitMs} ms`;
}

export async function runKafkaBench(o: KafkaOptions, hooks: RunHooks = {}): Promise<BenchReport> {
  const c = await KafkaConn.open(o.bootstrap, o.clientId);
  let leaders: Awaited<ReturnType<typeof partitionLeaders>>;
  try {
    if (o.partitions > 0) await createTopic(c, o.topic, o.partitions);
    leaders = await partitionLeaders(c, o.topic, o.scenario === 'produce');
  } finally {
    c.close();
  }
  const options: KafkaWorkerOptions = { ...o, leaders };
  const role = o.scenario === 'produce' ? 'producer' : 'consumer';
  const r = await runLoad(
    {
      worker: workerUrl('kafka-worker', import.meta.url),
      options,
      roles: { [role]: o.clients },
      senders: 'producer',
      endWhenIdle: o.scenario === 'consume',
    },
    hooks,
  );
  return buildReport(
    {
      protocol: 'kafka',
      scenario: o.scenario,
      target: o.bootstrap,
      description: describeKafka(o, leaders.length),
      options: { ...o },
    },
    r,
    o.recordBytes,
  );
}
