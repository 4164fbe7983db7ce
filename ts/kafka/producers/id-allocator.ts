/**
 * Producer ids: a counter in the KV store (`kafka.producers` / `next_id`),
 * reserved a block at a time with a synced put before any id of the block
 * is handed out, so a crash wastes at most the rest of a block and never
 * reuses an id (Kafka's ProducerIdManager does the same with blocks from
 * the controller). One reservation runs at a time; callers queue behind it.
 */
import { FerryError } from '../../errors.ts';
import type { Kv } from '../../storage/kv.ts';

export const PRODUCER_IDS_NS = 'kafka.producers';
const NEXT_ID_KEY = 'next_id';
/** Ids reserved per KV write: one synced write per this many InitProducerId calls. */
export const ID_BLOCK_SIZE = 1000;
/** Producer ids are int64 on the wire; staying below 2^53 keeps them exact as numbers. */
const ID_MAX = Number.MAX_SAFE_INTEGER;

export class ProducerIdAllocator {
  readonly #kv: Kv;
  #next = 0;
  #blockEnd = 0;
  #reserving: Promise<void> | undefined;

  constructor(kv: Kv) {
    this.#kv = kv;
  }

  /** A producer id never handed out before on this node, even across crashes. */
  async allocate(): Promise<number> {
    while (this.#next >= this.#blockEnd) {
      this.#reserving ??= this.#reserve().finally(() => {
        this.#reserving = undefined;
      });
      await this.#reserving;
    }
    return this.#next++;
  }

  async #reserve(): Promise<void> {
    const stored = await this.#kv.get(PRODUCER_IDS_NS, NEXT_ID_KEY);
    const start = stored && stored.length === 8 ? Number(stored.readBigUInt64BE(0)) : 0;
    if (start + ID_BLOCK_SIZE > ID_MAX) {
      throw new FerryError('FERRY_ERR_INVALID_ARGUMENT', 'producer ids exhausted');
    }
    const end = start + ID_BLOCK_SIZE;
    const value = Buffer.alloc(8);
    value.writeBigUInt64BE(BigInt(end));
    await this.#kv.put(PRODUCER_IDS_NS, NEXT_ID_KEY, value, { sync: true });
    this.#next = start;
    this.#blockEnd = end;
  }
}
