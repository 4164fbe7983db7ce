/**
 * The LogStore contract (STYLE principle 9): one suite that every
 * implementation runs. `open()` returns a fresh, empty store; `reopen(store)`
 * returns the same data as seen after a restart (for the memory store: after
 * a process crash, i.e. synced and written data kept). Call from a
 * `*.test.ts` file: `runLogStoreContract('memory', { open, reopen })`.
 * Both may be async, and `sync()` is awaited, so a store whose sync is an
 * fsync behind a Promise (the native one) runs the same suite.
 */
import { describe, expect, it } from 'vitest';
import type { LogStore } from './log-store.ts';
import type { LogEntry, Snapshot } from './types.ts';

export interface LogStoreFactory {
  open(): LogStore | Promise<LogStore>;
  reopen(store: LogStore): LogStore | Promise<LogStore>;
}

function cmd(index: number, term: number, text = `e${index}`): LogEntry {
  return { type: 'command', index, term, data: new TextEncoder().encode(text) };
}

function range(from: number, to: number, term: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push(cmd(i, term));
  return out;
}

function snap(index: number, term: number): Snapshot {
  return { meta: { index, term, voters: [1, 2, 3] }, data: new TextEncoder().encode(`s${index}`) };
}

export function runLogStoreContract(name: string, factory: LogStoreFactory): void {
  describe(`LogStore contract: ${name}`, () => {
    it('starts empty: term 0, no vote, no snapshot, first 1, last 0', async () => {
      const s = await factory.open();
      expect(s.hardState()).toEqual({ term: 0, vote: 0 });
      expect(s.snapshot()).toBeNull();
      expect(s.firstIndex()).toBe(1);
      expect(s.lastIndex()).toBe(0);
      expect(s.term(0)).toBe(0);
      expect(s.term(1)).toBeUndefined();
      expect(s.entries(1, 1)).toEqual([]);
    });

    it('appends contiguous entries and reads them back by range and term', async () => {
      const s = await factory.open();
      s.append(range(1, 3, 1));
      s.append(range(4, 5, 2));
      expect(s.lastIndex()).toBe(5);
      expect(s.term(3)).toBe(1);
      expect(s.term(4)).toBe(2);
      expect(s.entries(2, 5).map((e) => e.index)).toEqual([2, 3, 4]);
      expect(s.entries(1, 6)).toHaveLength(5);
    });

    it('refuses a gap or an overlap on append', async () => {
      const s = await factory.open();
      s.append(range(1, 2, 1));
      expect(() => s.append([cmd(4, 1)])).toThrow(RangeError);
      expect(() => s.append([cmd(2, 1)])).toThrow(RangeError);
    });

    it('refuses reads outside the held range', async () => {
      const s = await factory.open();
      s.append(range(1, 2, 1));
      expect(() => s.entries(0, 2)).toThrow(RangeError);
      expect(() => s.entries(1, 4)).toThrow(RangeError);
    });

    it('truncates a suffix and accepts a new one', async () => {
      const s = await factory.open();
      s.append(range(1, 5, 1));
      s.truncateFrom(3);
      expect(s.lastIndex()).toBe(2);
      s.append(range(3, 4, 2));
      expect(s.term(3)).toBe(2);
      expect(s.lastIndex()).toBe(4);
    });

    it('compacts with a snapshot whose last entry is held: keeps the suffix', async () => {
      const s = await factory.open();
      s.append(range(1, 6, 1));
      s.saveSnapshot(snap(4, 1));
      expect(s.firstIndex()).toBe(5);
      expect(s.lastIndex()).toBe(6);
      expect(s.term(4)).toBe(1);
      expect(s.term(3)).toBeUndefined();
      expect(s.entries(5, 7).map((e) => e.index)).toEqual([5, 6]);
      expect(() => s.truncateFrom(4)).toThrow(RangeError);
    });

    it('installs a snapshot that does not match the log: replaces the log', async () => {
      const s = await factory.open();
      s.append(range(1, 3, 1));
      s.saveSnapshot(snap(10, 4));
      expect(s.firstIndex()).toBe(11);
      expect(s.lastIndex()).toBe(10);
      expect(s.term(10)).toBe(4);
      s.append([cmd(11, 4)]);
      expect(s.lastIndex()).toBe(11);
    });

    it('installs a snapshot with the right index but another term: replaces the log', async () => {
      const s = await factory.open();
      s.append(range(1, 5, 1));
      s.saveSnapshot(snap(3, 2));
      expect(s.lastIndex()).toBe(3);
      expect(s.term(3)).toBe(2);
    });

    it('keeps hard state, log and snapshot across a reopen after sync', async () => {
      const s = await factory.open();
      s.append(range(1, 5, 1));
      s.saveSnapshot(snap(2, 1));
      s.setHardState({ term: 3, vote: 2 });
      await s.sync();
      const r = await factory.reopen(s);
      expect(r.hardState()).toEqual({ term: 3, vote: 2 });
      expect(r.snapshot()?.meta).toEqual(snap(2, 1).meta);
      expect(r.snapshot()?.data).toEqual(snap(2, 1).data);
      expect(r.firstIndex()).toBe(3);
      expect(r.lastIndex()).toBe(5);
      expect(r.entries(3, 6).map((e) => [e.index, e.term])).toEqual([
        [3, 1],
        [4, 1],
        [5, 1],
      ]);
    });

    it('keeps the latest hard state and a truncation across a reopen', async () => {
      const s = await factory.open();
      s.setHardState({ term: 1, vote: 1 });
      s.append(range(1, 4, 1));
      await s.sync();
      s.setHardState({ term: 2, vote: 0 });
      s.truncateFrom(2);
      s.append([cmd(2, 2)]);
      await s.sync();
      const r = await factory.reopen(s);
      expect(r.hardState()).toEqual({ term: 2, vote: 0 });
      expect(r.lastIndex()).toBe(2);
      expect(r.term(2)).toBe(2);
    });
  });
}
