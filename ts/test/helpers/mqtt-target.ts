/**
 * The broker under test for the MQTT conformance suite (ts/test/mqtt).
 *
 * `FERRYMQ_MQTT_TARGET=mosquitto` runs the suite against a Mosquitto started
 * here (the reference: Debian's mosquitto, see scripts/test-deps.sh) on
 * 127.0.0.1 free ports with TCP, WebSocket, TLS and secure WebSocket
 * listeners and persistence on. The default target, `ferrymq`, spawns the
 * real `ferrymq start` (helpers/broker.ts).
 *
 * Also here: mqtt.js helpers shared by the suite, so every test file reads
 * the same way; the raw-socket clients (mqtt-packet) are in
 * mqtt-raw-client.ts and re-exported, starting the brokers is in
 * mqtt-target-start.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type * as mqttPacket from 'mqtt-packet';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { repoRoot } from './broker.ts';
import { uid } from './mqtt-names.ts';
import { RawClient } from './mqtt-raw-client.ts';
import { startFerrymq, startMosquitto } from './mqtt-target-start.ts';
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

/** Start the selected broker (FERRYMQ_MQTT_TARGET) with TCP, TLS, WS and WSS listeners. */
export async function startTarget(opts: TargetOptions = {}): Promise<Target> {
  const pki = await testPki();
  return TARGET === 'mosquitto' ? startMosquitto(opts, pki) : startFerrymq(opts, pki);
}

export { uid, utopic } from './mqtt-names.ts';

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

export { type AnyPacket, RawClient } from './mqtt-raw-client.ts';
