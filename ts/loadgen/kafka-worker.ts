/**
 * One Kafka load worker (worker_threads): the producers or consumers the
 * main thread gave it, over raw connections (kafka-conn.ts) with batches
 * built and read by hand (kafka-records.ts).
 *
 *  - Producers connect to every partition leader in `connect` and, from
 *    `start`, send one batch per Produce request, rotating over the
 *    partitions (each batch to the next one): unthrottled, batches are
 *    filled to --batch-size at once and up to --inflight requests are in
 *    flight per connection; at a rate, records due each millisecond are
 *    appended to the open batch, which is sent when full or --linger old.
 *    Acknowledgement latency (record created → Produce answered) is
 *    recorded per record.
 *  - Consumers fetch their partitions (assigned by number, or by the
 *    group's leader with --group) from --from, one Fetch in flight per
 *    leader, and record end-to-end latency from the value's stamp.
 */
import { ApiKey, Fetch, Produce } from '../kafka/protocol/generated/index.ts';
import { encodeHistogram, newHistogram, recordUs } from './histogram.ts';
import { KafkaConn } from './kafka-conn.ts';
import { GroupMember } from './kafka-group.ts';
import { type PartitionLeader, startOffsets } from './kafka-meta.ts';
import { BatchBuilder, readBatches } from './kafka-records.ts';
import { nowUs } from './mqtt-codec.ts';
import type { KafkaOptions } from './options.ts';
import { C_ACKED, C_CONNECTED, C_RECEIVED, C_RECEIVED_BYTES, C_SENT, C_SENT_BYTES } from './shared.ts';
import { WorkerContext } from './worker-base.ts';

export interface KafkaWorkerOptions extends KafkaOptions {
  leaders: PartitionLeader[];
}

/** Batches built per producer per turn of the event loop when nothing else stops it (acks=0). */
const BATCHES_PER_TURN = 8;
const OFFSET_OUT_OF_RANGE = 1;

const ctx = new WorkerContext<KafkaWorkerOptions>();
const o = ctx.options;
const latency = newHistogram();
const ackLatency = newHistogram();
const connectLatency = newHistogram();
const conns: KafkaConn[] = [];
let sent = 0;
let acked = 0;
let received = 0;
let receivedBytes = 0;
let connected = 0;
let stopped = false;

async function open(address: string): Promise<KafkaConn> {
  const t0 = nowUs();
  const c = await KafkaConn.open(address, o.clientId);
  recordUs(connectLatency, nowUs() - t0);
  conns.push(c);
  connected++;
  ctx.set(C_CONNECTED, connected);
  c.onBytes((n) => {
    receivedBytes += n;
  });
  return c;
}

// -------------------------------------------------------------------------------------- producers
interface Producer {
  byLeader: Map<string, KafkaConn>;
  next: number;
  builder: BatchBuilder;
  /** The partition the open batch goes to. */
  part: PartitionLeader;
  blocked: boolean;
  scheduled: boolean;
}

const producers: Producer[] = [];

async function producer(k: number): Promise<Producer> {
  const byLeader = new Map<string, KafkaConn>();
  for (const l of new Set(o.leaders.map((x) => x.leader))) byLeader.set(l, await open(l));
  const start = k % o.leaders.length;
  const p: Producer = {
    byLeader,
    next: (start + 1) % o.leaders.length,
    builder: new BatchBuilder(o.recordBytes, o.batchBytes),
    part: o.leaders[start] as PartitionLeader,
    blocked: false,
    scheduled: false,
  };
  for (const c of byLeader.values()) {
    c.socket.on('drain', () => {
      p.blocked = false;
      schedule(p);
    });
  }
  return p;
}

function schedule(p: Producer): void {
  if (p.scheduled || stopped || o.rate > 0) return;
  p.scheduled = true;
  setImmediate(() => {
    p.scheduled = false;
    pump(p);
  });
}

function connFor(p: Producer): KafkaConn {
  return p.byLeader.get(p.part.leader) as KafkaConn;
}

function canSend(p: Producer): boolean {
  const c = connFor(p);
  if (c.closed) return false;
  return o.acks === 0 ? !p.blocked : c.inflight < o.inflight;
}

/** Send the open batch to its partition and move on to the next partition. */
function send(p: Producer): void {
  const c = connFor(p);
  const n = p.builder.count;
  const created = p.builder.firstUs;
  const partition = p.part.partition;
  const records = p.builder.take();
  p.part = o.leaders[p.next] as PartitionLeader;
  p.next = (p.next + 1) % o.leaders.length;
  const v = c.version(ApiKey.Produce);
  const body = Produce.encodeProduceRequest(v, {
    transactionalId: null,
    acks: o.acks,
    timeoutMs: 30_000,
    topicData: [{ name: o.topic, partitionData: [{ index: partition, records }] }],
  });
  sent += n;
  ctx.set(C_SENT, sent);
  ctx.set(C_SENT_BYTES, sent * o.recordBytes);
  if (o.acks === 0) {
    if (!c.sendOnly(ApiKey.Produce, v, body)) p.blocked = true;
    return;
  }
  const measuring = ctx.measuring;
  c.request(ApiKey.Produce, v, body).then(
    (r) => {
      let code = -1;
      try {
        code = Produce.decodeProduceResponse(v, r).responses[0]?.partitionResponses[0]?.errorCode ?? -1;
      } catch (e) {
        ctx.error(`produce response: ${(e as Error).message}`);
        return;
      }
      if (code !== 0) ctx.error(`produce to ${o.topic}-${partition}: Kafka error code ${code}`);
      else {
        acked += n;
        ctx.set(C_ACKED, acked);
        if (measuring && ctx.measuring) recordUs(ackLatency, nowUs() - created, n);
      }
      schedule(p);
    },
    (e: Error) => {
      if (!stopped) ctx.error(`produce: ${e.message}`);
    },
  );
}

/** Unthrottled: fill and send batches while the connection takes them. */
function pump(p: Producer): void {
  if (stopped || ctx.stopping) return;
  for (let k = 0; k < BATCHES_PER_TURN && canSend(p); k++) {
    const t = nowUs();
    while (!p.builder.full) p.builder.add(t);
    send(p);
  }
  if (o.acks === 0 && !p.blocked) schedule(p);
}

/** At a rate: every millisecond, append what is due (round-robin over the producers), send full or lingering batches. */
function tick(start: number, created: number): void {
  if (stopped || ctx.stopping) return;
  const t = nowUs();
  const due = Math.floor((o.rate * ctx.data.rateShare * (t - start)) / 1e6) - created;
  let made = 0;
  for (let k = 0; k < due; k++) {
    const p = producers[(created + k) % producers.length] as Producer;
    if (p.builder.full) {
      if (!canSend(p)) break;
      send(p);
    }
    p.builder.add(t);
    made++;
  }
  for (const p of producers) {
    if (p.builder.count > 0 && (p.builder.full || t - p.builder.firstUs >= o.lingerMs * 1000) && canSend(p))
      send(p);
  }
  setTimeout(() => tick(start, created + made), 1);
}

// -------------------------------------------------------------------------------------- consumers
interface Consumer {
  /** Next offset by partition. */
  offsets: Map<number, number>;
  /** Bumped on every assignment, so a fetch loop of an older assignment ends. */
  epoch: number;
  member?: GroupMember;
}

const consumers: Consumer[] = [];

async function assign(c: Consumer, partitions: number[]): Promise<void> {
  c.epoch++;
  const epoch = c.epoch;
  c.offsets = new Map();
  const byLeader = new Map<string, number[]>();
  for (const p of partitions) {
    const l = o.leaders.find((x) => x.partition === p);
    if (!l) continue;
    byLeader.set(l.leader, [...(byLeader.get(l.leader) ?? []), p]);
  }
  for (const [leader, ps] of byLeader) {
    const conn = conns.find((x) => x.address === leader && !x.closed) ?? (await open(leader));
    const start = await startOffsets(conn, o.topic, ps, o.from);
    for (const [p, off] of start) c.offsets.set(p, off);
    void fetchLoop(c, epoch, conn, ps);
  }
}

async function fetchLoop(c: Consumer, epoch: number, conn: KafkaConn, partitions: number[]): Promise<void> {
  const v = conn.version(ApiKey.Fetch);
  while (!stopped && !ctx.stopping && c.epoch === epoch) {
    const req = Fetch.defaultFetchRequest();
    req.replicaId = -1;
    req.maxWaitMs = o.fetchMaxWaitMs;
    req.minBytes = 1;
    req.maxBytes = o.fetchMaxBytes;
    req.sessionEpoch = -1;
    req.topics = [
      {
        ...Fetch.defaultFetchTopic(),
        topic: o.topic,
        partitions: partitions.map((p) => ({
          ...Fetch.defaultFetchPartition(),
          partition: p,
          currentLeaderEpoch: -1,
          fetchOffset: BigInt(c.offsets.get(p) ?? 0),
          partitionMaxBytes: o.fetchMaxBytes,
        })),
      },
    ];
    let res: Fetch.FetchResponse;
    try {
      res = Fetch.decodeFetchResponse(
        v,
        await conn.request(ApiKey.Fetch, v, Fetch.encodeFetchRequest(v, req)),
      );
    } catch (e) {
      if (!stopped && !ctx.stopping) ctx.error(`fetch: ${(e as Error).message}`);
      return;
    }
    if (c.epoch !== epoch) return;
    const now = nowUs();
    const measuring = ctx.measuring;
    const stamp = measuring ? (sentUs: number) => recordUs(latency, now - sentUs) : undefined;
    for (const t of res.responses) {
      for (const pd of t.partitions) {
        if (pd.errorCode === OFFSET_OUT_OF_RANGE) {
          try {
            const reset = await startOffsets(conn, o.topic, [pd.partitionIndex], 'earliest');
            c.offsets.set(pd.partitionIndex, reset.get(pd.partitionIndex) ?? 0);
          } catch (e) {
            ctx.error(`fetch ${o.topic}-${pd.partitionIndex}: reset: ${(e as Error).message}`);
            return;
          }
          continue;
        }
        if (pd.errorCode !== 0) {
          ctx.error(`fetch ${o.topic}-${pd.partitionIndex}: Kafka error code ${pd.errorCode}`);
          continue;
        }
        if (!pd.records || pd.records.length === 0) continue;
        const from = c.offsets.get(pd.partitionIndex) ?? 0;
        const r = readBatches(pd.records, from, stamp);
        c.offsets.set(pd.partitionIndex, r.next);
        received += r.records;
      }
    }
    ctx.set(C_RECEIVED, received);
    ctx.set(C_RECEIVED_BYTES, receivedBytes);
  }
}

async function consumer(k: number): Promise<Consumer> {
  const c: Consumer = { offsets: new Map(), epoch: 0 };
  const all = o.leaders.map((l) => l.partition);
  if (o.group === undefined) {
    await assign(
      c,
      all.filter((p) => p % o.clients === k),
    );
    return c;
  }
  const bootstrap = await open(o.bootstrap);
  let first: (() => void) | undefined;
  const assigned = new Promise<void>((r) => {
    first = r;
  });
  c.member = new GroupMember(bootstrap, o.group, o.topic, all, o.clientId, {
    assigned: (ps) => {
      void assign(c, ps).then(
        () => first?.(),
        (e: Error) => ctx.error(`assign: ${e.message}`),
      );
    },
    revoked: () => {
      c.epoch++;
    },
    error: (m) => ctx.error(m),
  });
  await c.member.start();
  await assigned;
  return c;
}

// -------------------------------------------------------------------------------------- lifecycle
const roles = ctx.data.roles;
ctx.serve({
  prepare: async () => {
    const made = await Promise.all((roles.consumer ?? []).map((k) => consumer(k)));
    consumers.push(...made);
    ctx.post({ type: 'prepared' });
  },
  connect: async () => {
    const made = await Promise.all((roles.producer ?? []).map((k) => producer(k)));
    producers.push(...made);
    ctx.post({ type: 'ready' });
  },
  start: () => {
    if (producers.length === 0) return;
    if (o.rate > 0) tick(nowUs(), 0);
    else for (const p of producers) schedule(p);
  },
  close: async () => {
    stopped = true;
    await Promise.all(consumers.map((c) => c.member?.stop()));
    for (const c of conns) c.close();
    const histograms: Record<string, string> = {};
    if (latency.totalCount > 0) histograms.latency = encodeHistogram(latency);
    if (ackLatency.totalCount > 0) histograms.ack = encodeHistogram(ackLatency);
    if (connectLatency.totalCount > 0) histograms.connect = encodeHistogram(connectLatency);
    ctx.post({ type: 'done', histograms });
  },
});
