/**
 * The idempotent producer, as the Kafka handlers see it: InitProducerId
 * (ids from the KV-backed allocator, epoch bumps per KIP-360) and the
 * per-partition checks Produce runs (idempotence.ts). Transactions are not
 * served: a transactional id is refused explicitly.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { KafkaConfig } from '../../config/schema.ts';
import type { Logger } from '../../log.ts';
import type { Kv } from '../../storage/kv.ts';
import { kafkaErrorInfo } from '../error-codes.ts';
import { ProducerErrorCode } from './codes.ts';
import { ProducerIdAllocator } from './id-allocator.ts';
import { Idempotence } from './idempotence.ts';
import { ProducerEpochs, ProducerStateTable } from './state.ts';

/** Kafka bumps to a new producer id instead once the epoch would pass this (Short.MAX_VALUE - 1). */
const EPOCH_MAX = 32766;

export interface InitProducerIdRequest {
  transactionalId: string | null;
  producerId: bigint;
  producerEpoch: number;
}

export interface InitProducerIdResult {
  errorCode: number;
  producerId: bigint;
  producerEpoch: number;
}

const failure = (errorCode: number): InitProducerIdResult => ({
  errorCode,
  producerId: -1n,
  producerEpoch: -1,
});

function metrics(registry: Registry | undefined) {
  const registers = registry ? [registry] : [];
  const states = new Gauge({
    name: 'ferrymq_kafka_producer_states',
    help: '(partition, producer id) states kept for idempotent produce (bounded by kafka.producer_states_max)',
    registers,
  });
  const evicted = new Counter({
    name: 'ferrymq_kafka_producer_states_evicted_total',
    help: 'Producer states dropped: reason="expired" (kafka.producer_id_expiration_ms) or "limit" (kafka.producer_states_max)',
    labelNames: ['reason'],
    registers,
  });
  const duplicates = new Counter({
    name: 'ferrymq_kafka_produce_duplicates_total',
    help: 'Retried idempotent batches answered with their original offsets, appending nothing',
    registers,
  });
  const refused = new Counter({
    name: 'ferrymq_kafka_produce_idempotence_refusals_total',
    help: 'Idempotent batches refused by sequence, epoch or batch-kind checks, by Kafka error name',
    labelNames: ['error'],
    registers,
  });
  const recoveredBytes = new Counter({
    name: 'ferrymq_kafka_producer_recovery_bytes_total',
    help: 'Log bytes read back after a start to rebuild producer state (bounded per partition by kafka.producer_recovery_bytes_max)',
    registers,
  });
  const ids = new Counter({
    name: 'ferrymq_kafka_producer_ids_total',
    help: 'Producer ids handed out by InitProducerId (new ids, not epoch bumps)',
    registers,
  });
  return {
    table: {
      size: (n: number) => states.set(n),
      evicted: (reason: 'expired' | 'limit', n: number) => evicted.inc({ reason }, n),
    },
    idempotence: {
      duplicate: () => duplicates.inc(),
      refused: (code: number) => refused.inc({ error: kafkaErrorInfo(code)?.name ?? String(code) }),
      recovered: (bytes: number) => recoveredBytes.inc(bytes),
    },
    ids,
  };
}

export class Producers {
  readonly idempotence: Idempotence;
  readonly #allocator: ProducerIdAllocator;
  readonly #epochs: ProducerEpochs;
  readonly #logger: Logger | undefined;
  readonly #ids: Counter;

  constructor(config: KafkaConfig, kv: Kv, opts: { registry?: Registry; logger?: Logger } = {}) {
    const m = metrics(opts.registry);
    this.#allocator = new ProducerIdAllocator(kv);
    this.#epochs = new ProducerEpochs(config.producer_states_max);
    this.#logger = opts.logger;
    this.#ids = m.ids;
    const table = new ProducerStateTable(
      { max: config.producer_states_max, expirationMs: config.producer_id_expiration_ms },
      m.table,
    );
    this.idempotence = new Idempotence({
      table,
      epochs: this.#epochs,
      recoveryBytesMax: config.producer_recovery_bytes_max,
      metrics: m.idempotence,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }

  /** InitProducerId, as Kafka's TransactionCoordinator answers it for a producer without transactional id. */
  async init(req: InitProducerIdRequest, version: number): Promise<InitProducerIdResult> {
    if (req.transactionalId !== null) {
      // Kafka answers an empty id with INVALID_REQUEST; any other needs the transaction
      // coordinator, which this broker does not run: the answer Kafka gives while none is available.
      return failure(
        req.transactionalId === ''
          ? ProducerErrorCode.INVALID_REQUEST
          : ProducerErrorCode.COORDINATOR_NOT_AVAILABLE,
      );
    }
    if (req.producerId < 0n !== req.producerEpoch < 0) return failure(ProducerErrorCode.INVALID_REQUEST);
    if (req.producerId >= 0n) {
      // KIP-360: a producer re-initialising with its id and current epoch gets the next epoch.
      const pid = Number(req.producerId);
      const known = this.#epochs.get(pid);
      if (known === req.producerEpoch && known < EPOCH_MAX) {
        this.#epochs.raise(pid, known + 1);
        return { errorCode: 0, producerId: req.producerId, producerEpoch: known + 1 };
      }
      // The same request again (its answer was lost): the same answer.
      if (known !== undefined && known === req.producerEpoch + 1) {
        return { errorCode: 0, producerId: req.producerId, producerEpoch: known };
      }
      if (known !== undefined && known > req.producerEpoch) {
        return failure(
          version >= 4 ? ProducerErrorCode.PRODUCER_FENCED : ProducerErrorCode.INVALID_PRODUCER_EPOCH,
        );
      }
      // Unknown here (restart, evicted) or exhausted: a new id, as Kafka gives idempotent producers.
    }
    try {
      const pid = await this.#allocator.allocate();
      this.#epochs.raise(pid, 0);
      this.#ids.inc();
      return { errorCode: 0, producerId: BigInt(pid), producerEpoch: 0 };
    } catch (err) {
      this.#logger?.warn({ err }, 'kafka producer id allocation failed');
      return failure(ProducerErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
  }
}
