/**
 * Many seeds of the deterministic simulator, each checked after every step
 * (election safety, log matching, leader completeness, state-machine safety,
 * vote durability) and at the end (KV linearizability, liveness once healed).
 *
 * Defaults fit CI; longer runs:
 *   FERRYMQ_RAFT_SEEDS=100000 FERRYMQ_RAFT_STEPS=1000 npx vitest run ts/raft/simulator.test.ts
 * Reproduce one seed: FERRYMQ_RAFT_SEED_START=<seed> FERRYMQ_RAFT_SEEDS=1.
 */
import { describe, expect, it } from 'vitest';
import { checkLinearizable, type KvOp } from './checker.ts';
import { type SimResult, simulate } from './simulator.ts';

const SEEDS = Number(process.env.FERRYMQ_RAFT_SEEDS ?? 3000);
const STEPS = Number(process.env.FERRYMQ_RAFT_STEPS ?? 400);
const SEED_START = Number(process.env.FERRYMQ_RAFT_SEED_START ?? 1);

function report(r: SimResult): string {
  return [
    `seed ${r.seed} failed after ${r.steps} steps: ${r.error}`,
    `reproduce: FERRYMQ_RAFT_SEED_START=${r.seed} FERRYMQ_RAFT_SEEDS=1 FERRYMQ_RAFT_STEPS=${STEPS} npx vitest run ts/raft/simulator.test.ts`,
    'trace (most recent last):',
    ...r.trace.map((l) => `  ${l}`),
  ].join('\n');
}

describe('Raft simulator', () => {
  it(`keeps every invariant over ${SEEDS} seeds x ${STEPS} steps`, { timeout: 600_000 }, () => {
    const started = performance.now();
    const failures: SimResult[] = [];
    const totals = {
      leaders: 0,
      crashes: 0,
      opsCompleted: 0,
      snapshotsInstalled: 0,
      configChanges: 0,
      messages: 0,
    };
    for (let seed = SEED_START; seed < SEED_START + SEEDS; seed++) {
      const r = simulate({ seed, steps: STEPS });
      if (!r.ok) {
        failures.push(r);
        if (failures.length <= 3) console.error(report(r));
        continue;
      }
      totals.leaders += r.stats.leaders;
      totals.crashes += r.stats.crashes;
      totals.opsCompleted += r.stats.opsCompleted;
      totals.snapshotsInstalled += r.stats.snapshotsInstalled;
      totals.configChanges += r.stats.configChanges;
      totals.messages += r.stats.messagesDelivered;
    }
    const ms = Math.round(performance.now() - started);
    console.log(`raft simulator: ${SEEDS} seeds x ${STEPS} steps in ${ms} ms; ${JSON.stringify(totals)}`);
    expect(failures.map((f) => f.seed)).toEqual([]);
    // Not vacuous: the faults and features were exercised.
    expect(totals.leaders).toBeGreaterThan(SEEDS);
    expect(totals.crashes).toBeGreaterThan(SEEDS);
    expect(totals.opsCompleted).toBeGreaterThan(SEEDS * 10);
    if (SEEDS >= 100) {
      expect(totals.snapshotsInstalled).toBeGreaterThan(0);
      expect(totals.configChanges).toBeGreaterThan(0);
    }
  });

  it('is deterministic: a seed replays to the same trace and figures', () => {
    const a = simulate({ seed: 4242, steps: 300 });
    const b = simulate({ seed: 4242, steps: 300 });
    expect(a.ok).toBe(true);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
  });
});

describe('linearizability checker', () => {
  const op = (
    client: number,
    kind: 'put' | 'get',
    value: string | null,
    call: number,
    ret: number,
  ): KvOp => ({
    client,
    key: 'k',
    kind,
    value,
    call,
    ret,
  });

  it('accepts overlapping operations that can be ordered', () => {
    const h = [op(1, 'put', 'a', 1, 4), op(2, 'get', 'a', 2, 3), op(3, 'get', null, 1.5, 2.5)];
    expect(checkLinearizable(h).ok).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    const h = [op(1, 'put', 'a', 1, 2), op(2, 'put', 'b', 3, 4), op(3, 'get', 'a', 5, 6)];
    expect(checkLinearizable(h).ok).toBe(false);
  });

  it('rejects reads that observe two writes in opposite orders', () => {
    const h = [
      op(1, 'put', 'a', 1, 10),
      op(2, 'put', 'b', 1, 10),
      op(3, 'get', 'a', 2, 3),
      op(3, 'get', 'b', 4, 5),
      op(4, 'get', 'a', 6, 7),
    ];
    expect(checkLinearizable(h).ok).toBe(false);
  });

  it('lets a timed-out write take effect late or never', () => {
    const late = [
      op(1, 'put', 'a', 1, Number.POSITIVE_INFINITY),
      op(2, 'get', null, 2, 3),
      op(2, 'get', 'a', 4, 5),
    ];
    expect(checkLinearizable(late).ok).toBe(true);
    const never = [op(1, 'put', 'a', 1, Number.POSITIVE_INFINITY), op(2, 'get', null, 2, 3)];
    expect(checkLinearizable(never).ok).toBe(true);
  });

  it('rejects a read of a value nobody wrote', () => {
    expect(checkLinearizable([op(1, 'get', 'zz', 1, 2)]).ok).toBe(false);
  });
});
