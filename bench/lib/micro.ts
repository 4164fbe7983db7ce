/**
 * Microbenchmarks of single calls (an N-API crossing, an append): µs per
 * call from untimed loops, and p50/p99 from a second pass that times each
 * call, with the cost of the timer itself measurable separately.
 */
import { median, Samples, spreadPct } from './stats.ts';

const now = () => performance.now();

export interface MicroOp {
  name: string;
  calls: number;
  sync?: () => unknown;
  async?: () => Promise<unknown>;
}

/** µs per call: median over runs of an untimed loop; p50/p99 from a second, per-call-timed pass. */
export async function micro(
  runs: number,
  op: MicroOp,
): Promise<{ us: number; p50: number; p99: number; spread: number }> {
  const perCall: number[] = [];
  const lat = new Samples(op.calls);
  for (let r = -1; r < runs; r++) {
    const t0 = now();
    if (op.sync) for (let i = 0; i < op.calls; i++) op.sync();
    else if (op.async) for (let i = 0; i < op.calls; i++) await op.async();
    const us = ((now() - t0) * 1000) / op.calls;
    if (r >= 0) perCall.push(us);
  }
  if (op.sync) {
    for (let i = 0; i < op.calls; i++) {
      const t = now();
      op.sync();
      lat.add((now() - t) * 1000);
    }
  } else if (op.async) {
    for (let i = 0; i < op.calls; i++) {
      const t = now();
      await op.async();
      lat.add((now() - t) * 1000);
    }
  }
  return { us: median(perCall), p50: lat.p(50), p99: lat.p(99), spread: spreadPct(perCall) };
}

export function timerOverheadUs(): number {
  const n = 1_000_000;
  const t0 = now();
  let x = 0;
  for (let i = 0; i < n; i++) x += now();
  if (x < 0) console.log(x); // keep the loop observable
  return ((now() - t0) * 1000) / n;
}
