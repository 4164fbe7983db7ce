/**
 * Rebuilding producer state from the log after a restart, as Kafka rebuilds
 * it from its segments: read the stored batch headers of a partition's tail
 * (through the Shard adapter) and keep, per producer, the newest epoch, its
 * last sequence and its last five batches of that epoch.
 *
 * The read goes backwards in windows that double in size (8 offsets, 16,
 * ...), each read forward in whole batches, until the log start or the
 * byte budget. A window is used only if it was read whole, so what is kept
 * is always an exact newest suffix of the log: a producer whose last batch
 * lies further back than the budget reaches is simply unknown (accepted at
 * any sequence, as Kafka does for a producer whose state expired).
 */

import { batchSpans } from '../../storage/records.ts';
import type { Shard } from '../../storage/shard.ts';
import { NO_PRODUCER_ID, readProducerFields, storedOffsets } from './batch-header.ts';
import { BATCHES_RETAINED, type BatchMeta } from './sequence.ts';
import type { ProducerStateTable } from './state.ts';

const FIRST_WINDOW_OFFSETS = 8;
const READ_BYTES_MAX = 1 << 20;

interface StoredBatch {
  producerId: number;
  epoch: number;
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
}

export interface RecoveryResult {
  /** Bytes read from the log. */
  bytes: number;
  /** Idempotent batches taken into the table. */
  batches: number;
  /** Offset from which the tail was read whole (the log end when nothing was). */
  fromOffset: number;
}

/** Read `[lo, hi)` whole in batch order, or null when the budget ran out first. */
async function readWindow(
  shard: Shard,
  lo: number,
  hi: number,
  budget: { bytes: number; used: number },
): Promise<{ batches: StoredBatch[]; firstBase: number } | null> {
  const out: StoredBatch[] = [];
  let firstBase = hi;
  let pos = lo;
  while (pos < hi) {
    const left = budget.bytes - budget.used;
    if (left <= 0) return null;
    const res = await shard.read(pos, { maxBytes: Math.min(left, READ_BYTES_MAX) });
    if (res.bytes.length === 0) break;
    budget.used += res.bytes.length;
    let advanced = false;
    for (const [start] of batchSpans(res.bytes)) {
      const { baseOffset, lastOffset } = storedOffsets(res.bytes, start);
      if (baseOffset >= hi) break;
      firstBase = Math.min(firstBase, baseOffset);
      const f = readProducerFields(res.bytes, start);
      if (f.producerId > NO_PRODUCER_ID && !f.control) {
        out.push({
          producerId: f.producerId,
          epoch: f.producerEpoch,
          firstSeq: f.firstSeq,
          lastSeq: f.lastSeq,
          baseOffset,
        });
      }
      if (lastOffset + 1 > pos) {
        pos = lastOffset + 1;
        advanced = true;
      }
    }
    if (!advanced) break;
  }
  return { batches: out, firstBase };
}

/** Fill `table` with the producers found in the last `bytesMax` bytes (about) of `shard`. */
export async function recoverProducers(
  shard: Shard,
  table: ProducerStateTable,
  bytesMax: number,
): Promise<RecoveryResult> {
  const { earliest, latest } = shard.offsets();
  const budget = { bytes: bytesMax, used: 0 };
  const seen = new Set<number>();
  let hi = latest;
  let window = FIRST_WINDOW_OFFSETS;
  let taken = 0;
  while (hi > earliest && budget.used < budget.bytes) {
    const lo = Math.max(earliest, hi - window);
    const got = await readWindow(shard, lo, hi, budget);
    if (!got) break;
    // Newest first: the first batch seen of a producer fixes its epoch and last sequence.
    for (let i = got.batches.length - 1; i >= 0; i--) {
      const b = got.batches[i] as StoredBatch;
      const e = table.use(shard.id, b.producerId);
      if (!seen.has(b.producerId)) {
        seen.add(b.producerId);
        e.epoch = b.epoch;
        e.lastSeq = b.lastSeq;
        e.batches = [];
      }
      if (b.epoch !== e.epoch || e.batches.length >= BATCHES_RETAINED) continue;
      const meta: BatchMeta = {
        epoch: b.epoch,
        firstSeq: b.firstSeq,
        lastSeq: b.lastSeq,
        baseOffset: b.baseOffset,
        settled: Promise.resolve(0),
      };
      e.batches.unshift(meta);
      taken++;
    }
    hi = Math.min(lo, got.firstBase);
    window *= 2;
  }
  return { bytes: budget.used, batches: taken, fromOffset: hi };
}
