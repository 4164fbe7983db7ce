/**
 * Load generator worker (worker_threads) for bench/mqtt.bench.ts. One
 * worker plays one role over raw TCP sockets with the load generator's
 * hand-rolled codec (ts/loadgen/mqtt-codec.ts, in the bench's settings by
 * mqtt-codec.ts):
 *
 *  - `sub`: N subscribers; counts deliveries into the shared counters,
 *    records end-to-end latency (payload timestamp) while the phase is
 *    "measure", acknowledges QoS 1 PUBLISHes (one write per received chunk).
 *  - `pub`: N publishers. `throughput` mode sends as fast as the broker
 *    delivers: at most `window` deliveries may be in flight (published ×
 *    fanout − delivered, read from the subscribers' shared counter), each
 *    socket stops at TCP backpressure, a QoS 1 publisher has at most
 *    INFLIGHT_QOS1 unacknowledged PUBLISHes. `rate` mode sends `rate`
 *    messages/s in total, one write per message, round-robin.
 *  - `idle`: opens `count` connections (CONNECT, CONNACK) and holds them.
 *
 * Shared Int32Array (see C_*): counters the orchestrator reads to compute
 * rates without any messaging on the hot path.
 */
import { type Socket, connect as tcpConnect } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import {
  connectPacket,
  disconnect,
  FrameReader,
  nowUs,
  PUBACK,
  PublishTemplate,
  readConnack,
  readSuback,
  subscribePacket,
  VERSION,
  writeAck,
} from './mqtt-codec.ts';
import {
  C_CONNECTED,
  C_DELIVERED,
  C_ERRORS,
  C_FORGIVEN,
  C_PHASE,
  C_PUBLISHED,
  C_STALLS,
  PHASE_MEASURE,
  PHASE_STOP,
} from './mqtt-counters.ts';

/** Atomics.waitAsync (ES2024; in Node since 16), typed here because the project's lib is older. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
      t: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

export const INFLIGHT_QOS1 = 64;
/** Packets per socket write in throughput mode. */
const BATCH = 16;
/** A window wait without any delivery for this long writes the missing deliveries off as lost. */
const STALL_MS = 250;

export interface LoadConfig {
  role: 'sub' | 'pub' | 'idle';
  port: number;
  qos: 0 | 1;
  /** sub: topic filters; pub: topics. One client per entry. */
  topics: string[];
  idPrefix: string;
  mode: 'throughput' | 'rate';
  /** rate mode: messages/s over all publishers of this worker. */
  rate: number;
  /** Deliveries per published message (subscribers matching each topic). */
  fanout: number;
  /** Deliveries in flight allowed (throughput mode). */
  window: number;
  /** idle: connections to open. */
  count: number;
  shared: SharedArrayBuffer;
  /** Latency samples kept (µs); 0 = none. */
  sampleCap: number;
}

const cfg = workerData as LoadConfig;
const ctr = new Int32Array(cfg.shared);
const port = parentPort;
if (!port) throw new Error('mqtt-load.ts runs as a worker');

const sockets: Socket[] = [];

function post(m: Record<string, unknown>, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(m, transfer);
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ port: cfg.port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {
        Atomics.add(ctr, C_ERRORS, 1);
      });
      sockets.push(s);
      resolve(s);
    });
    s.once('error', reject);
  });
}

interface SessionHandlers {
  publish?(qos: number, id: number, sent: number): void;
  /** PUBACK and the other acknowledgements. */
  ack?(type: number, id: number): void;
  /** Every later packet that is neither a PUBLISH nor an acknowledgement, whole. */
  other?(type: number, packet: Buffer): void;
}

/** CONNECT, then resolve on CONNACK 0. */
async function session(clientId: string, h: SessionHandlers): Promise<Socket> {
  const s = await open();
  await new Promise<void>((resolve, reject) => {
    let connected = false;
    const reader = new FrameReader(
      {
        publish: h.publish ?? (() => {}),
        ack: h.ack ?? (() => {}),
        other: (type, packet) => {
          if (!connected && type === 2) {
            connected = true;
            const code = readConnack(packet, VERSION)?.code;
            if (code !== 0) reject(new Error(`CONNACK return code ${code}`));
            else resolve();
            return;
          }
          h.other?.(type, packet);
        },
        malformed: (why) => {
          Atomics.add(ctr, C_ERRORS, 1);
          s.destroy(new Error(`malformed packet from the broker: ${why}`));
        },
      },
      VERSION,
    );
    s.on('data', (d: Buffer) => reader.push(d));
    s.once('close', () => {
      if (!connected) reject(new Error('closed before CONNACK'));
    });
    s.write(connectPacket(clientId));
  });
  return s;
}

// ---------------------------------------------------------------------------------- subscribers
async function runSubscribers(): Promise<void> {
  const samples = new Float64Array(cfg.sampleCap);
  let n = 0;
  let measuring = false;
  const starts: Promise<void>[] = cfg.topics.map(async (filter, i) => {
    let acks: Buffer | undefined;
    let nacks = 0;
    let delivered = 0;
    let subacked: (() => void) | undefined;
    let subFailed: ((e: Error) => void) | undefined;
    const s = await session(`${cfg.idPrefix}s${i}`, {
      publish: (qos, id, sent) => {
        delivered++;
        if (measuring && n < samples.length) samples[n++] = nowUs() - sent;
        if (qos === 1) {
          acks ??= Buffer.allocUnsafe(4 * 256);
          if (nacks * 4 + 4 > acks.length) {
            const bigger = Buffer.allocUnsafe(acks.length * 2);
            acks.copy(bigger);
            acks = bigger;
          }
          writeAck(PUBACK, id, acks, nacks * 4);
          nacks++;
        }
      },
      other: (type, packet) => {
        if (type === 9) {
          if (readSuback(packet, VERSION) >= 0x80) subFailed?.(new Error(`SUBACK refused ${filter}`));
          else subacked?.();
        }
      },
    });
    // After the reader handled a whole chunk: one counter update and one PUBACK write.
    s.on('data', () => {
      if (delivered > 0) {
        Atomics.add(ctr, C_DELIVERED, delivered);
        Atomics.notify(ctr, C_DELIVERED);
        delivered = 0;
      }
      if (nacks > 0 && acks) {
        s.write(Buffer.from(acks.subarray(0, nacks * 4)));
        nacks = 0;
      }
      measuring = Atomics.load(ctr, C_PHASE) === PHASE_MEASURE;
    });
    await new Promise<void>((resolve, reject) => {
      subacked = resolve;
      subFailed = reject;
      s.write(subscribePacket(filter, cfg.qos));
    });
  });
  await Promise.all(starts);
  post({ type: 'ready' });
  port?.on('message', async (m: { type: string }) => {
    if (m.type === 'close') {
      await closeAll();
      const out = samples.slice(0, n);
      post({ type: 'closed', samples: out }, [out.buffer]);
    }
  });
}

// ---------------------------------------------------------------------------------- publishers
interface Pub {
  s: Socket;
  t: PublishTemplate;
  nextId: number;
  inflight: number;
  blocked: boolean;
}

async function runPublishers(): Promise<void> {
  let pumpScheduled = false;
  let stopped = false;
  const pubs: Pub[] = [];
  const schedule = (): void => {
    if (pumpScheduled || stopped) return;
    pumpScheduled = true;
    setImmediate(pump);
  };
  await Promise.all(
    cfg.topics.map(async (topic, i) => {
      const p: Pub = {
        s: undefined as unknown as Socket,
        t: new PublishTemplate(topic, cfg.qos),
        nextId: 1,
        inflight: 0,
        blocked: false,
      };
      p.s = await session(`${cfg.idPrefix}p${i}`, {
        ack: (type) => {
          if (type === 4) {
            p.inflight--;
            if (p.inflight === INFLIGHT_QOS1 - BATCH) schedule();
          }
        },
      });
      p.s.on('drain', () => {
        p.blocked = false;
        schedule();
      });
      pubs[i] = p;
    }),
  );

  let published = 0;
  let rr = 0;
  const W = cfg.window;
  const F = cfg.fanout;
  const write = (p: Pub, count: number): void => {
    const len = p.t.length;
    const buf = Buffer.allocUnsafe(len * count);
    const t = nowUs();
    for (let k = 0; k < count; k++) {
      const id = p.nextId;
      p.nextId = id === 65535 ? 1 : id + 1;
      p.t.writeInto(buf, k * len, t, id);
    }
    if (cfg.qos === 1) p.inflight += count;
    published += count;
    Atomics.store(ctr, C_PUBLISHED, published);
    if (!p.s.write(buf)) p.blocked = true;
  };

  let waiting = false;
  function pump(): void {
    pumpScheduled = false;
    if (stopped || waiting) return;
    if (Atomics.load(ctr, C_PHASE) === PHASE_STOP) {
      stopped = true;
      return;
    }
    let wrote = 0;
    let windowFull = false;
    // One pass over the publishers per turn of the event loop.
    for (let k = 0; k < pubs.length; k++) {
      const p = pubs[rr] as Pub;
      rr = (rr + 1) % pubs.length;
      if (p.blocked) continue;
      let n = BATCH;
      if (cfg.qos === 1) n = Math.min(n, INFLIGHT_QOS1 - p.inflight);
      const outstanding = published * F - Atomics.load(ctr, C_DELIVERED) - Atomics.load(ctr, C_FORGIVEN);
      n = Math.min(n, Math.floor((W - outstanding) / F));
      if (n <= 0) {
        if (W - outstanding < F) windowFull = true;
        continue;
      }
      write(p, n);
      wrote += n;
    }
    if (wrote > 0) {
      schedule();
      return;
    }
    if (windowFull) waitWindow();
    // Otherwise every socket is blocked or at its QoS 1 limit: 'drain' / PUBACK reschedule.
  }

  function waitWindow(): void {
    waiting = true;
    const seen = Atomics.load(ctr, C_DELIVERED);
    const r = waitAsync(ctr, C_DELIVERED, seen, STALL_MS);
    const resume = (res: string): void => {
      waiting = false;
      if (res === 'timed-out' && Atomics.load(ctr, C_DELIVERED) === seen) {
        // Nothing arrived for STALL_MS: what is missing was dropped; let the window move on.
        const outstanding = published * F - seen - Atomics.load(ctr, C_FORGIVEN);
        if (outstanding > 0) Atomics.add(ctr, C_FORGIVEN, outstanding);
        Atomics.add(ctr, C_STALLS, 1);
      }
      schedule();
    };
    if (r.async) void r.value.then(resume);
    else resume(r.value);
  }

  // rate mode: every ms, send what is due, one write per message.
  function tick(start: number): void {
    if (Atomics.load(ctr, C_PHASE) === PHASE_STOP) {
      stopped = true;
      return;
    }
    const due = Math.floor((cfg.rate * (nowUs() - start)) / 1e6) - published;
    for (let k = 0; k < due; k++) {
      const i = rr;
      rr = (rr + 1) % pubs.length;
      const p = pubs[i] as Pub;
      const b = Buffer.allocUnsafe(p.t.length);
      const id = p.nextId;
      p.nextId = id === 65535 ? 1 : id + 1;
      p.t.writeInto(b, 0, nowUs(), id);
      p.s.write(b);
      published++;
    }
    Atomics.store(ctr, C_PUBLISHED, published);
    setTimeout(() => tick(start), 1);
  }

  post({ type: 'ready' });
  port?.on('message', async (m: { type: string }) => {
    if (m.type === 'start') {
      if (cfg.mode === 'rate') tick(nowUs());
      else schedule();
    } else if (m.type === 'close') {
      stopped = true;
      await closeAll();
      post({ type: 'closed' });
    }
  });
}

// ---------------------------------------------------------------------------------- idle connections
async function runIdle(): Promise<void> {
  const CONCURRENCY = 200;
  let next = 0;
  let failed = 0;
  let firstError = '';
  const lane = async (): Promise<void> => {
    while (next < cfg.count) {
      const i = next++;
      try {
        await session(`${cfg.idPrefix}i${i}`, {});
        Atomics.add(ctr, C_CONNECTED, 1);
      } catch (e) {
        failed++;
        firstError ||= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  post({ type: 'ready', connected: Atomics.load(ctr, C_CONNECTED), failed, firstError });
  port?.on('message', async (m: { type: string }) => {
    if (m.type === 'close') {
      await closeAll();
      post({ type: 'closed' });
    }
  });
}

async function closeAll(): Promise<void> {
  await Promise.all(sockets.map((s) => disconnect(s)));
}

try {
  if (cfg.role === 'sub') await runSubscribers();
  else if (cfg.role === 'pub') await runPublishers();
  else await runIdle();
} catch (e) {
  post({ type: 'error', message: (e as Error).message });
}
