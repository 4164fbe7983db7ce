/**
 * BENCH_PROBE=1 for bench/mqtt.bench.ts: a probe preloaded into the FerryMQ
 * broker that reports, per measured window, the broker's event-loop delay,
 * event-loop utilisation, CPU and GC pauses.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningBroker } from './mqtt-brokers.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * BENCH_PROBE=1: a module preloaded into the FerryMQ broker (`--import` of a
 * data: URL, so the broker itself carries no bench code). SIGUSR2 makes it
 * append one JSON line to BENCH_PROBE_FILE with what happened since the
 * previous SIGUSR2: event-loop delay percentiles (1 ms resolution timer,
 * ms), event-loop utilisation, process CPU, and GC pauses by kind (V8's
 * PerformanceObserver 'gc' entries: kind 1 scavenge, 2 mark-compact, 4
 * incremental, 8 weak callbacks). runCell signals at the start and end of
 * the measured window, so each line is one cell's window.
 */
const PROBE_SOURCE = `
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { appendFileSync } from 'node:fs';
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
let gcs = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push([e.detail?.kind ?? 0, e.duration]); }).observe({ entryTypes: ['gc'] });
let elu0 = performance.eventLoopUtilization(), cpu0 = process.cpuUsage(), t0 = performance.now();
process.on('SIGUSR2', () => {
  const elu = performance.eventLoopUtilization(elu0).utilization, cpu = process.cpuUsage(cpu0);
  const gc = {};
  for (const [k, d] of gcs) { const b = (gc[k] ??= { n: 0, ms: 0, maxMs: 0 }); b.n++; b.ms = +(b.ms + d).toFixed(2); b.maxMs = +Math.max(b.maxMs, d).toFixed(2); }
  const line = { secs: +((performance.now() - t0) / 1000).toFixed(2), elu: +elu.toFixed(3), cpuMs: Math.round((cpu.user + cpu.system) / 1000), eldP50Ms: h.percentile(50) / 1e6, eldP99Ms: h.percentile(99) / 1e6, eldMaxMs: h.max / 1e6, gc };
  appendFileSync(process.env.BENCH_PROBE_FILE, JSON.stringify(line) + '\\n');
  h.reset(); gcs = []; elu0 = performance.eventLoopUtilization(); cpu0 = process.cpuUsage(); t0 = performance.now();
});
`;
export const PROBE = process.env.BENCH_PROBE === '1';
const PROBE_FILE = join(tmpdir(), `ferrymq-bench-probe-${process.pid}.jsonl`);

/** Makes every FerryMQ broker started from now on preload the probe (lib/mqtt-brokers.ts reads the env). */
export function installProbe(): void {
  if (PROBE) {
    process.env.BENCH_PROBE_FILE = PROBE_FILE;
    process.env.BENCH_FERRYMQ_NODE_ARGS = `${process.env.BENCH_FERRYMQ_NODE_ARGS ?? ''} --import=data:text/javascript,${encodeURIComponent(PROBE_SOURCE)}`;
  }
}

/** BENCH_PROBE: the line the broker's probe wrote for the window that just ended ('' if none). */
export async function probeSignal(b: RunningBroker, end: boolean): Promise<string> {
  if (!PROBE || b.name !== 'FerryMQ') return '';
  process.kill(b.pid, 'SIGUSR2');
  if (!end) return '';
  await sleep(50);
  try {
    return (readFileSync(PROBE_FILE, 'utf8').trim().split('\n').at(-1) ?? '').trim();
  } catch {
    return '';
  }
}

/** Removes this run's probe file (at the end of the bench). */
export function removeProbeFile(): void {
  if (PROBE) rmSync(PROBE_FILE, { force: true });
}
