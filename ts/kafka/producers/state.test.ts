import { describe, expect, it } from 'vitest';
import { kafkaErrorInfo } from '../error-codes.ts';
import { ProducerErrorCode } from './codes.ts';
import { ProducerEpochs, ProducerStateTable } from './state.ts';

describe('producer state table', () => {
  it('keeps at most `max` entries, dropping the least recently used and counting it', () => {
    const evicted: string[] = [];
    const t = new ProducerStateTable(
      { max: 3, expirationMs: 60_000 },
      { size: () => {}, evicted: (reason, n) => evicted.push(`${reason}:${n}`) },
    );
    for (const pid of [1, 2, 3]) t.use(10, pid).epoch = pid;
    t.use(10, 1); // 1 is now the most recent
    t.use(10, 4);
    expect(t.size).toBe(3);
    expect(t.peek(10, 2)).toBeUndefined();
    expect(t.peek(10, 1)?.epoch).toBe(1);
    expect(t.peek(10, 3)?.epoch).toBe(3);
    expect(evicted).toEqual(['limit:1']);
    // Partitions are separate keys.
    expect(t.peek(11, 1)).toBeUndefined();
  });

  it('expires an entry not used for expirationMs (producer.id.expiration.ms)', () => {
    let now = 1_000;
    const evicted: string[] = [];
    const t = new ProducerStateTable(
      { max: 100, expirationMs: 500 },
      { size: () => {}, evicted: (reason, n) => evicted.push(`${reason}:${n}`) },
      () => now,
    );
    t.use(1, 1).epoch = 5;
    now += 300;
    t.use(1, 2).epoch = 6;
    now += 300; // pid 1 idle 600 ms, pid 2 idle 300 ms
    expect(t.peek(1, 1)).toBeUndefined();
    expect(t.use(1, 2).epoch).toBe(6);
    expect(t.size).toBe(1);
    expect(evicted).toEqual(['expired:1']);
    // A used-again expired producer starts empty.
    expect(t.use(1, 1).epoch).toBe(-1);
  });
});

describe('producer epochs', () => {
  it('only ever raises an epoch, and stays bounded', () => {
    const e = new ProducerEpochs(2);
    e.raise(1, 3);
    e.raise(1, 2);
    expect(e.get(1)).toBe(3);
    e.raise(2, 0);
    e.raise(3, 0);
    expect(e.get(1)).toBeUndefined();
    expect(e.get(3)).toBe(0);
  });
});

describe('producer error codes', () => {
  it('match the names in Kafka’s error table', () => {
    for (const [name, code] of Object.entries(ProducerErrorCode)) {
      if (code === 0) continue;
      expect(kafkaErrorInfo(code)?.name).toBe(name);
    }
  });
});
