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
 */
import { FerryError } from '../../errors.ts';
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
}

function errorCodeOf(err: unknown): number {
  return kafkaErrorFor(err instanceof FerryError ? err.code : undefined);
}

async function readOnce(w: Wanted, budget: number): Promise<number> {
  if (!w.shard) return 0;
  const o = w.shard.offsets();
  if (w.fetchOffset < o.earliest || w.fetchOffset > o.latest) {
    w.errorCode = KafkaError.OFFSET_OUT_OF_RANGE;
    return 0;
  }
  if (w.fetchOffset === o.latest) return 0;
  try {
    const res = await w.shard.read(w.fetchOffset, { maxBytes: Math.max(1, Math.min(w.maxBytes, budget)) });
    if (res.bytes.length > 0) w.records = res.bytes;
    return res.bytes.length;
  } catch (err) {
    w.errorCode = errorCodeOf(err);
    return 0;
  }
}

async function readAll(wanted: Wanted[], maxBytes: number): Promise<number> {
  let total = 0;
  for (const w of wanted) {
    if (w.errorCode !== KafkaError.NONE) continue;
    // The first partition with data is served even past max_bytes, so a consumer always progresses.
    if (total > 0 && total >= maxBytes) break;
    total += await readOnce(w, total === 0 ? Math.max(maxBytes, 1) : maxBytes - total);
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
      });
    }
  }
  const maxBytes = req.maxBytes > 0 ? req.maxBytes : 0x7fffffff;
  let total = await readAll(wanted, maxBytes);
  const anyError = wanted.some((w) => w.errorCode !== KafkaError.NONE);
  if (total < Math.max(1, req.minBytes) && !anyError && req.maxWaitMs > 0) {
    await waitForData(wanted, req.maxWaitMs, ctx.signal);
    if (!ctx.signal.aborted) total = await readAll(wanted, maxBytes);
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
