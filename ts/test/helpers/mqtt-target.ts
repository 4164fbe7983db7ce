/**
 * The broker under test for the MQTT conformance suite (ts/test/mqtt).
 *
 * `FERRYMQ_MQTT_TARGET=mosquitto` runs the suite against a Mosquitto started
 * here (the reference: Debian's mosquitto, see scripts/test-deps.sh) on
 * 127.0.0.1 free ports with TCP, WebSocket, TLS and secure WebSocket
 * listeners and persistence on. The default target, `ferrymq`, spawns the
 * real `ferrymq start` (helpers/broker.ts).
 *
 * Also here: raw-socket clients (mqtt-packet) and mqtt.js helpers shared by
 * the suite, so every test file reads the same way.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import * as mqttPacket from 'mqtt-packet';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type BrokerProcess, repoRoot, spawnBroker, tempDir } from './broker.ts';
import { freePort } from './ports.ts';
import { type TestPki, testPki } from './tls.ts';

export type TargetKind = 'mosquitto' | 'ferrymq';
export const TARGET: TargetKind = process.env.FERRYMQ_MQTT_TARGET === 'mosquitto' ? 'mosquitto' : 'ferrymq';
/** For `it.skipIf(MOSQUITTO)`: tests of spec behaviour Mosquitto 2.0 lacks (each cites the spec). */
export const MOSQUITTO = TARGET === 'mosquitto';

/** Installs mosquitto, mosquitto-clients, openssl and the paho venv if missing (quiet when present). */
function ensureTestDeps(): void {
  if (process.env.FERRYMQ_TEST_DEPS === 'skip') return;
  try {
    execFileSync('bash', [join(repoRoot, 'scripts', 'test-deps.sh')], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
  } catch (e) {
    throw new Error(`scripts/test-deps.sh failed: ${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
}
ensureTestDeps();

export interface HostPort {
  host: string;
  port: number;
}

export type Transport = 'tcp' | 'tls' | 'ws' | 'wss';

export interface Target {
  kind: TargetKind;
  tcp: HostPort;
  tls: HostPort;
  /** ws://127.0.0.1:<port>/mqtt */
  ws: string;
  /** wss://127.0.0.1:<port>/mqtt */
  wss: string;
  ca: string;
  clientCert: string;
  clientKey: string;
  pki: TestPki;
  /** Graceful stop (mosquitto: SIGTERM; ferrymq: SIGINT). */
  stop(): Promise<void>;
  /** Graceful stop, then start again on the same ports and the same persistent state. */
  restart(): Promise<void>;
  /** SIGKILL (no chance to save anything), then start again on the same ports and state. */
  kill9(): Promise<void>;
  /** The broker's log so far (for failure messages). */
  log(): string;
}

export interface TargetOptions {
  /** TLS client certificates: mosquitto has only none/require (require_certificate). */
  clientCert?: 'none' | 'request' | 'require';
  /** Extra mosquitto.conf lines (global section). */
  mosquittoConf?: string[];
  /** Extra FERRYMQ_* environment for the ferrymq target. */
  ferrymqEnv?: Record<string, string>;
}

export { freePort };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForPort(port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('broker exited while starting');
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}

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

async function startMosquitto(opts: TargetOptions, pki: TestPki): Promise<Target> {
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
      for (const port of [tcp, ws, tls, wss]) await waitForPort(port, 10_000, () => alive);
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
    stop: () => halt('SIGTERM'),
    restart: async () => {
      await halt('SIGTERM');
      await launch();
    },
    kill9: async () => {
      await halt('SIGKILL');
      await launch();
    },
    log: () => log,
  };
}

function hostPort(s: string | undefined, what: string): HostPort {
  if (!s) throw new Error(`ferrymq ready line has no listeners.${what}`);
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

async function startFerrymq(opts: TargetOptions, pki: TestPki): Promise<Target> {
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
    stop: () => halt('SIGINT'),
    restart: async () => {
      await halt('SIGINT');
      await launch();
    },
    kill9: async () => {
      await halt('SIGKILL');
      await launch();
    },
    log: () => logs + (b ? b.logs.map((l) => JSON.stringify(l)).join('\n') + b.stderr() : ''),
  };
}

/** Start the selected broker (FERRYMQ_MQTT_TARGET) with TCP, TLS, WS and WSS listeners. */
export async function startTarget(opts: TargetOptions = {}): Promise<Target> {
  const pki = await testPki();
  return TARGET === 'mosquitto' ? startMosquitto(opts, pki) : startFerrymq(opts, pki);
}

// ---------------------------------------------------------------------------
// Unique names: each test uses its own client ids and topics on a shared broker.
// ---------------------------------------------------------------------------
let seq = 0;
const runId = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
/** A client id unique in this run (23 chars max, as 3.1 requires). */
export function uid(prefix = 'c'): string {
  seq += 1;
  return `${prefix.slice(0, 8)}-${runId}-${seq}`.slice(0, 23);
}
/** A topic unique in this run, under test/. */
export function utopic(name = 't'): string {
  seq += 1;
  return `test/${runId}/${seq}/${name}`;
}

// ---------------------------------------------------------------------------
// mqtt.js clients
// ---------------------------------------------------------------------------
export interface Received {
  topic: string;
  payload: string;
  packet: mqttPacket.IPublishPacket;
}

/** Messages an mqtt.js client received, with waits that never hang. */
export class Inbox {
  readonly messages: Received[] = [];
  private waiters: Array<() => void> = [];
  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString(), packet });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** Resolves once `n` messages arrived in total; rejects after `timeoutMs`. */
  async waitFor(n: number, timeoutMs = 5_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `expected ${n} messages, got ${this.messages.length}: ${JSON.stringify(this.messages.map((m) => [m.topic, m.payload]))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.messages;
  }
  payloads(): string[] {
    return this.messages.map((m) => m.payload);
  }
}

export interface ConnectOptions extends IClientOptions {
  transport?: Transport;
}

/** One target's client factory; every client it made is ended after each test. */
export class Clients {
  private open = new Set<MqttClient>();
  private readonly target: () => Target;
  constructor(target: () => Target) {
    this.target = target;
  }

  url(transport: Transport = 'tcp'): string {
    const t = this.target();
    switch (transport) {
      case 'tcp':
        return `mqtt://${t.tcp.host}:${t.tcp.port}`;
      case 'tls':
        return `mqtts://${t.tls.host}:${t.tls.port}`;
      case 'ws':
        return t.ws;
      case 'wss':
        return t.wss;
    }
  }

  options(o: ConnectOptions = {}): IClientOptions {
    const t = this.target();
    const tls = o.transport === 'tls' || o.transport === 'wss';
    return {
      protocolVersion: 4,
      clientId: uid(),
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      ...(tls ? { ca: readFileSync(t.ca), servername: 'localhost' } : {}),
      ...(o.protocolVersion === 3 ? { protocolId: 'MQIsdp' as const } : {}),
      ...o,
    };
  }

  /** An mqtt.js client, connected (rejects on CONNACK failure or after 5 s). */
  async connect(o: ConnectOptions = {}): Promise<MqttClient> {
    return (await this.connectWithInbox(o)).client;
  }

  /**
   * A connected client plus the inbox of what it receives; the inbox is
   * attached before CONNACK, so messages queued in a session are not missed.
   */
  async connectWithInbox(o: ConnectOptions = {}): Promise<{ client: MqttClient; inbox: Inbox }> {
    const c = mqtt.connect(this.url(o.transport), this.options(o));
    this.open.add(c);
    const inbox = new Inbox(c);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('connect timed out')), 6_000);
      c.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      c.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      c.once('close', () => {
        clearTimeout(t);
        reject(new Error('closed before CONNACK'));
      });
    });
    c.on('error', () => {});
    return { client: c, inbox };
  }

  /** A raw-socket client on the TCP (or TLS) listener. */
  async raw(version: 3 | 4 | 5 = 4, transport: 'tcp' | 'tls' = 'tcp'): Promise<RawClient> {
    return RawClient.open(this.target(), version, transport);
  }

  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.open].map(
        (c) =>
          new Promise<void>((resolve) => {
            c.end(true, {}, () => resolve());
            setTimeout(resolve, 1_000);
          }),
      ),
    );
    this.open.clear();
    for (const r of RawClient.open_.splice(0)) r.destroy();
  }
}

/**
 * Registers beforeAll/afterAll/afterEach in the current describe: one broker
 * for the describe, every client closed after each test.
 */
export function useTarget(opts: TargetOptions = {}): { target: () => Target; clients: Clients } {
  let target: Target | undefined;
  const get = (): Target => {
    if (!target) throw new Error('target not started');
    return target;
  };
  const clients = new Clients(get);
  beforeAll(async () => {
    target = await startTarget(opts);
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  afterAll(async () => {
    await target?.stop();
  });
  return { target: get, clients };
}

/** Publish with mqtt.js and wait for the acknowledgement flow to finish. */
export async function publish(
  c: MqttClient,
  topic: string,
  payload: string | Buffer,
  opts: mqtt.IClientPublishOptions = {},
): Promise<void> {
  await c.publishAsync(topic, payload, opts);
}

// ---------------------------------------------------------------------------
// Raw clients: exact bytes in, parsed packets out.
// ---------------------------------------------------------------------------
export type AnyPacket = mqttPacket.Packet & Record<string, unknown>;

export class RawClient {
  static open_: RawClient[] = [];
  readonly received: AnyPacket[] = [];
  closed = false;
  readonly whenClosed: Promise<void>;
  parseError: Error | undefined;
  private waiters: Array<() => void> = [];

  readonly socket: Socket;
  readonly version: 3 | 4 | 5;

  private constructor(socket: Socket, version: 3 | 4 | 5) {
    this.socket = socket;
    this.version = version;
    const parser = mqttPacket.parser({ protocolVersion: version === 3 ? 3 : version });
    parser.on('packet', (p: mqttPacket.Packet) => {
      this.received.push(p as AnyPacket);
      this.wake();
    });
    parser.on('error', (e: Error) => {
      this.parseError = e;
      this.wake();
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => {});
    this.whenClosed = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static async open(
    target: Target,
    version: 3 | 4 | 5 = 4,
    transport: 'tcp' | 'tls' = 'tcp',
  ): Promise<RawClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s =
        transport === 'tls'
          ? tlsConnect({
              host: target.tls.host,
              port: target.tls.port,
              ca: readFileSync(target.ca),
              servername: 'localhost',
            })
          : tcpConnect(target.tcp.port, target.tcp.host);
      s.once(transport === 'tls' ? 'secureConnect' : 'connect', () => resolve(s));
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    const r = new RawClient(socket, version);
    RawClient.open_.push(r);
    return r;
  }

  /** Encode with mqtt-packet at this client's protocol version and send. */
  send(p: Record<string, unknown>): void {
    const v = this.version;
    this.socket.write(mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: v }));
  }

  write(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** CONNECT with sane defaults, then the CONNACK. */
  async connect(p: Record<string, unknown> = {}, timeoutMs = 3_000): Promise<AnyPacket> {
    const v = this.version;
    this.send({
      cmd: 'connect',
      protocolId: v === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: v,
      clean: true,
      clientId: uid('raw'),
      keepalive: 60,
      ...p,
    });
    return this.expect('connack', timeoutMs);
  }

  /** The next packet of type `cmd` (others stay queued); rejects on close or timeout. */
  async expect(cmd: mqttPacket.PacketCmd, timeoutMs = 3_000): Promise<AnyPacket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.received.splice(i, 1)[0] as AnyPacket;
      if (this.closed) throw new Error(`connection closed while waiting for ${cmd}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no ${cmd} within ${timeoutMs} ms (got ${this.received.map((p) => p.cmd).join(',')})`,
        );
      }
      await this.tick(left);
    }
  }

  /** Resolves when the server closes the connection; rejects after timeoutMs. */
  async expectClose(timeoutMs = 3_000): Promise<void> {
    const ok = await Promise.race([this.whenClosed.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!ok) throw new Error(`server did not close the connection within ${timeoutMs} ms`);
  }

  /** Asserts no packet of type `cmd` (any, if omitted) arrives within `ms`. */
  async expectNothing(ms: number, cmd?: mqttPacket.PacketCmd): Promise<void> {
    await sleep(ms);
    const got = this.received.filter((p) => !cmd || p.cmd === cmd);
    if (got.length) {
      const desc = got.map((p) =>
        p.cmd === 'publish' ? `publish(${p.topic}, ${String(p.payload)}, id ${p.messageId})` : p.cmd,
      );
      throw new Error(`unexpected packets: ${desc.join(', ')}`);
    }
  }

  private tick(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
