/**
 * One MQTT network connection: frames bytes into packets, runs the
 * connection state machine, and owns the per-connection protocol state
 * (keep alive, topic aliases, outgoing encoding). Packet handlers live in
 * handlers/; they get this connection and the broker, nothing else.
 *
 * State is one value: `awaiting-connect` (a CONNECT timeout runs), then
 * `authenticating` (only with an auth hook; later packets wait), then
 * `connected` (bound to a Session, kept beside the state), then `closed`. Every error a client can
 * cause ends here as the protocol's answer (CONNACK or DISCONNECT with a
 * reason code, or a plain close for 3.1.1) and affects only this connection.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Packet } from 'mqtt-packet';
import type { MqttConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { MqttAuthHook } from './auth.ts';
import type { Broker } from './broker.ts';
import { decodeHot, isHotType, MqttDecodeError, PUBLISH, type TopicCache } from './codec/decode.ts';
import { type AckCmd, encodeAck, PINGRESP } from './codec/encode.ts';
import { type FrameReader, type FrameSink, giveBackFrameReader, takeFrameReader } from './codec/frames.ts';
import { encodeSlow } from './codec/slow-encoder.ts';
import { parseFrame } from './codec/slow-parser.ts';
import { type DirectWriter, directWriter } from './direct-writes.ts';
import { type Flushable, scheduleFlush } from './event-flush.ts';
import { handlePacket } from './handlers/index.ts';
import { type KeepaliveClient, KeepaliveWheel } from './keepalive.ts';
import { encodeDelivery, OutboundAliases } from './publish-out.ts';
import { Reason } from './reason-codes.ts';
import type { Delivery, Session, SessionLink } from './session.ts';
import { isSharedReadBuffer, readIntoShared } from './shared-reads.ts';
import type { Will } from './will.ts';

export interface ConnectionMetrics {
  bytesIn(n: number): void;
  bytesOut(n: number): void;
  dropped(reason: string): void;
  sent(): void;
}

export interface ConnectionDeps {
  broker: Broker;
  config: MqttConfig;
  logger: Logger;
  metrics: ConnectionMetrics;
  /** Called once the connection is closed, for the listener's bookkeeping. */
  onClose: (c: Connection) => void;
  /** The `mqtt.auth_module` hook, if configured. */
  auth: MqttAuthHook | undefined;
  /** Publishes or schedules the will of a connection that ended abnormally. */
  onWill: (will: Will, session: Session) => void;
}

/**
 * The CONNECT timeout runs on the keep-alive wheel until the session is
 * bound (no Timeout per connection).
 */
export type ConnectionState =
  | { kind: 'awaiting-connect' }
  /** CONNECT received; the auth hook is deciding. Packets that arrive meanwhile wait (bounded). */
  | { kind: 'authenticating'; pending: Packet[] }
  /** The Session is the connection's #session field: no state object per connection. */
  | { kind: 'connected' }
  | { kind: 'closed' };

/** The states without data are shared by every connection. */
const AWAITING_CONNECT: ConnectionState = Object.freeze({ kind: 'awaiting-connect' });
const CONNECTED: ConnectionState = Object.freeze({ kind: 'connected' });
const CLOSED: ConnectionState = Object.freeze({ kind: 'closed' });

/**
 * Per-connection state most connections never use, in one object made on
 * first use: an idle connection without a will, authentication exchange
 * or topic aliases keeps one pointer instead of five.
 */
interface Rare {
  /** Set only when the socket cannot tell its peer (WebSocket streams). */
  remote: string | undefined;
  will: Will | undefined;
  authWaiter: ((p: Packet) => void) | undefined;
  authMethod: string | undefined;
  inboundAliases: Map<number, string> | undefined;
}

/**
 * Larger than any MQTT packet (1 + 4 + 268,435,455 bytes): "no Maximum
 * Packet Size" as a small integer, where Infinity would be a boxed double
 * in every connection.
 */
const NO_PACKET_SIZE_LIMIT = 268_435_460;

/** Packets a client may pipeline behind CONNECT while authentication runs. */
const PENDING_PACKETS_MAX = 1000;

/** The Connection a socket belongs to: socket listeners are shared functions, not closures per connection. */
const kConn = Symbol('ferrymq.mqtt.connection');
type LinkedSocket = Duplex & { [kConn]?: Connection };

/** 3.1/3.1.1 CONNACK by return code (0–5), then Session Present (0, 1). */
const CONNACK_V3: Buffer[][] = Array.from({ length: 6 }, (_, rc) => [
  Buffer.from([0x20, 2, 0, rc]),
  Buffer.from([0x20, 2, 1, rc]),
]);

/** Packets whose encoding connection.ts does itself (codec/encode.ts); the rest goes to mqtt-packet. */
const ACK_CMDS = new Set<string>(['puback', 'pubrec', 'pubrel', 'pubcomp']);

function onSocketData(this: LinkedSocket, chunk: Buffer): void {
  this[kConn]?.receive(chunk);
}

/**
 * A read at least this long is copied out of the shared read buffer whole,
 * and its frames are decoded as views of the copy; a shorter one is decoded
 * in place and only its PUBLISH and CONNECT-like frames are copied (frame()).
 * At a low rate a read carries one packet: no per-read allocation at all.
 * Under load a read carries hundreds: one copy of the chunk costs less than
 * a copy per frame (p2p QoS 0 throughput was 19% lower with per-frame copies).
 */
const COPY_WHOLE_READ_BYTES = 1024;

/** shared-reads.ts's callback: `buf[0, n)` is valid only until this returns. */
function onSharedRead(this: Socket, n: number, buf: Buffer): boolean {
  const conn = (this as LinkedSocket)[kConn];
  if (conn !== undefined)
    conn.receive(n >= COPY_WHOLE_READ_BYTES ? Buffer.from(buf.subarray(0, n)) : buf.subarray(0, n));
  return true;
}

/** Set once a plain TCP socket could not read into the shared buffer (logged once per process). */
let sharedReadsUnavailable = false;

function onSocketError(this: LinkedSocket): void {
  this[kConn]?.close('socket-error');
}

function onSocketClose(this: LinkedSocket): void {
  this[kConn]?.close('socket-closed');
}

function onSocketDrain(this: LinkedSocket): void {
  const c = this[kConn];
  if (c?.paused) {
    c.paused = false;
    this.resume();
  }
}

/** direct-writes.ts's drain: libuv's queue of a direct-written socket is empty again. */
function onDirectDrained(socket: Socket): void {
  onSocketDrain.call(socket as LinkedSocket);
}

/** What an accepted plain TCP socket may do beyond the stream interface (Connection's constructor). */
export interface TcpFastPaths {
  sharedReads: boolean;
  directWrites: boolean;
}

const NO_FAST_PATHS: TcpFastPaths = { sharedReads: false, directWrites: false };

/** Set once a plain TCP socket could not be written directly (logged once per process). */
let directWritesUnavailable = false;

/** Keep-alive and CONNECT deadlines of every connection of the process, checked every 100 ms. */
const keepaliveWheel = new KeepaliveWheel(100);

function peerOf(socket: Duplex): string {
  const s = socket as Partial<Socket>;
  return s.remoteAddress === undefined ? 'unknown' : `${s.remoteAddress}:${s.remotePort}`;
}

export class Connection implements SessionLink, FrameSink, KeepaliveClient, Flushable {
  readonly deps: ConnectionDeps;
  readonly socket: Duplex;
  state: ConnectionState;
  /** While connected: the bound Session (see `session`). */
  #session: Session | undefined;
  /** See Rare; undefined until one of its fields is set. */
  #rare: Rare | undefined;
  protocolVersion: 3 | 4 | 5 = 4;
  clientId = '';
  /** The client's Receive Maximum [MQTT-3.3.4-9]. */
  receiveMaximum = 65_535;
  /** The client's Maximum Packet Size, if it set one [MQTT-3.1.2-24]. */
  clientPacketBytesMax = NO_PACKET_SIZE_LIMIT;
  /** Topic aliases the client accepts from us. */
  clientTopicAliasMax = 0;
  #outboundAliases: OutboundAliases | undefined;
  /** A clean DISCONNECT was received (no will) or the server closed on purpose. */
  cleanClose = false;
  /** KeepaliveClient: the wheel's tick of the last chunk that completed a packet (before CONNECT: of the accept). */
  lastPacketTick: number;
  /** KeepaliveClient: 1.5 × Keep Alive in ticks (before CONNECT: the CONNECT timeout). */
  keepaliveTicks: number;
  keepaliveSlot = -1;
  /** The last PUBLISH topic received (allocated with the first PUBLISH). */
  #topics: TopicCache | undefined;
  /** A whole packet came in the chunk being read. */
  #framed = false;
  /** Tail of the acknowledgements waiting for persistence, to keep them in order. */
  #acks: Promise<void> | undefined;
  /** Only while a frame split across chunks is pending (see takeReader); undefined when idle. */
  #frames: FrameReader | undefined;
  /** Reading is paused because the socket's write buffer is full (backpressure). */
  paused = false;
  /** What this event wrote, sent when it ends (flushWrites): one Buffer, or several in order. */
  #out: Buffer | Buffer[] | undefined;
  /** Bytes in #out: outbound_bytes_max counts them with the socket's own buffer. */
  #outBytes = 0;
  /** Writes straight to the socket's handle (direct-writes.ts), or undefined: through the stream. */
  #direct: DirectWriter | undefined;

  /**
   * `tcp`: what a plain TCP socket may do beyond the stream interface: read
   * into the process's shared read buffer (shared-reads.ts,
   * `mqtt.tcp_shared_read_buffer`) and write straight to its handle
   * (direct-writes.ts, `mqtt.tcp_direct_writes`).
   */
  constructor(
    socket: Duplex,
    remote: string | undefined,
    deps: ConnectionDeps,
    tcp: TcpFastPaths = NO_FAST_PATHS,
  ) {
    this.socket = socket;
    this.deps = deps;
    this.#session = undefined;
    // TCP and TLS sockets are asked for their peer when needed; only WebSocket streams need it kept.
    this.#rare = undefined;
    if (remote !== undefined) this.#more().remote = remote;
    this.#frames = undefined;
    this.#out = undefined;
    this.state = AWAITING_CONNECT;
    this.lastPacketTick = keepaliveWheel.now();
    this.keepaliveTicks = keepaliveWheel.ticks(deps.config.connect_timeout_ms);
    keepaliveWheel.add(this);
    (socket as LinkedSocket)[kConn] = this;
    socket.on('data', onSocketData);
    if (tcp.sharedReads && !readIntoShared(socket as Socket, onSharedRead) && !sharedReadsUnavailable) {
      sharedReadsUnavailable = true;
      deps.logger.warn('this Node.js cannot read sockets into a shared buffer: reads allocate a buffer each');
    }
    this.#direct = tcp.directWrites ? directWriter(socket as Socket, onDirectDrained) : undefined;
    if (tcp.directWrites && this.#direct === undefined && !directWritesUnavailable) {
      directWritesUnavailable = true;
      deps.logger.warn('this Node.js cannot write sockets directly: writes go through the stream');
    }
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
  }

  get session(): Session | undefined {
    return this.#session;
  }

  #more(): Rare {
    this.#rare ??= {
      remote: undefined,
      will: undefined,
      authWaiter: undefined,
      authMethod: undefined,
      inboundAliases: undefined,
    };
    return this.#rare;
  }

  /** The peer's address, for logs and the auth hook. */
  get remote(): string {
    return this.#rare?.remote ?? peerOf(this.socket);
  }

  /** The will of this connection (set by CONNECT), published unless it ends cleanly. */
  get will(): Will | undefined {
    return this.#rare?.will;
  }

  set will(w: Will | undefined) {
    if (w !== undefined || this.#rare) this.#more().will = w;
  }

  /** AUTH packets of a running enhanced-authentication exchange go here. */
  get authWaiter(): ((p: Packet) => void) | undefined {
    return this.#rare?.authWaiter;
  }

  set authWaiter(f: ((p: Packet) => void) | undefined) {
    if (f !== undefined || this.#rare) this.#more().authWaiter = f;
  }

  /** The Authentication Method this connection authenticated with (5.0). */
  get authMethod(): string | undefined {
    return this.#rare?.authMethod;
  }

  set authMethod(m: string | undefined) {
    if (m !== undefined || this.#rare) this.#more().authMethod = m;
  }

  get isV5(): boolean {
    return this.protocolVersion === 5;
  }

  /** 5.0 Topic Aliases the client set (§3.3.2.3.4); allocated on first use. */
  get inboundAliases(): Map<number, string> {
    const rare = this.#more();
    rare.inboundAliases ??= new Map();
    return rare.inboundAliases;
  }

  /** Bytes from the socket. */
  receive(chunk: Buffer): void {
    if (this.state.kind === 'closed') return;
    this.deps.metrics.bytesIn(chunk.length);
    const max = this.deps.config.packet_bytes_max;
    const frames = this.#frames ?? takeFrameReader(max);
    frames.push(chunk, this);
    if (frames.pendingBytes > 0) {
      this.#frames = frames;
    } else {
      this.#frames = undefined;
      giveBackFrameReader(frames);
    }
    if (this.#framed) {
      this.#framed = false;
      // Keep alive counts packets; one clock read per chunk, not per packet.
      // Before CONNECT is accepted the deadline is the CONNECT timeout, which packets do not move.
      if (this.state.kind === 'connected') this.lastPacketTick = keepaliveWheel.now();
    }
  }

  /** FrameSink: a fixed header that cannot be accepted. */
  frameError(reason: 'too-large' | 'malformed'): void {
    this.protocolError(reason === 'too-large' ? Reason.PacketTooLarge : Reason.MalformedPacket, reason);
  }

  /** FrameSink: decode one whole frame and handle it; false once the connection is closed. */
  frame(buf: Buffer, at: number, bodyAt: number, end: number): boolean {
    const first = buf[at] as number;
    this.#framed = true;
    let packet: Packet | Error;
    const type = first >> 4;
    if ((type === PUBLISH || !isHotType(type)) && isSharedReadBuffer(buf)) {
      // The next read overwrites the shared buffer, and a decoded PUBLISH or
      // CONNECT keeps views of its frame (payload, will, properties): decode
      // an own copy. Acknowledgements decode to numbers and need none.
      const own = Buffer.allocUnsafe(end - at);
      buf.copy(own, 0, at, end);
      buf = own;
      bodyAt -= at;
      end -= at;
      at = 0;
    }
    if (isHotType(type)) {
      if (type === PUBLISH) this.#topics ??= { bytes: undefined, topic: '' };
      packet = decodeHot(first, buf, bodyAt, end, this.protocolVersion, this.#topics);
    } else {
      // mqtt-packet needs the protocol level: CONNECT gives it (0: not seen yet).
      const version = this.state.kind === 'awaiting-connect' ? 0 : this.protocolVersion;
      packet = parseFrame(buf.subarray(at, end), version);
    }
    if (packet instanceof Error) this.#onParseError(packet);
    else this.#onPacket(packet);
    return this.state.kind !== 'closed';
  }

  #onParseError(err: Error): void {
    if (this.state.kind === 'closed') return;
    if (this.state.kind === 'awaiting-connect' && /protocol version|protocolId/i.test(err.message)) {
      // [MQTT-3.1.2-2]: unsupported protocol level gets CONNACK 0x01 (0x84 in 5.0), then close.
      this.writePacket({ cmd: 'connack', returnCode: 1, sessionPresent: false });
      this.close('unsupported-protocol');
      return;
    }
    this.deps.logger.debug(
      { client_id: this.clientId, remote: this.remote, err: err.message },
      'malformed packet',
    );
    const reasonCode = err instanceof MqttDecodeError ? err.reasonCode : Reason.MalformedPacket;
    this.protocolError(reasonCode, err.message);
  }

  /** CONNECT accepted for authentication: hold later packets until it is decided. */
  beginAuthentication(): void {
    if (this.state.kind !== 'awaiting-connect') return;
    this.state = { kind: 'authenticating', pending: [] };
  }

  #onPacket(packet: Packet): void {
    if (this.state.kind === 'closed') return;
    if (packet.cmd === 'auth' && this.authWaiter) {
      const w = this.authWaiter;
      this.authWaiter = undefined;
      w(packet);
      return;
    }
    if (this.state.kind === 'authenticating') {
      if (this.state.pending.length >= PENDING_PACKETS_MAX) {
        this.close('too-many-packets-before-connack');
        return;
      }
      this.state.pending.push(packet);
      return;
    }
    try {
      handlePacket(this, packet);
    } catch (err) {
      // A handler bug must not take the process down: log it and drop this connection only.
      this.deps.logger.error({ err, client_id: this.clientId, cmd: packet.cmd }, 'packet handler failed');
      this.protocolError(Reason.ImplementationSpecificError, 'internal error');
    }
  }

  /** Called by the CONNECT handler once the session is bound; replays packets held during authentication. */
  bind(session: Session, keepaliveS: number): Packet[] {
    const prev = this.state;
    const held = prev.kind === 'authenticating' ? prev.pending : [];
    this.state = CONNECTED;
    this.#session = session;
    // The CONNECT timeout ends here; the keep alive, if any, takes its place on the wheel.
    keepaliveWheel.remove(this);
    if (keepaliveS > 0) {
      // [MQTT-3.1.2-22]: no packet within 1.5 × keep alive closes the connection.
      this.keepaliveTicks = keepaliveWheel.ticks(keepaliveS * 1500);
      this.lastPacketTick = keepaliveWheel.now();
      keepaliveWheel.add(this);
    }
    return held;
  }

  /** KeepaliveClient: 1.5 × Keep Alive passed without a packet, or CONNECT did not complete in time. */
  keepaliveExpired(): void {
    if (this.state.kind !== 'connected') {
      this.close('connect-timeout');
      return;
    }
    this.deps.logger.debug({ client_id: this.clientId }, 'keep alive timeout');
    this.disconnect(Reason.KeepAliveTimeout, 'keep-alive-timeout');
  }

  /** Replay packets that arrived while authentication ran, in order. */
  replay(held: Packet[]): void {
    for (const p of held) this.#onPacket(p);
  }

  /** Encode and write a packet; false if the socket is backed up (reading then pauses). */
  writePacket(packet: Packet): boolean {
    if (this.state.kind === 'closed') return false;
    let buf: Buffer;
    if (ACK_CMDS.has(packet.cmd) && !(packet as { properties?: object }).properties) {
      const p = packet as { cmd: AckCmd; messageId?: number; reasonCode?: number };
      buf = encodeAck(p.cmd, p.messageId ?? 0, p.reasonCode ?? 0, this.protocolVersion);
    } else if (packet.cmd === 'pingresp') {
      buf = PINGRESP;
    } else if (packet.cmd === 'connack' && !this.isV5 && CONNACK_V3[packet.returnCode ?? 0]) {
      // Every 3.1/3.1.1 CONNACK is one of twelve 4-byte packets (§3.2): no encoder run per connection.
      buf = (CONNACK_V3[packet.returnCode ?? 0] as Buffer[])[packet.sessionPresent ? 1 : 0] as Buffer;
    } else {
      buf = encodeSlow(packet, this.protocolVersion);
    }
    return this.writeBuffer(buf);
  }

  /**
   * Queue a packet for the end of the event (flushWrites); false if the
   * socket is backed up (reading is then paused).
   */
  writeBuffer(buf: Buffer): boolean {
    if (this.state.kind === 'closed' || this.socket.destroyed) return false;
    this.deps.metrics.bytesOut(buf.length);
    const out = this.#out;
    if (out === undefined) {
      this.#out = buf;
      scheduleFlush(this);
    } else if (Array.isArray(out)) {
      out.push(buf);
    } else {
      this.#out = [out, buf];
    }
    this.#outBytes += buf.length;
    return !this.paused;
  }

  /** A PUBACK / PUBREC that waits for nothing: written now, or after the earlier ones still waiting. */
  acknowledgeNow(cmd: 'puback' | 'pubrec', packetId: number, reasonCode: number): void {
    if (this.#acks === undefined)
      this.writeBuffer(encodeAck(cmd, packetId, reasonCode, this.protocolVersion));
    else this.acknowledge(undefined, { cmd, messageId: packetId, reasonCode });
  }

  /** Send a PUBACK / PUBREC once `saved` settles, after every earlier one. */
  acknowledge(saved: Promise<void> | undefined, packet: Packet): void {
    if (!saved && !this.#acks) {
      this.writePacket(packet);
      return;
    }
    const tail = (this.#acks ?? Promise.resolve()).then(() => saved);
    const sent = tail.then(() => {
      this.writePacket(packet);
    });
    this.#acks = sent;
    void sent.then(() => {
      if (this.#acks === sent) this.#acks = undefined;
    });
  }

  /**
   * Send what this event wrote: everything written to this socket while
   * handling one event (a chunk read from some client, a timer) leaves in
   * one write(2), or one writev(2) for several packets. The common case at
   * a low rate, one packet per event, is a plain write: no cork, and no
   * trip through the stream's corked buffer (Writable clearBuffer).
   */
  flush(): void {
    const out = this.#out;
    if (out === undefined) return;
    this.#out = undefined;
    this.#outBytes = 0;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    let ok: boolean;
    if (this.#direct !== undefined) {
      ok = this.#direct.write(out);
    } else if (Array.isArray(out)) {
      socket.cork();
      ok = true;
      for (const b of out) ok = socket.write(b);
      socket.uncork();
    } else {
      ok = socket.write(out);
    }
    if (!ok && !this.paused) {
      // Backpressure: stop reading from a client that does not read what we send.
      this.paused = true;
      socket.pause();
    }
  }

  /** event-flush.ts: a write threw; this connection's end, never the process's. */
  flushFailed(err: unknown): void {
    this.deps.logger.error({ err, client_id: this.clientId }, 'socket write failed');
    this.close('write-failed');
  }

  /** Bytes handed to the socket and not yet taken by the kernel. */
  #queuedBytes(): number {
    return this.#direct !== undefined ? this.#direct.queuedBytes : this.socket.writableLength;
  }

  /** SessionLink: send one application message. */
  sendPublish(d: Delivery, packetId: number | undefined, dup: boolean): boolean {
    if (d.qos === 0 && this.#queuedBytes() + this.#outBytes > this.deps.config.outbound_bytes_max) {
      this.deps.metrics.dropped('outbound-full');
      return false;
    }
    if (this.clientTopicAliasMax > 0 && this.#outboundAliases === undefined)
      this.#outboundAliases = new OutboundAliases(this.clientTopicAliasMax);
    const buf = encodeDelivery(d, packetId, dup, this.protocolVersion, this.#outboundAliases);
    if (buf.length > this.clientPacketBytesMax) {
      // [MQTT-3.1.2-25]: never send a packet larger than the client's Maximum Packet Size; drop it.
      this.deps.metrics.dropped('client-packet-size');
      return false;
    }
    this.deps.metrics.sent();
    this.deps.broker.messagesSent++;
    return this.writeBuffer(buf);
  }

  sendPubrel(packetId: number): void {
    this.writePacket({ cmd: 'pubrel', messageId: packetId });
  }

  /** MQTT 5: DISCONNECT with a reason code, then close. 3.1.1: close only (it has no server DISCONNECT). */
  disconnect(reasonCode: number, why: string, reasonString?: string): void {
    if (this.state.kind === 'closed') return;
    if (this.isV5 && this.state.kind === 'connected') {
      const packet: Packet = { cmd: 'disconnect', reasonCode };
      if (reasonString) packet.properties = { reasonString };
      this.writePacket(packet);
    }
    this.close(why);
  }

  /** A protocol violation: the spec's reaction, then close. The will is still published [MQTT-3.1.2-8]. */
  protocolError(reasonCode: number, why: string): void {
    this.disconnect(reasonCode, why, why);
  }

  close(why: string): void {
    const prev = this.state;
    if (prev.kind === 'closed') return;
    this.state = CLOSED;
    if (this.keepaliveSlot !== -1) keepaliveWheel.remove(this);
    this.authWaiter = undefined;
    this.#frames?.reset();
    this.#frames = undefined;
    // The packets of this event (a CONNACK or DISCONNECT with the reason) go before the FIN.
    this.flush();
    this.socket.end();
    // Do not wait forever for a peer that does not read its FIN.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) {
      if (session.link === this) session.link = undefined;
      if (this.will && !this.cleanClose) this.deps.onWill(this.will, session);
      this.deps.logger.debug({ client_id: this.clientId, why }, 'connection closed');
    }
    this.deps.onClose(this);
  }
}
