import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../errors.ts';
import { loadConfig, resolveConfig } from './load.ts';

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferrymq-config-'));
  const path = join(dir, 'ferrymq.toml');
  await writeFile(path, text);
  return path;
}

function errorOf(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FerryError) return err;
    throw err;
  }
  throw new Error('expected a FerryError');
}

describe('resolveConfig', () => {
  it('uses the embedded defaults from DESIGN.md, all on 127.0.0.1', () => {
    const c = resolveConfig(undefined, '(defaults)', {});
    expect(c.node_id).toBe(1);
    expect(c.roles).toEqual(['meta', 'broker', 'engine']);
    expect(c.data_dir).toBe('./data');
    expect(c.cluster.members).toEqual([]);
    const ports = Object.fromEntries(Object.entries(c.listeners).map(([k, v]) => [k, v.port]));
    expect(ports).toEqual({
      mqtt: 1883,
      mqtt_tls: 8883,
      mqtt_ws: 8083,
      mqtt_wss: 8084,
      kafka: 9092,
      admin: 8088,
      cluster: 9500,
    });
    for (const l of Object.values(c.listeners)) expect(l.host).toBe('127.0.0.1');
  });

  it('reads TOML sections and lets the environment override them', () => {
    const doc = {
      node_id: 2,
      listeners: { mqtt: '0.0.0.0:1884', admin: 0 },
      cluster: { members: ['2@127.0.0.1:9501'] },
    };
    const c = resolveConfig(doc, 'f.toml', {
      FERRYMQ_LISTENERS__ADMIN: '127.0.0.2:9000',
      FERRYMQ_ROLES: 'broker, engine',
    });
    expect(c.node_id).toBe(2);
    expect(c.listeners.mqtt).toEqual({ host: '0.0.0.0', port: 1884 });
    expect(c.listeners.admin).toEqual({ host: '127.0.0.2', port: 9000 });
    expect(c.roles).toEqual(['broker', 'engine']);
    expect(c.cluster.members).toEqual([{ id: 2, host: '127.0.0.1', port: 9501 }]);
  });

  it('parses IPv6 listener addresses', () => {
    const c = resolveConfig({ listeners: { kafka: '[::1]:9093' } }, 'f.toml', {});
    expect(c.listeners.kafka).toEqual({ host: '::1', port: 9093 });
  });

  it.each([
    [{ node_id: 0 }, {}, 'invalid config: node_id = 0 (in f.toml): expected an integer from 1 to 2147483647'],
    [
      { node_id: '1' },
      {},
      'invalid config: node_id = "1" (in f.toml): expected an integer from 1 to 2147483647',
    ],
    [
      {},
      { FERRYMQ_LISTENERS__MQTT: '1883x' },
      'invalid config: listeners.mqtt = "1883x" (from FERRYMQ_LISTENERS__MQTT): expected a port or "host:port"',
    ],
    [
      { listeners: { kafka: 70000 } },
      {},
      'invalid config: listeners.kafka = 70000 (in f.toml): expected an integer from 0 to 65535',
    ],
    [
      { roles: ['broker', 'pilot'] },
      {},
      'invalid config: roles = ["broker","pilot"] (in f.toml): expected one of meta, broker, engine',
    ],
    [{ roles: [] }, {}, 'invalid config: roles = [] (in f.toml): expected at least one role'],
    [{ listeners: { mqqt: 1 } }, {}, 'invalid config: unknown key listeners.mqqt (in f.toml)'],
    [
      { log: { level: 'loud' } },
      {},
      'invalid config: log.level = "loud" (in f.toml): expected one of trace, debug, info, warn, error, fatal, silent',
    ],
    [
      { listeners: { mqtt: 9000, kafka: '127.0.0.1:9000' } },
      {},
      'invalid config: listeners.kafka = "127.0.0.1:9000" is also used by listeners.mqtt',
    ],
    [{ cluster: { members: ['1@127.0.0.1:9500', '1@127.0.0.1:9501'] } }, {}, 'node id 1 is listed twice'],
    [
      { cluster: { members: ['1@127.0.0.1:9500', '2@127.0.0.1:9500'] } },
      {},
      'address 127.0.0.1:9500 is listed twice',
    ],
    [{ cluster: { members: ['2@127.0.0.1:9500'] } }, {}, 'cluster.members does not list node_id 1'],
    [{ cluster: { members: ['x@127.0.0.1:9500'] } }, {}, 'expected an integer from 1'],
  ])('refuses %j %j with one line naming key and value', (doc, env, message) => {
    const err = errorOf(() => resolveConfig(doc, 'f.toml', env));
    expect(err.code).toBe('FERRY_ERR_CONFIG_INVALID');
    expect(err.message).toContain(message);
    expect(err.message).not.toContain('\n');
  });
});

describe('loadConfig', () => {
  it('reads a file', async () => {
    const path = await configFile('node_id = 7\ndata_dir = "/tmp/x"\n[listeners]\nmqtt = 11883\n');
    const c = await loadConfig(path, {});
    expect(c.node_id).toBe(7);
    expect(c.data_dir).toBe('/tmp/x');
    expect(c.listeners.mqtt.port).toBe(11883);
  });

  it('reports a TOML syntax error with its line', async () => {
    const path = await configFile('node_id = 7\n[listeners\n');
    await expect(loadConfig(path, {})).rejects.toMatchObject({
      code: 'FERRY_ERR_CONFIG_READ',
      message: expect.stringMatching(/not valid TOML: line 2/),
    });
  });

  it('reports a missing file', async () => {
    await expect(loadConfig('/nonexistent/ferrymq.toml', {})).rejects.toMatchObject({
      code: 'FERRY_ERR_CONFIG_READ',
      message: 'cannot read config file /nonexistent/ferrymq.toml: ENOENT',
    });
  });
});
