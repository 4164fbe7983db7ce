import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { InstallSnapshot } from '../raft/types.ts';
import { SnapshotAssembler, type SnapshotChunk } from './snapshot-assembler.ts';
import { chunksOf, SnapshotSender } from './snapshot-sender.ts';
import { MemorySnapshotStaging } from './snapshot-staging.ts';

const logger = pino({ level: 'silent' });

function snapshot(index: number, bytes: number, term = 2, to = 2): InstallSnapshot {
  return {
    type: 'install-snapshot',
    from: 1,
    to,
    term,
    seq: 4,
    snapshot: { meta: { index, term, voters: [1, 2, 3] }, data: randomBytes(bytes) },
  };
}

/** A follower whose answers the test releases one at a time. */
function manualPeer() {
  const calls: { to: number; chunk: SnapshotChunk; answer: (err?: Error) => void }[] = [];
  const sendChunk = (to: number, chunk: SnapshotChunk) =>
    new Promise<number>((resolve, reject) => {
      calls.push({
        to,
        chunk,
        answer: (err) => (err ? reject(err) : resolve(chunk.offset + chunk.data.length)),
      });
    });
  return { calls, sendChunk };
}

const tick = () => new Promise((r) => setImmediate(r));

async function results(registry: Registry): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('ferrymq_meta_snapshot_transfers_total')?.get();
  return Object.fromEntries((m?.values ?? []).map((v) => [String(v.labels.result), v.value]));
}

describe('snapshot sender', () => {
  it('cuts a snapshot into ranges of the chunk size', () => {
    expect(chunksOf(10, 4)).toEqual([
      { offset: 0, end: 4 },
      { offset: 4, end: 8 },
      { offset: 8, end: 10 },
    ]);
    expect(chunksOf(8, 4)).toHaveLength(2);
    expect(chunksOf(0, 4)).toEqual([{ offset: 0, end: 0 }]);
  });

  it('delivers a snapshot through the assembler byte for byte, one chunk in flight', async () => {
    const assembler = new SnapshotAssembler({
      staging: new MemorySnapshotStaging(),
      bytesMax: 1 << 20,
      timeoutMs: 10_000,
      termOf: () => 2,
    });
    const installed: InstallSnapshot[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const sender = new SnapshotSender({
      chunkBytes: 1000,
      termOf: () => 2,
      resendGuardMs: 0,
      logger,
      sendChunk: async (_to, chunk) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const r = await assembler.accept(chunk);
        inFlight--;
        if (r.install) installed.push(r.install);
        return r.nextOffset;
      },
    });
    const m = snapshot(300, 12_345);
    sender.offer(7, m);
    for (let i = 0; i < 100 && installed.length === 0; i++) await tick();
    expect(installed).toHaveLength(1);
    expect(installed[0]?.snapshot.meta).toEqual(m.snapshot.meta);
    expect(Buffer.from(installed[0]?.snapshot.data ?? []).equals(Buffer.from(m.snapshot.data))).toBe(true);
    expect(maxInFlight).toBe(1);
  });

  it('one transfer per follower: another group waits, a resend of the running one is ignored', async () => {
    const registry = new Registry();
    const { calls, sendChunk } = manualPeer();
    const sender = new SnapshotSender({
      chunkBytes: 100,
      termOf: () => 2,
      logger,
      sendChunk,
      registry,
      resendGuardMs: 0,
    });
    const a = snapshot(50, 250);
    sender.offer(1, a);
    sender.offer(2, snapshot(60, 100));
    // Raft re-sends the unanswered snapshot: not a second transfer.
    sender.offer(1, a);
    await tick();
    expect(calls).toHaveLength(1);
    expect(sender.queued(2)).toBe(2);
    for (let i = 0; i < 3; i++) {
      const c = calls[i];
      expect(c?.chunk.group).toBe(1);
      expect(c?.chunk.offset).toBe(i * 100);
      c?.answer();
      await tick();
    }
    // Group 1 done (3 chunks); group 2's transfer follows.
    expect(calls).toHaveLength(4);
    expect(calls[3]?.chunk).toMatchObject({ group: 2, offset: 0, done: true });
    calls[3]?.answer();
    await tick();
    expect(sender.queued(2)).toBe(0);
    expect(await results(registry)).toEqual({ done: 2 });
  });

  it('a newer snapshot of the group replaces the running transfer after its chunk in flight', async () => {
    const registry = new Registry();
    const { calls, sendChunk } = manualPeer();
    const sender = new SnapshotSender({
      chunkBytes: 100,
      termOf: () => 2,
      logger,
      sendChunk,
      registry,
      resendGuardMs: 0,
    });
    sender.offer(1, snapshot(50, 300));
    await tick();
    calls[0]?.answer();
    await tick();
    expect(calls[1]?.chunk.offset).toBe(100);
    sender.offer(1, snapshot(80, 150));
    calls[1]?.answer();
    await tick();
    // The old transfer stops; the new one starts over at offset 0.
    expect(calls[2]?.chunk).toMatchObject({ index: 80, offset: 0, done: false });
    calls[2]?.answer();
    await tick();
    calls[3]?.answer();
    await tick();
    expect(calls).toHaveLength(4);
    expect(await results(registry)).toEqual({ superseded: 1, done: 1 });
  });

  it('a refused chunk ends the transfer; the next offer starts over from 0; a term change stops it', async () => {
    const registry = new Registry();
    const { calls, sendChunk } = manualPeer();
    let term = 2;
    const sender = new SnapshotSender({
      chunkBytes: 100,
      termOf: () => term,
      logger,
      sendChunk,
      registry,
      resendGuardMs: 0,
    });
    const m = snapshot(50, 300);
    sender.offer(1, m);
    await tick();
    calls[0]?.answer();
    await tick();
    calls[1]?.answer(new Error('ABORTED: chunk at 100, expected 0'));
    await tick();
    expect(calls).toHaveLength(2);
    expect(sender.queued(2)).toBe(0);
    sender.offer(1, m);
    await tick();
    expect(calls[2]?.chunk.offset).toBe(0);
    term = 3;
    calls[2]?.answer();
    await tick();
    expect(calls).toHaveLength(3);
    expect(await results(registry)).toEqual({ failed: 1, stale: 1 });
  });

  it('ignores the snapshot just delivered for a while, then sends it again if asked', async () => {
    const registry = new Registry();
    const { calls, sendChunk } = manualPeer();
    const sender = new SnapshotSender({
      chunkBytes: 100,
      termOf: () => 2,
      logger,
      sendChunk,
      registry,
      resendGuardMs: 80,
    });
    const m = snapshot(50, 100);
    sender.offer(1, m);
    await tick();
    calls[0]?.answer();
    await tick();
    // The core re-sends while the follower's answer is on its way: ignored.
    sender.offer(1, m);
    await tick();
    expect(calls).toHaveLength(1);
    // A newer snapshot is not a copy: sent at once.
    const newer = snapshot(60, 100);
    sender.offer(1, newer);
    await tick();
    expect(calls[1]?.chunk.index).toBe(60);
    calls[1]?.answer();
    await tick();
    // Past the guard (the follower may have lost it in a crash), the same snapshot goes again.
    await new Promise((r) => setTimeout(r, 100));
    sender.offer(1, newer);
    await tick();
    expect(calls[2]?.chunk).toMatchObject({ index: 60, offset: 0 });
    calls[2]?.answer();
    await tick();
    expect(await results(registry)).toEqual({ done: 3 });
  });
});
