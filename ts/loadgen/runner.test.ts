import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMqttBench } from './mqtt.ts';
import { parseMqttOptions } from './options.ts';

// The runner against a real broker (Aedes, in this process): worker threads, shared counters, merged histograms.
let server: Server;
let broker: Aedes;
let port = 0;

beforeAll(async () => {
  broker = await Aedes.createBroker();
  server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  port = typeof a === 'object' && a ? a.port : 0;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((r) => broker.close(() => r()));
});

describe('load runner', () => {
  it('runs a timed pubsub over two workers without blocking the main thread, and merges their histograms', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 50);
    const seen: number[] = [];
    const r = await runMqttBench(
      parseMqttOptions('pubsub', {
        host: `127.0.0.1:${port}`,
        duration: '2',
        rate: '400',
        publishers: '2',
        subscribers: '2',
        topics: '2',
        workers: '2',
      }),
      { onTick: () => seen.push(ticks) },
    );
    clearInterval(timer);
    // Without a stop signal the measured window must still wait on timers, not spin: the main
    // thread's own timer keeps firing between the progress ticks (~20 times a second).
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect((seen.at(-1) ?? 0) - (seen[0] ?? 0)).toBeGreaterThan(8);
    expect(r.workers).toBe(2);
    expect(r.errors).toBe(0);
    expect(r.durationS).toBeGreaterThanOrEqual(1.9);
    expect(r.messages.sent).toBeGreaterThan(700);
    expect(r.messages.sent).toBeLessThan(900);
    // One subscriber per topic: each message is delivered once; latency is recorded for the measured window only.
    const e2e = r.latencyUs.endToEnd;
    expect(e2e?.count).toBeGreaterThan(0);
    expect(e2e?.count).toBeLessThanOrEqual(r.totals.received);
    expect(r.totals.received).toBeGreaterThanOrEqual(r.totals.sent - 10);
    expect(r.latencyUs.connect?.count).toBe(4);
  });

  it('ends early on the stop signal and still reports', async () => {
    let stop: () => void = () => {};
    const stopSignal = new Promise<void>((r) => {
      stop = r;
    });
    setTimeout(stop, 700);
    const t0 = performance.now();
    const r = await runMqttBench(
      parseMqttOptions('pubsub', { host: `127.0.0.1:${port}`, duration: '30', rate: '200', workers: '1' }),
      { stopSignal },
    );
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(r.durationS).toBeLessThan(2);
    expect(r.messages.sent).toBeGreaterThan(0);
  });
});
