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
 * Reads go into buffers lent by ctx.fetchReads (fetch-reads.ts) when the
 * connection can say when an answer has left (ctx.afterWritten): the answer
 * points into them, and they go back once the socket has taken it. Once a
 * partition's answer is made, its next range is read ahead (fetch-reads.ts)
 * for the client's next fetch.
 */
import { FerryError } from '../../errors.ts';
import type { Shard } from '../../storage/shard.ts';
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError, kafkaErrorFor } from '../error-codes.ts';
import { Fetch } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { KafkaWriter } from '../protocol/writer.ts';
import { offsetAfter, ReadAhead } from './fetch-reads.ts';
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
  /** The byte limit of the read that gave `records`. */
  readMax: number;
}

/** Each connection's read-ahead, made on its first fetch, closed with it. */
const aheads = new WeakMap<AbortSignal, ReadAhead>();

function readAheadOf(ctx: KafkaContext): ReadAhead | undefined {
  const reads = ctx.fetchReads;
  if (!reads || reads.aheadMs <= 0 || !ctx.afterWritten || ctx.signal.aborted) return undefined;
  let a = aheads.get(ctx.signal);
  if (!a) {
    const made = new ReadAhead(reads.buffers, reads.aheadMs, reads.aheadMetrics);
    aheads.set(ctx.signal, made);
    ctx.signal.addEventListener('abort', () => made.close(), { once: true });
    a = made;
  }
  return a;
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
  const pool = ctx.fetchReads?.buffers;
  const ahead = await readAheadOf(ctx)?.take(w.shard, w.fetchOffset, maxBytes);
  if (ahead) {
    keep(ctx, w, ahead.bytes, ahead.lease, maxBytes);
    return ahead.bytes.length;
  }
  const into = ctx.afterWritten ? pool?.take(maxBytes) : undefined;
  let kept = false;
  try {
    const res = await w.shard.read(w.fetchOffset, into ? { maxBytes, into } : { maxBytes });
    if (res.bytes.length > 0) {
      kept = into !== undefined && res.bytes.buffer === into.buffer;
      keep(ctx, w, res.bytes, kept ? into : undefined, maxBytes);
    }
    return res.bytes.length;
  } catch (err) {
    w.errorCode = errorCodeOf(err);
    return 0;
  } finally {
    if (into && !kept) pool?.give(into);
  }
}

/** Take `bytes` as the partition's records; a second pass (after a long poll) replaces the first's. */
function keep(ctx: KafkaContext, w: Wanted, bytes: Buffer, lease: Buffer | undefined, readMax: number): void {
  if (w.lease) ctx.fetchReads?.buffers.give(w.lease);
  w.records = bytes;
  w.lease = lease;
  w.readMax = readMax;
}

/** Read ahead, for each partition answered with data, the range its next fetch will ask for. */
function readAhead(ctx: KafkaContext, wanted: Wanted[]): void {
  const ahead = readAheadOf(ctx);
  if (!ahead) return;
  for (const w of wanted) {
    if (!w.shard || !w.records || w.errorCode !== KafkaError.NONE) continue;
    const next = offsetAfter(w.records);
    if (next === undefined) continue;
    try {
      if (next >= w.shard.offsets().latest) continue;
    } catch {
      continue;
    }
    ahead.start(w.shard, next, w.readMax);
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

/**
 * The reason the other partitions' waits end with: abort() without one
 * builds a DOMException (with a stack) on every long-poll, and nothing
 * reads it.
 */
const WAIT_OVER = Symbol('fetch wait over');

/** Wait until any healthy partition has data past its fetch offset, `waitMs` passes, or `signal` aborts. */
async function waitForData(wanted: Wanted[], waitMs: number, signal: AbortSignal): Promise<void> {
  const live = wanted.filter((w) => w.shard && w.errorCode === KafkaError.NONE);
  if (live.length === 0 || signal.aborted) return;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(WAIT_OVER);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race(
      live.map((w) =>
        (w.shard as Shard).waitFor(w.fetchOffset, waitMs, stop.signal).then(
          () => {},
          () => {},
        ),
      ),
    );
  } finally {
    stop.abort(WAIT_OVER);
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
        readMax: 0,
      });
    }
  }
  try {
    const parts = await answer(ctx, version, req, wanted);
    readAhead(ctx, wanted);
    return parts;
  } finally {
    // Lent buffers go back once the socket has the answer (or the connection is gone).
    const leases = wanted.flatMap((w) => (w.lease ? [w.lease] : []));
    const pool = ctx.fetchReads?.buffers;
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
