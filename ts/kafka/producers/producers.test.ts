import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/load.ts';
import { Storage } from '../../storage/storage.ts';
import { tempDir } from '../../test/helpers/broker.ts';
import { ProducerErrorCode } from './codes.ts';
import { ID_BLOCK_SIZE, ProducerIdAllocator } from './id-allocator.ts';
import { Producers } from './producers.ts';

const config = resolveConfig(undefined, '(test)', {});
const open: Storage[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
});

async function storageAt(dir: string): Promise<Storage> {
  const s = await Storage.open(dir, config.storage);
  open.push(s);
  return s;
}

const fresh = { transactionalId: null, producerId: -1n, producerEpoch: -1 };

describe('producer id allocation', () => {
  it('hands out distinct ids, concurrently too, and never reuses one after a restart', async () => {
    const dir = await tempDir('ferrymq-pid-');
    let s = await storageAt(dir);
    let a = new ProducerIdAllocator(s.kv);
    const first = await Promise.all(Array.from({ length: 50 }, () => a.allocate()));
    expect(new Set(first).size).toBe(50);
    // What a crash would leave: the reserved block end is on disk, the ids used are not.
    await s.close();
    open.splice(open.indexOf(s), 1);
    s = await storageAt(dir);
    a = new ProducerIdAllocator(s.kv);
    const next = await a.allocate();
    expect(next).toBe(ID_BLOCK_SIZE);
    expect(first.every((id) => id < next)).toBe(true);
  });
});

describe('InitProducerId', () => {
  it('gives a new id at epoch 0, bumps the epoch of a re-initialising producer (KIP-360) and answers a repeat the same', async () => {
    const s = await storageAt(await tempDir('ferrymq-pid-'));
    const p = new Producers(config.kafka, s.kv);
    const a = await p.init(fresh, 5);
    const b = await p.init(fresh, 5);
    expect(a).toEqual({ errorCode: 0, producerId: 0n, producerEpoch: 0 });
    expect(b.producerId).toBe(1n);
    const bumped = await p.init({ transactionalId: null, producerId: 0n, producerEpoch: 0 }, 5);
    expect(bumped).toEqual({ errorCode: 0, producerId: 0n, producerEpoch: 1 });
    // The same request again (its answer lost): the same answer, no second bump.
    expect(await p.init({ transactionalId: null, producerId: 0n, producerEpoch: 0 }, 5)).toEqual(bumped);
    expect(await p.init({ transactionalId: null, producerId: 0n, producerEpoch: 1 }, 5)).toMatchObject({
      producerEpoch: 2,
    });
  });

  it('fences an older epoch (PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH before) and gives an unknown id a new one', async () => {
    const s = await storageAt(await tempDir('ferrymq-pid-'));
    const p = new Producers(config.kafka, s.kv);
    await p.init(fresh, 5);
    for (let e = 0; e < 3; e++) await p.init({ transactionalId: null, producerId: 0n, producerEpoch: e }, 5);
    const stale = { transactionalId: null, producerId: 0n, producerEpoch: 1 };
    expect(await p.init(stale, 4)).toEqual({
      errorCode: ProducerErrorCode.PRODUCER_FENCED,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect((await p.init(stale, 3)).errorCode).toBe(ProducerErrorCode.INVALID_PRODUCER_EPOCH);
    expect(await p.init({ transactionalId: null, producerId: 777n, producerEpoch: 4 }, 5)).toEqual({
      errorCode: 0,
      producerId: 1n,
      producerEpoch: 0,
    });
  });

  it('refuses transactional ids (no transaction coordinator) and half-given producer ids', async () => {
    const s = await storageAt(await tempDir('ferrymq-pid-'));
    const p = new Producers(config.kafka, s.kv);
    expect(await p.init({ ...fresh, transactionalId: 'tx-1' }, 5)).toEqual({
      errorCode: ProducerErrorCode.COORDINATOR_NOT_AVAILABLE,
      producerId: -1n,
      producerEpoch: -1,
    });
    expect((await p.init({ ...fresh, transactionalId: '' }, 5)).errorCode).toBe(
      ProducerErrorCode.INVALID_REQUEST,
    );
    expect((await p.init({ transactionalId: null, producerId: 3n, producerEpoch: -1 }, 5)).errorCode).toBe(
      ProducerErrorCode.INVALID_REQUEST,
    );
  });
});
