/**
 * The main thread of `ferrymq bench`: spawns the load workers, walks them
 * through prepare (subscribers / consumers) → connect (publishers /
 * producers) → start, runs the warm-up and the measured window off the
 * shared counters (with a progress callback once per second), stops them,
 * and merges their latency histograms.
 */
import { Worker } from 'node:worker_threads';
import { type LatencySummary, mergeEncoded, summarize } from './histogram.ts';
import type { CommonOptions } from './options.ts';
import { spread } from './options.ts';
import {
  DRAIN_MS,
  diff,
  type FromWorker,
  PHASE_BYTES,
  PHASE_MEASURE,
  PHASE_STOP,
  PHASE_WARMUP,
  SLOTS,
  type Totals,
  type ToWorker,
  totals,
  type WorkerData,
} from './shared.ts';

export interface RunSpec<O extends CommonOptions> {
  /** The worker module (mqtt-worker / kafka-worker). */
  worker: URL;
  options: O;
  /** Clients per role, spread over the workers round-robin. */
  roles: Record<string, number>;
  /** The role whose clients share the rate (publishers, producers). */
  senders: string;
  /**
   * End the measured window once deliveries stopped for IDLE_END_MS after
   * some arrived (a consumer that caught up with the log), measuring up to
   * the last one.
   */
  endWhenIdle?: boolean;
}

export interface Tick {
  elapsedS: number;
  phase: 'warmup' | 'measure';
  /** Totals so far, and per second over the last tick. */
  totals: Totals;
  perS: Totals;
}

export interface RunHooks {
  onTick?(t: Tick): void;
  /** Resolves when the run should end early (the measured window is cut short, results still reported). */
  stopSignal?: Promise<void>;
}

export interface RunResult {
  workers: number;
  /** Seconds of the measured window. */
  seconds: number;
  measured: Totals;
  totals: Totals;
  latency: Record<string, LatencySummary | null>;
  errorMessages: string[];
  /** CPU of this process (every thread) over the measured window, % of one core. */
  generatorCpuPct: number;
}

const STEP_TIMEOUT_MS = 300_000;
const IDLE_END_MS = 1000;
const POLL_MS = 100;

/** A worker's file beside this module: .ts when run from source, .js from dist/. */
export function workerUrl(name: string, base: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

export async function runLoad<O extends CommonOptions>(
  spec: RunSpec<O>,
  hooks: RunHooks = {},
): Promise<RunResult> {
  const o = spec.options;
  const clients = Object.values(spec.roles).reduce((a, b) => a + b, 0);
  const n = Math.max(1, Math.min(o.workers, clients));
  const counters = new SharedArrayBuffer(n * SLOTS * 8);
  const phase = new SharedArrayBuffer(PHASE_BYTES);
  const ctr = new Float64Array(counters);
  const ph = new Int32Array(phase);
  const split = Object.fromEntries(Object.entries(spec.roles).map(([r, c]) => [r, spread(c, n)]));
  const senders = spec.roles[spec.senders] ?? 0;
  const errorMessages: string[] = [];
  let fatal: ((e: Error) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    fatal = reject;
  });
  failed.catch(() => {});
  const inbox: FromWorker[][] = Array.from({ length: n }, () => []);
  const waiters: Array<(() => void) | undefined> = Array.from({ length: n }, () => undefined);

  const workers = Array.from({ length: n }, (_, index) => {
    const roles = Object.fromEntries(Object.entries(split).map(([r, per]) => [r, per[index] ?? []]));
    const mine = roles[spec.senders]?.length ?? 0;
    const data: WorkerData<O> = {
      index,
      options: o,
      counters,
      phase,
      roles,
      rateShare: senders > 0 ? mine / senders : 0,
    };
    const w = new Worker(spec.worker, { workerData: data });
    w.on('message', (m: FromWorker) => {
      if (m.type === 'error') {
        if (errorMessages.length < 20) errorMessages.push(m.message);
      } else if (m.type === 'fatal') fatal?.(new Error(m.message));
      else {
        inbox[index]?.push(m);
        waiters[index]?.();
      }
    });
    w.on('error', (e) => fatal?.(e));
    w.on('exit', (code) => {
      if (code !== 0) fatal?.(new Error(`load worker ${index} exited with code ${code}`));
    });
    return w;
  });

  const next = (i: number, type: FromWorker['type']): Promise<FromWorker> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`load worker ${i}: no "${type}" within ${STEP_TIMEOUT_MS / 1000} s`)),
        STEP_TIMEOUT_MS,
      );
      // A run that fails elsewhere stops waiting; this timer must not keep the process alive.
      timer.unref();
      const check = (): void => {
        const m = inbox[i]?.shift();
        if (!m) return;
        waiters[i] = undefined;
        clearTimeout(timer);
        if (m.type !== type) reject(new Error(`load worker ${i}: expected "${type}", got "${m.type}"`));
        else resolve(m);
      };
      waiters[i] = check;
      check();
    });
  const step = async (
    send: ToWorker['type'],
    expect: FromWorker['type'] | undefined,
  ): Promise<FromWorker[]> => {
    for (const w of workers) w.postMessage({ type: send } satisfies ToWorker);
    if (!expect) return [];
    return Promise.race([Promise.all(workers.map((_, i) => next(i, expect))), failed]);
  };

  let stopEarly = false;
  // Never resolves without a stop signal (a bare undefined in Promise.race would resolve at once and spin).
  const stopped = hooks.stopSignal ?? new Promise<void>(() => {});
  void hooks.stopSignal?.then(() => {
    stopEarly = true;
  });
  /** Sleep `seconds` (less when ending on idle), ticking once per second; resolves with when the last delivery was seen. */
  const sleepTicking = async (seconds: number, label: Tick['phase'], t0: number): Promise<number> => {
    const end = performance.now() + seconds * 1000;
    let last = totals(ctr, n);
    let lastAt = performance.now();
    let seen = last.received;
    let seenAt = performance.now();
    while (!stopEarly) {
      const left = end - performance.now();
      if (left <= 0) break;
      await Promise.race([new Promise((r) => setTimeout(r, Math.min(POLL_MS, left))), failed, stopped]);
      const now = performance.now();
      const cur = totals(ctr, n);
      if (cur.received !== seen) {
        seen = cur.received;
        seenAt = now;
      } else if (label === 'measure' && spec.endWhenIdle && seen > 0 && now - seenAt >= IDLE_END_MS)
        return seenAt;
      if (now - lastAt < 1000 && now < end) continue;
      const d = diff(last, cur);
      const secs = (now - lastAt) / 1000;
      const perS: Totals = {
        sent: d.sent / secs,
        received: d.received / secs,
        acked: d.acked / secs,
        errors: cur.errors,
        connected: cur.connected,
        sentBytes: d.sentBytes / secs,
        receivedBytes: d.receivedBytes / secs,
      };
      hooks.onTick?.({ elapsedS: (now - t0) / 1000, phase: label, totals: cur, perS });
      last = cur;
      lastAt = now;
    }
    return performance.now();
  };

  try {
    await step('prepare', 'prepared');
    await step('connect', 'ready');
    Atomics.store(ph, 0, o.warmupS > 0 ? PHASE_WARMUP : PHASE_MEASURE);
    const t0 = performance.now();
    await step('start', undefined);
    if (o.warmupS > 0) {
      await sleepTicking(o.warmupS, 'warmup', t0);
      Atomics.store(ph, 0, PHASE_MEASURE);
    }
    const m0 = totals(ctr, n);
    const cpu0 = process.cpuUsage();
    const mt0 = performance.now();
    const endedAt = await sleepTicking(o.durationS, 'measure', t0);
    const m1 = totals(ctr, n);
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (performance.now() - mt0) / 1000;
    const seconds = (endedAt - mt0) / 1000;
    Atomics.store(ph, 0, PHASE_STOP);
    await Promise.race([new Promise((r) => setTimeout(r, DRAIN_MS)), failed]);
    const done = await step('close', 'done');
    const names = new Set(done.flatMap((d) => (d.type === 'done' ? Object.keys(d.histograms) : [])));
    const latency: Record<string, LatencySummary | null> = {};
    for (const name of names) {
      const h = mergeEncoded(
        done.flatMap((d) => (d.type === 'done' && d.histograms[name] ? [d.histograms[name]] : [])),
      );
      latency[name] = summarize(h);
      h.destroy();
    }
    return {
      workers: n,
      seconds,
      measured: diff(m0, m1),
      totals: totals(ctr, n),
      latency,
      errorMessages,
      generatorCpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / cpuSeconds) * 100),
    };
  } finally {
    fatal = undefined;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
