/**
 * Fetch: serves stored batches as they are, from the one containing the
 * fetch offset. When nothing is there it long-polls (shard.read's maxWaitMs)
 * on every requested partition until one has data, max_wait_ms passes or the
 * connection closes. Fetch sessions are declined: the session id is always 0.
 *
 * Isolation levels: no transaction is ever open here, so the last stable
 * offset is the high watermark and read_committed reads exactly what
 * read_uncommitted does. As in Kafka, read_committed gets an empty list of
 * aborted transactions and read_uncommitted none (null).
 *
 * Reads go into buffers lent by ctx.readBuffers (read-buffers.ts) when the
 * connection can say when an answer has left (ctx.afterWritten): the answer
 * points into them, and they go back once the socket has taken it.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import { FerryError } from '../../errors.ts';
import { ReadBuffers } from '../../storage/read-buffers.ts';
import type { Shard } from '../../storage/shard.ts';
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError, kafkaErrorFor } from '../error-codes.ts';
import { Fetch } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { KafkaWriter } from '../protocol/writer.ts';
import { LeaderError } from './leader-errors.ts';

const READ_COMMITTED = 1;

interface Wanted {
  topic: string;
  partition: number;
  fetchOffset: number;
  maxBytes: number;
  shard: Shard | undefined;
  errorCode: number;
  records: Buffer | null;
  /** The lent buffer `records` is a view of, if any. */
  lease: Buffer | undefined;
}

/** The listener's pool of fetch read buffers, with its metrics (read when scraped: nothing per fetch). */
export function fetchReadBuffers(config: Config, registry?: Registry): ReadBuffers {
  const registers = registry ? [registry] : [];
  const misses = new Counter({
    name: 'ferrymq_kafka_fetch_read_buffer_misses_total',
    help: 'Fetch reads that allocated their own buffer: all kafka.fetch_read_buffers_max lent out, or a read larger than kafka.fetch_read_buffer_bytes',
    registers,
  });
  const pool = new ReadBuffers(
    { bytes: config.kafka.fetch_read_buffer_bytes, max: config.kafka.fetch_read_buffers_max },
    { miss: () => misses.inc() },
  );
  new Gauge({
    name: 'ferrymq_kafka_fetch_read_buffers_lent',
    help: 'Fetch read buffers lent out: read into, or in an answer the socket has not taken yet',
    registers,
    collect() {
      this.set(pool.lent);
    },
  });
  new Gauge({
    name: 'ferrymq_kafka_fetch_read_buffers_made',
    help: 'Fetch read buffers allocated (kept for reuse; at most kafka.fetch_read_buffers_max)',
    registers,
    collect() {
      this.set(pool.made);
    },
  });
  return pool;
}

function errorCodeOf(err: unknown): number {
  return kafkaErrorFor(err instanceof FerryError ? err.code : undefined);
}

async function readOnce(ctx: KafkaContext, w: Wanted, budget: number): Promise<number> {
  if (!w.shard) return 0;
  const o = w.shard.offsets();
  if (w.fetchOffset < o.earliest || w.fetchOffset > o.latest) {
    w.errorCode = KafkaError.OFFSET_OUT_OF_RANGE;
    return 0;
  }
  if (w.fetchOffset === o.latest) return 0;
  const maxBytes = Math.max(1, Math.min(w.maxBytes, budget));
  const into = ctx.afterWritten ? ctx.readBuffers?.take(maxBytes) : undefined;
  let kept = false;
  try {
    const res = await w.shard.read(w.fetchOffset, into ? { maxBytes, into } : { maxBytes });
    if (res.bytes.length > 0) {
      // A second pass (after a long poll) replaces the first pass's bytes.
      if (w.lease) ctx.readBuffers?.give(w.lease);
      kept = into !== undefined && res.bytes.buffer === into.buffer;
      w.lease = kept ? into : undefined;
      w.records = res.bytes;
    }
    return res.bytes.length;
  } catch (err) {
    w.errorCode = errorCodeOf(err);
    return 0;
  } finally {
    if (into && !kept) ctx.readBuffers?.give(into);
  }
}

async function readAll(ctx: KafkaContext, wanted: Wanted[], maxBytes: number): Promise<number> {
  let total = 0;
  for (const w of wanted) {
    if (w.errorCode !== KafkaError.NONE) continue;
    // The first partition with data is served even past max_bytes, so a consumer always progresses.
    if (total > 0 && total >= maxBytes) break;
    total += await readOnce(ctx, w, total === 0 ? Math.max(maxBytes, 1) : maxBytes - total);
  }
  return total;
}

/** Wait until any healthy partition has data past its fetch offset, `waitMs` passes, or `signal` aborts. */
async function waitForData(wanted: Wanted[], waitMs: number, signal: AbortSignal): Promise<void> {
  const live = wanted.filter((w) => w.shard && w.errorCode === KafkaError.NONE);
  if (live.length === 0 || signal.aborted) return;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race(
      live.map((w) =>
        (w.shard as Shard).read(w.fetchOffset, { maxBytes: 1, maxWaitMs: waitMs, signal: stop.signal }).then(
          () => {},
          () => {},
        ),
      ),
    );
  } finally {
    stop.abort();
    signal.removeEventListener('abort', onAbort);
  }
}

export async function handleFetch(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<readonly Buffer[]> {
  const req = Fetch.decodeFetchRequest(version, r);
  const wanted: Wanted[] = [];
  for (const t of req.topics) {
    const topic = ctx.topics.get(t.topic);
    for (const p of t.partitions) {
      const shardId = topic?.shards[p.partition];
      const elsewhere = ctx.partitions?.ledElsewhere(t.topic, p.partition) ?? false;
      const shard =
        !elsewhere && shardId !== undefined && ctx.storage.has(shardId)
          ? ctx.storage.shard(shardId)
          : undefined;
      wanted.push({
        topic: t.topic,
        partition: p.partition,
        fetchOffset: Number(p.fetchOffset),
        maxBytes: p.partitionMaxBytes,
        shard,
        errorCode: elsewhere
          ? LeaderError.NOT_LEADER_OR_FOLLOWER
          : shard
            ? KafkaError.NONE
            : KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
        records: null,
        lease: undefined,
      });
    }
  }
  try {
    return await answer(ctx, version, req, wanted);
  } finally {
    // Lent buffers go back once the socket has the answer (or the connection is gone).
    const leases = wanted.flatMap((w) => (w.lease ? [w.lease] : []));
    const pool = ctx.readBuffers;
    if (pool && leases.length > 0)
      ctx.afterWritten?.(() => {
        for (const b of leases) pool.give(b);
      });
  }
}

async function answer(
  ctx: KafkaContext,
  version: number,
  req: Fetch.FetchRequest,
  wanted: Wanted[],
): Promise<readonly Buffer[]> {
  const maxBytes = req.maxBytes > 0 ? req.maxBytes : 0x7fffffff;
  let total = await readAll(ctx, wanted, maxBytes);
  const anyError = wanted.some((w) => w.errorCode !== KafkaError.NONE);
  if (total < Math.max(1, req.minBytes) && !anyError && req.maxWaitMs > 0) {
    await waitForData(wanted, req.maxWaitMs, ctx.signal);
    if (!ctx.signal.aborted) total = await readAll(ctx, wanted, maxBytes);
  }
  const responses: Fetch.FetchableTopicResponse[] = [];
  for (const w of wanted) {
    let topic = responses.find((t) => t.topic === w.topic);
    if (!topic) {
      topic = { ...Fetch.defaultFetchableTopicResponse(), topic: w.topic, partitions: [] };
      responses.push(topic);
    }
    let hw = -1n;
    let start = -1n;
    if (w.shard) {
      try {
        const o = w.shard.offsets();
        hw = BigInt(o.highWatermark);
        start = BigInt(o.earliest);
      } catch (err) {
        if (w.errorCode === KafkaError.NONE) w.errorCode = errorCodeOf(err);
      }
    }
    topic.partitions.push({
      ...Fetch.defaultPartitionData(),
      partitionIndex: w.partition,
      errorCode: w.errorCode,
      highWatermark: hw,
      lastStableOffset: hw,
      logStartOffset: start,
      abortedTransactions: req.isolationLevel === READ_COMMITTED ? [] : null,
      records: w.errorCode === KafkaError.NONE ? (w.records ?? Buffer.alloc(0)) : Buffer.alloc(0),
    });
  }
  // As parts: the stored batches go to the socket as the native read
  // returned them (one writev with the header), never copied into one body.
  const w = new KafkaWriter();
  Fetch.writeFetchResponse(w, version, { ...Fetch.defaultFetchResponse(), sessionId: 0, responses });
  return w.finishParts();
}
