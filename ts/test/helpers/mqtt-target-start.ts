/**
 * Starting the broker under test (helpers/mqtt-target.ts): Mosquitto with
 * TCP, WebSocket, TLS and secure WebSocket listeners and persistence on, or
 * the real `ferrymq start` (helpers/broker.ts) with the same four.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { type BrokerProcess, spawnBroker, tempDir } from './broker.ts';
import type { HostPort, Target, TargetOptions } from './mqtt-target.ts';
import { freePort, waitForPort } from './ports.ts';
import type { TestPki } from './tls.ts';

const mosquittoChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of mosquittoChildren) c.kill('SIGKILL');
});

function mosquittoBin(): string {
  const found = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) =>
    existsSync(p),
  );
  return found ?? 'mosquitto';
}

export async function startMosquitto(opts: TargetOptions, pki: TestPki): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'ferrymq-mosquitto-'));
  const [tcp, ws, tls, wss] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const tlsLines = [
    `cafile ${pki.ca}`,
    `certfile ${pki.serverCert}`,
    `keyfile ${pki.serverKey}`,
    `require_certificate ${opts.clientCert === 'require' ? 'true' : 'false'}`,
  ];
  const conf = [
    // Started as root, mosquitto would drop to user "mosquitto", who cannot read our 0700 temp dirs.
    `user ${userInfo().username}`,
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    // Save after every change, so a kill -9 loses as little as Mosquitto allows.
    'autosave_on_changes true',
    'autosave_interval 1',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    'set_tcp_nodelay true',
    ...(opts.mosquittoConf ?? []),
    `listener ${tcp} 127.0.0.1`,
    `listener ${ws} 127.0.0.1`,
    'protocol websockets',
    `listener ${tls} 127.0.0.1`,
    ...tlsLines,
    `listener ${wss} 127.0.0.1`,
    'protocol websockets',
    ...tlsLines,
    '',
  ].join('\n');
  const confPath = join(dir, 'mosquitto.conf');
  await writeFile(confPath, conf);
  let proc: ChildProcess | undefined;
  let log = '';
  let exited: Promise<void> = Promise.resolve();
  const launch = async (): Promise<void> => {
    const p = spawn(mosquittoBin(), ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    mosquittoChildren.add(p);
    p.stdout?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    p.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    let alive = true;
    exited = new Promise((resolve) => {
      p.on('exit', () => {
        alive = false;
        mosquittoChildren.delete(p);
        resolve();
      });
    });
    p.on('error', (e) => {
      log += `spawn error: ${e.message}\n`;
    });
    try {
      for (const port of [tcp, ws, tls, wss]) await waitForPort(port, () => alive);
    } catch (e) {
      throw new Error(`mosquitto did not start: ${(e as Error).message}\n${log}`);
    }
  };
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill(signal);
      const t = setTimeout(() => proc?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
  };
  await launch();
  return {
    kind: 'mosquitto',
    tcp: { host: '127.0.0.1', port: tcp },
    tls: { host: '127.0.0.1', port: tls },
    ws: `ws://127.0.0.1:${ws}/mqtt`,
    wss: `wss://127.0.0.1:${wss}/mqtt`,
    ca: pki.ca,
    clientCert: pki.clientCert,
    clientKey: pki.clientKey,
    pki,
    ...lifecycle(halt, launch, 'SIGTERM'),
    log: () => log,
  };
}

/** A target's stop / restart / kill9 from its `halt(signal)` and `launch()`; `stopSignal` is its graceful stop. */
function lifecycle(
  halt: (signal: NodeJS.Signals) => Promise<void>,
  launch: () => Promise<unknown>,
  stopSignal: NodeJS.Signals,
): Pick<Target, 'stop' | 'restart' | 'kill9'> {
  const again = async (signal: NodeJS.Signals): Promise<void> => {
    await halt(signal);
    await launch();
  };
  return { stop: () => halt(stopSignal), restart: () => again(stopSignal), kill9: () => again('SIGKILL') };
}

function hostPort(s: string | undefined, what: string): HostPort {
  if (!s) throw new Error(`ferrymq ready line has no listeners.${what}`);
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

export async function startFerrymq(opts: TargetOptions, pki: TestPki): Promise<Target> {
  const dataDir = await tempDir('ferrymq-mqtt-');
  const ports = {
    mqtt: await freePort(),
    tls: await freePort(),
    ws: await freePort(),
    wss: await freePort(),
  };
  const env: Record<string, string> = {
    FERRYMQ_LISTENERS__MQTT: `127.0.0.1:${ports.mqtt}`,
    FERRYMQ_LISTENERS__MQTT_TLS: `127.0.0.1:${ports.tls}`,
    FERRYMQ_LISTENERS__MQTT_WS: `127.0.0.1:${ports.ws}`,
    FERRYMQ_LISTENERS__MQTT_WSS: `127.0.0.1:${ports.wss}`,
    FERRYMQ_TLS__CERT_FILE: pki.serverCert,
    FERRYMQ_TLS__KEY_FILE: pki.serverKey,
    FERRYMQ_TLS__CA_FILE: pki.ca,
    FERRYMQ_TLS__CLIENT_CERT: opts.clientCert ?? 'none',
    ...opts.ferrymqEnv,
  };
  let b: BrokerProcess | undefined;
  let logs = '';
  let listeners: Record<string, string> = {};
  const launch = async (): Promise<void> => {
    const started = await spawnBroker({ dataDir, env });
    b = started;
    try {
      await started.ready;
    } catch (e) {
      throw new Error(`ferrymq did not start: ${(e as Error).message}`);
    }
    listeners = started.listeners();
  };
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    if (!b) return;
    const cur = b;
    logs += cur.logs.map((l) => JSON.stringify(l)).join('\n') + cur.stderr();
    cur.signal(signal);
    const t = setTimeout(() => cur.signal('SIGKILL'), 15_000);
    await cur.exited;
    clearTimeout(t);
  };
  await launch();
  const tcp = hostPort(listeners.mqtt, 'mqtt');
  const tls = hostPort(listeners.mqtt_tls, 'mqtt_tls');
  const ws = hostPort(listeners.mqtt_ws, 'mqtt_ws');
  const wss = hostPort(listeners.mqtt_wss, 'mqtt_wss');
  return {
    kind: 'ferrymq',
    tcp,
    tls,
    ws: `ws://${ws.host}:${ws.port}/mqtt`,
    wss: `wss://${wss.host}:${wss.port}/mqtt`,
    ca: pki.ca,
    clientCert: pki.clientCert,
    clientKey: pki.clientKey,
    pki,
    ...lifecycle(halt, launch, 'SIGINT'),
    log: () => logs + (b ? b.logs.map((l) => JSON.stringify(l)).join('\n') + b.stderr() : ''),
  };
}
