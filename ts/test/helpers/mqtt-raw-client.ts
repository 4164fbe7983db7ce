/**
 * Raw-socket MQTT clients for the conformance suite (helpers/mqtt-target.ts):
 * exact bytes in, packets parsed by mqtt-packet out.
 */
import { readFileSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import * as mqttPacket from 'mqtt-packet';
import { uid } from './mqtt-names.ts';
import type { Target } from './mqtt-target.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
