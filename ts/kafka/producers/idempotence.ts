/**
 * Duplicate detection and sequence checks for idempotent Produce, per
 * partition, kept in order with the appends themselves.
 *
 * Ordering: the checks of a request and its `shard.appendBatches` call run
 * in one synchronous step, and the Shard adapter queues appends in call
 * order, so the order in which batches pass their checks is the order in
 * which they land in the log, whatever is still in flight. A batch that
 * passed is recorded at once as pending; the next batch of the same
 * producer is checked against it without waiting for the disk, so a
 * producer's pipelined requests still share group commits. A retry of a
 * pending batch waits for it and answers with its offsets (or its error).
 *
 * Failures: batches are CRC-checked before their checks pass, so what can
 * still fail is the storage itself (I/O error, disk full, a full append
 * queue). A failed batch is taken out of the state again, so its retry is
 * accepted. If later batches of the same producer were already queued
 * behind it and the storage recovered in between, they are stored after a
 * gap; the retry then gets OUT_OF_ORDER_SEQUENCE_NUMBER and the client
 * reports the failed batch, as after any unrecoverable produce error.
 *
 * After a restart the state of a partition is rebuilt from its tail on its
 * first idempotent produce (recovery.ts); produces to it wait for that.
 */
import { FerryError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { loadNative } from '../../native/load.ts';
import type { AppendOffsets, Shard } from '../../storage/shard.ts';
import { kafkaErrorFor } from '../error-codes.ts';
import { NO_PRODUCER_ID, type ProducerFields, readProducerFields } from './batch-header.ts';
import { ProducerErrorCode } from './codes.ts';
import { recoverProducers } from './recovery.ts';
import { applyBatch, type BatchMeta, checkBatch, type ProducerView } from './sequence.ts';
import type { ProducerEntry, ProducerEpochs, ProducerStateTable } from './state.ts';

export type ProduceOutcome =
  | {
      ok: true;
      baseOffset: number;
      duplicate: boolean;
      /** The log start offset the append left (a duplicate appends nothing: the caller reads it). */
      earliestOffset?: number;
    }
  | { ok: false; errorCode: number; message: string };

export interface IdempotenceMetrics {
  duplicate(): void;
  refused(code: number): void;
  recovered(bytes: number, batches: number): void;
}

interface Planned {
  fields: ProducerFields;
  entry: ProducerEntry;
  meta: BatchMeta;
  settle: (code: number) => void;
  prev: { epoch: number; lastSeq: number; batches: BatchMeta[] };
}

export class Idempotence {
  readonly #table: ProducerStateTable;
  readonly #epochs: ProducerEpochs;
  readonly #recoveryBytesMax: number;
  readonly #metrics: IdempotenceMetrics | undefined;
  readonly #logger: Logger | undefined;
  /** Shards whose tail was read back since start. */
  readonly #ready = new Set<number>();
  /** Produces waiting, in arrival order, for a shard's tail to be read back. */
  readonly #waiting = new Map<number, (() => void)[]>();

  constructor(opts: {
    table: ProducerStateTable;
    epochs: ProducerEpochs;
    recoveryBytesMax: number;
    metrics?: IdempotenceMetrics;
    logger?: Logger;
  }) {
    this.#table = opts.table;
    this.#epochs = opts.epochs;
    this.#recoveryBytesMax = opts.recoveryBytesMax;
    this.#metrics = opts.metrics;
    this.#logger = opts.logger;
  }

  /**
   * Check and append `records` (whole magic-2 batches at `spans`, at least
   * one with a producer id) to `shard`.
   */
  async append(shard: Shard, records: Buffer, spans: readonly [number, number][]): Promise<ProduceOutcome> {
    const fields = spans.map(([start]) => readProducerFields(records, start));
    const refused = this.#precheck(records, fields);
    if (refused) return this.#refuse(refused.code, refused.message);
    if (this.#ready.has(shard.id)) return this.#checkAndAppend(shard, records, fields);
    await this.#waitTurn(shard);
    try {
      return this.#checkAndAppend(shard, records, fields);
    } finally {
      this.#releaseNext(shard.id);
    }
  }

  #precheck(records: Buffer, fields: ProducerFields[]): { code: number; message: string } | undefined {
    for (const f of fields) {
      if (f.producerId <= NO_PRODUCER_ID) continue;
      if (f.control)
        return { code: ProducerErrorCode.INVALID_RECORD, message: 'clients may not write control batches' };
      if (f.transactional)
        return {
          code: ProducerErrorCode.INVALID_TXN_STATE,
          message: 'transactional batches are refused: transactions are not served',
        };
    }
    try {
      // The CRC before the checks, so a batch the core would refuse never enters the producer state.
      loadNative().validateRecordBatches(records);
    } catch {
      return { code: kafkaErrorFor('FERRY_ERR_FRAME_CRC'), message: 'record batch CRC-32C mismatch' };
    }
    return undefined;
  }

  #refuse(code: number, message: string): ProduceOutcome {
    this.#metrics?.refused(code);
    return { ok: false, errorCode: code, message };
  }

  /**
   * Wait until the shard's tail was read back and every produce that
   * arrived before this one has passed its checks: waiters are released
   * one at a time, in arrival order, each by the one before it.
   */
  #waitTurn(shard: Shard): Promise<void> {
    let queue = this.#waiting.get(shard.id);
    const turn = new Promise<void>((resolve) => {
      if (queue) {
        queue.push(resolve);
        return;
      }
      queue = [resolve];
      this.#waiting.set(shard.id, queue);
      recoverProducers(shard, this.#table, this.#recoveryBytesMax)
        .then(
          (r) => {
            this.#metrics?.recovered(r.bytes, r.batches);
            this.#logger?.debug(
              { shard: shard.id, bytes: r.bytes, batches: r.batches, fromOffset: r.fromOffset },
              'kafka producer state read back from the log',
            );
          },
          (err: unknown) => {
            // Without it the partition knows no producer: every one is accepted at any sequence.
            this.#logger?.warn({ err, shard: shard.id }, 'kafka producer state recovery failed');
          },
        )
        .finally(() => this.#releaseNext(shard.id));
    });
    return turn;
  }

  #releaseNext(shardId: number): void {
    const queue = this.#waiting.get(shardId);
    const next = queue?.shift();
    if (next) {
      next();
      return;
    }
    this.#waiting.delete(shardId);
    this.#ready.add(shardId);
  }

  /** Everything from the first check to the append call runs without yielding: that is the ordering guarantee. */
  #checkAndAppend(shard: Shard, records: Buffer, fields: ProducerFields[]): Promise<ProduceOutcome> {
    const views = new Map<number, { entry: ProducerEntry; view: ProducerView }>();
    const accepted: { fields: ProducerFields; entry: ProducerEntry }[] = [];
    const duplicates: BatchMeta[] = [];
    let plain = 0;
    for (const f of fields) {
      if (f.producerId <= NO_PRODUCER_ID) {
        plain++;
        continue;
      }
      const known = this.#epochs.get(f.producerId);
      if (known !== undefined && f.producerEpoch < known) {
        return Promise.resolve(
          this.#refuse(
            ProducerErrorCode.INVALID_PRODUCER_EPOCH,
            `producer ${f.producerId} epoch ${f.producerEpoch} was fenced by epoch ${known}`,
          ),
        );
      }
      let v = views.get(f.producerId);
      if (!v) {
        const entry = this.#table.use(shard.id, f.producerId);
        v = { entry, view: { epoch: entry.epoch, lastSeq: entry.lastSeq, batches: [...entry.batches] } };
        views.set(f.producerId, v);
      }
      const verdict = checkBatch(v.view, f);
      if (verdict.kind === 'error') return Promise.resolve(this.#refuse(verdict.code, verdict.message));
      if (verdict.kind === 'duplicate') {
        duplicates.push(verdict.of);
        continue;
      }
      // Staged in the copy only, so a later batch of this request sees it and a refusal leaves no trace.
      applyBatch(v.view, f, {
        epoch: f.producerEpoch,
        firstSeq: f.firstSeq,
        lastSeq: f.lastSeq,
        baseOffset: -1,
        settled: Promise.resolve(0),
      });
      accepted.push({ fields: f, entry: v.entry });
    }
    if (duplicates.length > 0) {
      if (accepted.length > 0 || plain > 0) {
        return Promise.resolve(
          this.#refuse(
            ProducerErrorCode.INVALID_RECORD,
            'a request may not mix retried batches with new ones for one partition',
          ),
        );
      }
      return this.#answerDuplicate(duplicates[0] as BatchMeta);
    }
    const planned = accepted.map((a) => this.#plan(a.fields, a.entry));
    let offsets = 0;
    for (const f of fields) offsets += f.offsetCount;
    let appended: Promise<AppendOffsets>;
    try {
      appended = shard.appendBatches(records, offsets);
    } catch (err) {
      appended = Promise.reject(err);
    }
    return this.#finish(appended, planned, fields);
  }

  #plan(fields: ProducerFields, entry: ProducerEntry): Planned {
    let settle: (code: number) => void = () => {};
    const settled = new Promise<number>((resolve) => {
      settle = resolve;
    });
    const meta: BatchMeta = {
      epoch: fields.producerEpoch,
      firstSeq: fields.firstSeq,
      lastSeq: fields.lastSeq,
      baseOffset: -1,
      settled,
    };
    const prev = { epoch: entry.epoch, lastSeq: entry.lastSeq, batches: [...entry.batches] };
    applyBatch(entry, fields, meta);
    this.#epochs.raise(fields.producerId, fields.producerEpoch);
    return { fields, entry, meta, settle, prev };
  }

  async #finish(
    appended: Promise<AppendOffsets>,
    planned: Planned[],
    fields: ProducerFields[],
  ): Promise<ProduceOutcome> {
    let res: AppendOffsets;
    try {
      res = await appended;
    } catch (err) {
      const code = kafkaErrorFor(err instanceof FerryError ? err.code : undefined);
      // Newest first, so each entry goes back to what it was before this request.
      for (let i = planned.length - 1; i >= 0; i--) this.#rollback(planned[i] as Planned);
      for (const p of planned) p.settle(code);
      return { ok: false, errorCode: code, message: err instanceof Error ? err.message : String(err) };
    }
    // Each batch's offsets follow from the base and the offset counts of the batches before it.
    let offset = res.baseOffset;
    const byField = new Map<ProducerFields, number>();
    for (const f of fields) {
      byField.set(f, offset);
      offset += f.offsetCount;
    }
    for (const p of planned) {
      p.meta.baseOffset = byField.get(p.fields) ?? -1;
      p.settle(0);
    }
    return { ok: true, baseOffset: res.baseOffset, duplicate: false, earliestOffset: res.earliestOffset };
  }

  #rollback(p: Planned): void {
    const e = p.entry;
    const at = e.batches.indexOf(p.meta);
    if (at < 0) return;
    if (at === e.batches.length - 1) {
      // Nothing of this producer was accepted after it: restore the state it was checked against.
      e.epoch = p.prev.epoch;
      e.lastSeq = p.prev.lastSeq;
      e.batches = p.prev.batches;
    } else {
      e.batches.splice(at, 1);
    }
  }

  async #answerDuplicate(of: BatchMeta): Promise<ProduceOutcome> {
    const code = await of.settled;
    if (code !== 0)
      return { ok: false, errorCode: code, message: 'the original of this retried batch failed' };
    this.#metrics?.duplicate();
    return { ok: true, baseOffset: of.baseOffset, duplicate: true };
  }
}
