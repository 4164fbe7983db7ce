/**
 * One MQTT load worker (worker_threads): plays the subscribers, publishers
 * or idle connections the main thread gave it (WorkerData.roles), over raw
 * sockets with mqtt-codec.ts.
 *
 *  - Subscribers connect and subscribe in `prepare` (before any publisher),
 *    count deliveries, record end-to-end latency from the payload's stamp
 *    while the phase is "measure", and acknowledge QoS 1/2 (one write per
 *    received chunk).
 *  - Publishers connect in `connect` and send from `start`: unthrottled
 *    (batches of BATCH packets per write, stopping at TCP backpressure and
 *    at the QoS 1/2 in-flight limit) or at this worker's share of the rate
 *    (every millisecond, what is due). QoS 1/2 acknowledgement latency is
 *    recorded too.
 *  - Idle connections (`conn`) open from `start` (CONNECT → CONNACK
 *    latency recorded) and are held, pinging at half the keepalive.
 */
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { encodeHistogram, type Histogram, newHistogram, recordUs } from './histogram.ts';
import {
  connectPacket,
  disconnect,
  FrameReader,
  nowUs,
  PINGREQ,
  PUBACK,
  PUBCOMP,
  PUBREC,
  PUBREL,
  PublishTemplate,
  readConnack,
  readSuback,
  subscribePacket,
  writeAck,
} from './mqtt-codec.ts';
import type { MqttOptions } from './options.ts';
import { topicName } from './options.ts';
import { C_ACKED, C_CONNECTED, C_RECEIVED, C_RECEIVED_BYTES, C_SENT, C_SENT_BYTES } from './shared.ts';
import { WorkerContext } from './worker-base.ts';

/** PUBLISHes per socket write when unthrottled. */
const BATCH = 16;
const CONNECT_TIMEOUT_MS = 15_000;
/** Concurrent CONNECTs per worker when no connect rate is set. */
const CONNECT_LANES = 100;
/** A full --window with no delivery for this long writes the outstanding messages off (QoS 0 drops). */
const STALL_MS = 250;

const ctx = new WorkerContext<MqttOptions>();
const o = ctx.options;
const latency = newHistogram();
const ackLatency = newHistogram();
const connectLatency = newHistogram();
const sockets = new Set<Socket>();
let closing = false;
let received = 0;
let receivedBytes = 0;
let sent = 0;
let acked = 0;
let connected = 0;

interface Client {
  s: Socket;
  /** Acknowledgements to write after the current chunk. */
  acks: Buffer;
  nAcks: number;
}

function open(n: number): Promise<Socket> {
  const local = o.localAddresses.length > 0 ? o.localAddresses[n % o.localAddresses.length] : undefined;
  const where = { host: o.host, port: o.port, ...(local ? { localAddress: local } : {}) };
  return new Promise((resolve, reject) => {
    const s = o.tls
      ? tlsConnect({
          ...where,
          servername: isIP(o.host) ? undefined : o.host,
          rejectUnauthorized: !o.insecure,
          ...(o.ca ? { ca: o.ca } : {}),
        })
      : tcpConnect({ ...where, noDelay: true });
    if (o.tls) s.setNoDelay(true);
    s.once(o.tls ? 'secureConnect' : 'connect', () => {
      s.off('error', reject);
      sockets.add(s);
      s.on('error', (e) => {
        if (!closing) ctx.error(`socket: ${e.message}`);
      });
      s.on('close', () => {
        sockets.delete(s);
        if (!closing) ctx.error('connection closed by the broker');
      });
      resolve(s);
    });
    s.once('error', reject);
  });
}

function queueAck(c: Client, first: number, id: number): void {
  if (c.nAcks * 4 + 4 > c.acks.length) {
    const bigger = Buffer.allocUnsafe(c.acks.length * 2);
    c.acks.copy(bigger);
    c.acks = bigger;
  }
  writeAck(first, id, c.acks, c.nAcks * 4);
  c.nAcks++;
}

function flushAcks(c: Client): void {
  if (c.nAcks === 0) return;
  c.s.write(Buffer.from(c.acks.subarray(0, c.nAcks * 4)));
  c.nAcks = 0;
}

interface Handlers {
  publish?(c: Client, qos: number, id: number, sentUs: number): void;
  ack?(c: Client, type: number, id: number, reason: number): void;
  suback?(code: number): void;
}

/** Open a socket, CONNECT, resolve on a successful CONNACK with the client and the broker's Receive Maximum. */
async function session(
  n: number,
  clientId: string,
  h: Handlers,
): Promise<{ c: Client; receiveMaximum: number }> {
  const t0 = nowUs();
  const s = await open(n);
  const c: Client = { s, acks: Buffer.allocUnsafe(256), nAcks: 0 };
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(
      () => finish(new Error(`no CONNACK within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    const finish = (err: Error | undefined, receiveMaximum = 65_535): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        s.destroy();
        reject(err);
      } else resolve({ c, receiveMaximum });
    };
    const reader = new FrameReader(
      {
        publish: (qos, id, sentUs) => h.publish?.(c, qos, id, sentUs),
        ack: (type, id, reason) => h.ack?.(c, type, id, reason),
        other: (type, packet) => {
          if (type === 2) {
            const ack = readConnack(packet, o.mqttVersion);
            if (!ack) finish(new Error('malformed CONNACK'));
            else if (ack.code !== 0)
              finish(new Error(`CONNACK refused with code 0x${ack.code.toString(16)}`));
            else {
              recordUs(connectLatency, nowUs() - t0);
              finish(undefined, ack.receiveMaximum ?? 65_535);
            }
          } else if (type === 9) h.suback?.(readSuback(packet, o.mqttVersion));
        },
        malformed: (why) => {
          ctx.error(`malformed packet from the broker: ${why}`);
          s.destroy();
        },
      },
      o.mqttVersion,
    );
    s.on('data', (d: Buffer) => {
      receivedBytes += d.length;
      reader.push(d);
      flushAcks(c);
    });
    s.once('close', () => finish(new Error('closed before CONNACK')));
    s.write(
      connectPacket({
        clientId,
        version: o.mqttVersion,
        keepaliveS: o.keepaliveS,
        username: o.username,
        password: o.password,
      }),
    );
  });
}

function countConnected(): void {
  connected++;
  ctx.set(C_CONNECTED, connected);
}

// ------------------------------------------------------------------------------------ subscribers
async function subscriber(i: number): Promise<void> {
  let measuring = false;
  let subacked: ((code: number) => void) | undefined;
  const { c } = await session(i, `${o.clientIdPrefix}-s${i}`, {
    publish: (cl, qos, id, sentUs) => {
      received++;
      if (measuring && !Number.isNaN(sentUs)) recordUs(latency, nowUs() - sentUs);
      if (qos === 1) queueAck(cl, PUBACK, id);
      else if (qos === 2) queueAck(cl, PUBREC, id);
    },
    ack: (cl, type, id) => {
      if (type === 6) queueAck(cl, PUBCOMP, id);
    },
    suback: (code) => subacked?.(code),
  });
  c.s.on('data', () => {
    ctx.set(C_RECEIVED, received);
    ctx.set(C_RECEIVED_BYTES, receivedBytes);
    measuring = ctx.measuring;
  });
  countConnected();
  const filter = topicName(o.filter, i % o.topics);
  const full = o.shared ? `$share/${o.shared}/${filter}` : filter;
  const code = await new Promise<number>((resolve) => {
    subacked = resolve;
    c.s.write(subscribePacket(full, o.qos, o.mqttVersion));
  });
  if (code >= 0x80) throw new Error(`SUBSCRIBE ${full} refused with code 0x${code.toString(16)}`);
}

// ------------------------------------------------------------------------------------- publishers
interface Pub extends Client {
  t: PublishTemplate;
  nextId: number;
  inflight: number;
  limit: number;
  blocked: boolean;
  /** Send time by packet id (masked), for the acknowledgement latency. */
  sentAt: Float64Array;
  mask: number;
}

const pubs: Pub[] = [];
let pumpScheduled = false;
let stopped = false;

function schedule(): void {
  if (pumpScheduled || stopped || o.rate > 0) return;
  pumpScheduled = true;
  setImmediate(pump);
}

async function publisher(i: number, n: number): Promise<void> {
  let p: Pub | undefined;
  const { c, receiveMaximum } = await session(n, `${o.clientIdPrefix}-p${i}`, {
    ack: (cl, type, id, reason) => {
      const q = p;
      if (!q) return;
      if (type === 5) {
        if (reason >= 0x80) return finishAck(q, id, reason);
        queueAck(cl, PUBREL, id);
      } else if (type === 4 || type === 7) finishAck(q, id, reason);
    },
  });
  countConnected();
  const limit = Math.min(o.inflight, receiveMaximum);
  let size = 1;
  while (size < limit * 2) size *= 2;
  p = {
    ...c,
    t: new PublishTemplate(topicName(o.topic, i % o.topics), o.qos, o.payloadBytes, o.mqttVersion),
    nextId: 1,
    inflight: 0,
    limit,
    blocked: false,
    sentAt: new Float64Array(o.qos > 0 ? size : 0),
    mask: size - 1,
  };
  const q = p;
  c.s.on('drain', () => {
    q.blocked = false;
    schedule();
  });
  pubs.push(p);
}

function finishAck(p: Pub, id: number, reason: number): void {
  p.inflight--;
  acked++;
  ctx.set(C_ACKED, acked);
  if (reason >= 0x80) ctx.error(`publish refused with reason code 0x${reason.toString(16)}`);
  else if (ctx.measuring) recordUs(ackLatency, nowUs() - (p.sentAt[id & p.mask] as number));
  schedule();
}

function write(p: Pub, count: number): void {
  const len = p.t.length;
  const buf = Buffer.allocUnsafe(len * count);
  const t = nowUs();
  for (let k = 0; k < count; k++) {
    const id = p.nextId;
    p.nextId = id === 65_535 ? 1 : id + 1;
    p.t.writeInto(buf, k * len, t, id);
    if (o.qos > 0) p.sentAt[id & p.mask] = t;
  }
  if (o.qos > 0) p.inflight += count;
  sent += count;
  ctx.set(C_SENT, sent);
  ctx.set(C_SENT_BYTES, sent * o.payloadBytes);
  if (!p.s.write(buf)) p.blocked = true;
}

/** --window: room left (messages published, not yet received), or Infinity without a window. */
function windowRoom(): number {
  if (o.window <= 0) return Number.POSITIVE_INFINITY;
  const g = ctx.global();
  return o.window - (g.sent - g.received / o.fanout - g.forgiven);
}

let stallSeen = -1;
let stallSince = 0;
/** The window is full: look again in a millisecond; after STALL_MS without a delivery, write the outstanding off as lost. */
function waitWindow(): void {
  const g = ctx.global();
  const now = performance.now();
  if (g.received !== stallSeen) {
    stallSeen = g.received;
    stallSince = now;
  } else if (now - stallSince >= STALL_MS) {
    ctx.forgive(o.window - windowRoom());
    stallSince = now;
  }
  pumpScheduled = true;
  setTimeout(() => {
    pumpScheduled = false;
    schedule();
  }, 1);
}

let rr = 0;
function pump(): void {
  pumpScheduled = false;
  if (stopped || ctx.stopping) return;
  let wrote = 0;
  let room = windowRoom();
  for (let k = 0; k < pubs.length && room >= 1; k++) {
    const p = pubs[rr] as Pub;
    rr = (rr + 1) % pubs.length;
    if (p.blocked || p.s.destroyed) continue;
    const n = Math.min(o.qos > 0 ? Math.min(BATCH, p.limit - p.inflight) : BATCH, Math.floor(room));
    if (n <= 0) continue;
    write(p, n);
    wrote += n;
    room -= n;
  }
  if (wrote > 0) schedule();
  else if (room < 1) waitWindow();
  // Otherwise every socket is backed up or at its in-flight limit: 'drain' / acks reschedule.
}

/** Rate mode: every millisecond, what is due at this worker's share of the rate, one write per publisher. */
function tick(start: number): void {
  if (stopped || ctx.stopping) return;
  const due = Math.floor((o.rate * ctx.data.rateShare * (nowUs() - start)) / 1e6) - sent;
  if (due > 0 && pubs.length > 0) {
    const counts = new Map<Pub, number>();
    for (let k = 0; k < due; k++) {
      const p = pubs[rr] as Pub;
      rr = (rr + 1) % pubs.length;
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    for (const [p, n] of counts) {
      // A publisher at its in-flight limit sends later: the rest stays due.
      const m = o.qos > 0 ? Math.min(n, p.limit - p.inflight) : n;
      if (m > 0 && !p.s.destroyed) write(p, m);
    }
  }
  setTimeout(() => tick(start), 1);
}

// ------------------------------------------------------------------------------- idle connections
async function idle(numbers: number[]): Promise<void> {
  let next = 0;
  const one = async (i: number): Promise<void> => {
    try {
      await session(i, `${o.clientIdPrefix}-c${i}`, {});
      countConnected();
    } catch (e) {
      ctx.error(`connect: ${(e as Error).message}`);
    }
  };
  if (o.connectRate > 0) {
    const rate = o.connectRate * ctx.data.rateShare;
    const start = nowUs();
    const pending: Promise<void>[] = [];
    while (next < numbers.length && !closing) {
      const due = Math.floor((rate * (nowUs() - start)) / 1e6);
      while (next < Math.min(due, numbers.length)) pending.push(one(numbers[next++] as number));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
    return;
  }
  const lane = async (): Promise<void> => {
    while (next < numbers.length && !closing) await one(numbers[next++] as number);
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_LANES, numbers.length) }, lane));
}

async function closeAll(): Promise<void> {
  closing = true;
  stopped = true;
  await Promise.all([...sockets].map((s) => disconnect(s)));
}

function histograms(): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, h: Histogram): void => {
    if (h.totalCount > 0) out[name] = encodeHistogram(h);
  };
  put('latency', latency);
  put('ack', ackLatency);
  put('connect', connectLatency);
  return out;
}

const roles = ctx.data.roles;
const subNumbers = roles.sub ?? [];
const pubNumbers = roles.pub ?? [];
const connNumbers = roles.conn ?? [];
if (o.keepaliveS > 0) {
  setInterval(
    () => {
      for (const s of sockets) if (!s.destroyed && s.writableLength === 0) s.write(PINGREQ);
    },
    (o.keepaliveS * 1000) / 2,
  ).unref();
}

function firstReason(results: PromiseSettledResult<unknown>[]): string {
  const r = results.find((x) => x.status === 'rejected');
  return r ? (r.reason as Error).message : '';
}

ctx.serve({
  prepare: async () => {
    const results = await Promise.allSettled(subNumbers.map((i) => subscriber(i)));
    for (const r of results)
      if (r.status === 'rejected') ctx.error(`subscriber: ${(r.reason as Error).message}`);
    if (subNumbers.length > 0 && results.every((r) => r.status === 'rejected')) {
      throw new Error(`no subscriber could connect to ${o.host}:${o.port}: ${firstReason(results)}`);
    }
    ctx.post({ type: 'prepared' });
  },
  connect: async () => {
    const results = await Promise.allSettled(pubNumbers.map((i) => publisher(i, o.subscribers + i)));
    for (const r of results)
      if (r.status === 'rejected') ctx.error(`publisher: ${(r.reason as Error).message}`);
    if (pubNumbers.length > 0 && pubs.length === 0)
      throw new Error(`no publisher could connect to ${o.host}:${o.port}: ${firstReason(results)}`);
    ctx.post({ type: 'ready' });
  },
  start: () => {
    if (connNumbers.length > 0) void idle(connNumbers);
    if (pubs.length === 0) return;
    if (o.rate > 0) tick(nowUs());
    else schedule();
  },
  close: async () => {
    await closeAll();
    ctx.post({ type: 'done', histograms: histograms() });
  },
});
