import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.ts';

async function sample(
  m: ReturnType<typeof createMetrics>,
  name: string,
  engine: string,
): Promise<number | undefined> {
  const metric = m.registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const got = await metric.get();
  return got.values.find((v) => v.labels.engine === engine)?.value;
}

describe('storage append metrics', () => {
  it('hand the sums made between scrapes to the registry, per engine, and keep counting after a scrape', async () => {
    const m = createMetrics({ node_id: 1 });
    m.storage.appendCalls('segment', 1);
    m.storage.appendCalls('segment', 1);
    m.storage.appendedRecords('segment', 150);
    m.storage.appendedBytes('segment', 16_000);
    m.storage.appendedRecords('memory', 3);
    expect(await sample(m, 'ferrymq_storage_append_calls_total', 'segment')).toBe(2);
    expect(await sample(m, 'ferrymq_storage_appended_records_total', 'segment')).toBe(150);
    expect(await sample(m, 'ferrymq_storage_appended_records_total', 'memory')).toBe(3);
    expect(await sample(m, 'ferrymq_storage_appended_bytes_total', 'segment')).toBe(16_000);
    // A second scrape neither loses nor double-counts what the first one took.
    expect(await sample(m, 'ferrymq_storage_appended_records_total', 'segment')).toBe(150);
    m.storage.appendedRecords('segment', 50);
    expect(await sample(m, 'ferrymq_storage_appended_records_total', 'segment')).toBe(200);
    const text = await m.registry.metrics();
    expect(text).toContain('ferrymq_storage_appended_records_total{engine="segment",node_id="1"} 200');
    expect(text).toContain('ferrymq_storage_append_calls_total{engine="segment",node_id="1"} 2');
  });

  it('report calls in flight as the running sum of their ups and downs', async () => {
    const m = createMetrics({ node_id: 1 });
    m.storage.appendCallsInFlight?.('segment', 1);
    m.storage.appendCallsInFlight?.('segment', 1);
    expect(await sample(m, 'ferrymq_storage_append_calls_in_flight', 'segment')).toBe(2);
    m.storage.appendCallsInFlight?.('segment', -1);
    expect(await sample(m, 'ferrymq_storage_append_calls_in_flight', 'segment')).toBe(1);
    m.storage.appendCallsInFlight?.('segment', -1);
    expect(await sample(m, 'ferrymq_storage_append_calls_in_flight', 'segment')).toBe(0);
  });
});
