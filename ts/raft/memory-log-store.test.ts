import { describe, expect, it } from 'vitest';
import { runLogStoreContract } from './log-store.contract.ts';
import { MemoryLogStore } from './memory-log-store.ts';
import type { LogEntry } from './types.ts';

runLogStoreContract('memory', {
  open: () => new MemoryLogStore(),
  reopen: (store) => {
    (store as MemoryLogStore).crash({ loseUnsynced: false });
    return store;
  },
});

function cmd(index: number, term: number): LogEntry {
  return { type: 'command', index, term, data: new Uint8Array([index]) };
}

describe('MemoryLogStore crash model', () => {
  it('a machine crash loses exactly the writes after the last sync', () => {
    const s = new MemoryLogStore();
    s.setHardState({ term: 1, vote: 1 });
    s.append([cmd(1, 1), cmd(2, 1)]);
    s.sync();
    s.setHardState({ term: 2, vote: 3 });
    s.truncateFrom(2);
    s.append([cmd(2, 2), cmd(3, 2)]);
    expect(s.unsyncedOps).toBe(3);
    s.crash({ loseUnsynced: true });
    expect(s.hardState()).toEqual({ term: 1, vote: 1 });
    expect(s.lastIndex()).toBe(2);
    expect(s.term(2)).toBe(1);
  });

  it('a process crash keeps unsynced writes (the OS still has them)', () => {
    const s = new MemoryLogStore();
    s.append([cmd(1, 1)]);
    s.setHardState({ term: 1, vote: 2 });
    s.crash({ loseUnsynced: false });
    expect(s.hardState()).toEqual({ term: 1, vote: 2 });
    expect(s.lastIndex()).toBe(1);
    s.crash({ loseUnsynced: true });
    expect(s.lastIndex()).toBe(1);
  });
});
