/**
 * The `ferrymq start` process as a user runs it: real process, real
 * sockets, temporary data dir, free ports.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker, tempDir } from './helpers/broker.ts';

const running: BrokerProcess[] = [];
async function start(opts: Parameters<typeof spawnBroker>[0] = {}): Promise<BrokerProcess> {
  const b = await spawnBroker(opts);
  running.push(b);
  return b;
}

afterEach(async () => {
  for (const b of running.splice(0)) {
    b.signal('SIGKILL');
    await b.exited;
  }
});

describe('ferrymq start', () => {
  it('starts on defaults with a ready line listing its listeners, and serves /health', async () => {
    const b = await start();
    const ready = await b.ready;
    expect(ready.node_id).toBe(1);
    expect(ready.listeners).toHaveProperty('admin');
    expect(typeof ready.ready_ms).toBe('number');
    const res = await fetch(`${b.adminUrl()}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: 'ok',
      node_id: 1,
      roles: ['meta', 'broker', 'engine'],
      version: '0.1.0',
    });
    expect(body.uptime_s).toBeGreaterThanOrEqual(0);
  });

  it('serves Prometheus metrics including event-loop lag', async () => {
    const b = await start();
    await b.ready;
    const res = await fetch(`${b.adminUrl()}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{node_id="1"\} \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes\{node_id="1"\} \d+/m);
  });

  it('counts MQTT traffic in /metrics (ferrymq_mqtt_*)', async () => {
    const b = await start();
    await b.ready;
    const client = await mqtt.connectAsync(`mqtt://${b.listeners().mqtt}`, { reconnectPeriod: 0 });
    await client.subscribeAsync('m/t', { qos: 1 });
    await client.publishAsync('m/t', 'x', { qos: 1 });
    await client.endAsync();
    const text = await (await fetch(`${b.adminUrl()}/metrics`)).text();
    expect(text).toMatch(/^ferrymq_mqtt_messages_total\{direction="in",node_id="1"\} [1-9]/m);
    expect(text).toMatch(/^ferrymq_mqtt_messages_total\{direction="out",node_id="1"\} [1-9]/m);
    expect(text).toMatch(/^ferrymq_mqtt_bytes_total\{direction="in",node_id="1"\} [1-9]/m);
  });

  it('reserves /api/v1 and answers unknown routes with a JSON 404', async () => {
    const b = await start();
    await b.ready;
    const node = (await (await fetch(`${b.adminUrl()}/api/v1/node`)).json()) as Record<string, unknown>;
    expect(node).toMatchObject({ node_id: 1, data_dir: b.dataDir });
    const missing = await fetch(`${b.adminUrl()}/api/v1/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'not_found' });
  });

  it('refuses a second process on the same data dir, naming the holder', async () => {
    const first = await start();
    await first.ready;
    const second = await start({ dataDir: first.dataDir });
    const { code } = await second.exited;
    expect(code).toBe(1);
    expect(second.stderr()).toContain(
      `data dir ${first.dataDir} is in use by another ferrymq process (pid ${first.proc.pid})`,
    );
    expect(second.stderr()).toContain('FERRY_ERR_DATA_DIR_LOCKED');
    // The first is unaffected.
    expect((await fetch(`${first.adminUrl()}/health`)).status).toBe(200);
  });

  it('takes the lock over after the holder is killed with SIGKILL', async () => {
    const first = await start();
    await first.ready;
    first.signal('SIGKILL');
    await first.exited;
    const second = await start({ dataDir: first.dataDir });
    await second.ready;
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('stops cleanly on %s with exit 0', async (signal) => {
    const b = await start();
    await b.ready;
    const t0 = performance.now();
    b.signal(signal);
    const { code } = await b.exited;
    expect(code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(b.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    // The lock is released: the same data dir starts again.
    const again = await start({ dataDir: b.dataDir });
    await again.ready;
  });

  it('refuses a bad config value with one line on stderr and exit 2', async () => {
    const b = await start({ env: { FERRYMQ_LISTENERS__KAFKA: 'not-a-port' } });
    const { code } = await b.exited;
    expect(code).toBe(2);
    expect(b.stderr()).toBe(
      'ferrymq: invalid config: listeners.kafka = "not-a-port" (from FERRYMQ_LISTENERS__KAFKA): expected a port or "host:port"\n',
    );
  });

  it('reads --config FILE and refuses its bad keys', async () => {
    const dir = await tempDir();
    const good = join(dir, 'good.toml');
    await writeFile(good, 'node_id = 3\n[log]\nlevel = "debug"\n');
    const b = await start({ args: ['--config', good] });
    expect((await b.ready).node_id).toBe(3);
    const bad = join(dir, 'bad.toml');
    await writeFile(bad, 'node_id = 3\n[log]\nlevel = "loud"\n');
    const c = await start({ args: ['--config', bad] });
    expect((await c.exited).code).toBe(2);
    expect(c.stderr()).toBe(
      `ferrymq: invalid config: log.level = "loud" (in ${bad}): expected one of trace, debug, info, warn, error, fatal, silent\n`,
    );
  });

  it('fails with a clear error when the admin port is taken', async () => {
    const first = await start();
    await first.ready;
    const taken = first.listeners().admin as string;
    const second = await start({ env: { FERRYMQ_LISTENERS__ADMIN: taken } });
    expect((await second.exited).code).toBe(1);
    expect(second.stderr()).toContain(`admin listener cannot bind ${taken}: EADDRINUSE`);
  });
});
