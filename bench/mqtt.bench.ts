/**
 * MQTT broker benchmark: FerryMQ beside Mosquitto (Debian) and Aedes (npm),
 * in one run, on the same machine, with the same load generator.
 *
 * Run: npm run bench:mqtt       (node bench/mqtt.bench.ts [--quick] [--no-doc] [--profile] [--skip-memory] [--memory-only])
 * Needs dist/ (npm run build:ts), /usr/sbin/mosquitto (scripts/test-deps.sh) and aedes (devDependency).
 *
 * Every broker is started by the bench on a free 127.0.0.1 port and stopped
 * at the end (lib/mqtt-brokers.ts). The load generator runs in
 * worker_threads of this process (lib/mqtt-load.ts: raw sockets, MQTT 3.1.1,
 * PUBLISH / PUBACK hand-encoded, CONNECT / SUBSCRIBE by mqtt-packet), one
 * worker for the subscribers and one for the publishers; the bench measures
 * its own CPU time (getrusage of this process: both workers and the idle
 * main thread) and the broker's (/proc/<pid>/stat), and prints both.
 *
 * 1. Messaging, per topology × QoS 0/1, median of RUNS runs; within a run
 *    the brokers take turns (the order rotates each run), so slow drifts of
 *    a shared machine hit all three alike:
 *      fan-in   50 publishers (bench/fi/<i>) → 1 subscriber on bench/#
 *      fan-out  1 publisher (bench/fo) → 50 subscribers
 *      p2p      25 pairs, publisher i → subscriber i on bench/p2p/<i>
 *    - throughput: as fast as the broker delivers. Publishers stop when
 *      WINDOW deliveries are in flight (published × fanout − received) or
 *      their socket is backed up; a QoS 1 publisher keeps ≤ 64 PUBLISHes
 *      unacknowledged. Figure: deliveries/s received by the subscribers.
 *    - latency: a fixed RATE deliveries/s in total (publish rate = RATE /
 *      fanout), one write per message; p50/p99 of (receive − send) from the
 *      timestamp in the 64-byte payload, pooled over the runs.
 * 2. Memory per idle connection: a fresh broker, RSS before and 3 s after
 *    CONNS connections (CONNECT keepalive 60, clean session, CONNACK each)
 *    from the generator; (after − before) / CONNS; then CONNS2 on the same
 *    broker and the marginal cost between the two. Then "warm": the same on
 *    a fresh broker that first carried 500,000 small PUBLISHes (V8's young
 *    generation grows once at a Node broker's first scavenge; see warmUp).
 *    `--memory-only` runs just this (BENCH_MEM_RUNS fresh brokers each,
 *    median; nothing written to the doc).
 * Unless --no-doc (or --quick), the tables also go to the "MQTT" section of
 * docs/benchmarks.md (between its markers; the rest of the file is kept).
 * When a throughput goal is missed (or with --profile), FerryMQ is run once
 * more under fan-in QoS 0 with `node --cpu-prof` and the top self-time
 * functions are printed (and written to the doc).
 *
 * Env: BENCH_RUNS (3), BENCH_RUN_MS (5000), BENCH_LAT_MS (3000),
 *      BENCH_RATE (5000), BENCH_CONNS (10000), BENCH_CONNS2 (the fd limit allows), BENCH_BROKERS (FerryMQ,Mosquitto,Aedes),
 *      BENCH_PROFILE_CELL (fan-in:0: topology:QoS of the --profile run),
 *      BENCH_FERRYMQ_NODE_ARGS (extra node flags for FerryMQ, lib/mqtt-brokers.ts),
 *      BENCH_PROBE=1 (FerryMQ only: per measured window, print the broker's
 *      event-loop delay, event-loop utilisation, CPU and GC pauses; see PROBE_SOURCE).
 * No assertions: this prints figures.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { topSelf } from './lib/cpu-profile.ts';
import { writeDocSection } from './lib/doc.ts';
import { machineInfo, machineLines } from './lib/machine.ts';
import { type BrokerName, hardNofile, type RunningBroker, startBroker } from './lib/mqtt-brokers.ts';
import { connectPacket, DISCONNECT, nowUs, PublishTemplate, selfTest } from './lib/mqtt-codec.ts';
import {
  C_CONNECTED,
  C_DELIVERED,
  C_ERRORS,
  C_PHASE,
  C_PUBLISHED,
  C_STALLS,
  COUNTERS,
  PHASE_MEASURE,
  PHASE_STOP,
} from './lib/mqtt-counters.ts';
import type { LoadConfig } from './lib/mqtt-load.ts';
import {
  fmt,
  fmtUs,
  median,
  percentile,
  renderMarkdown,
  renderText,
  spreadPct,
  type Table,
} from './lib/stats.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const LOAD = new URL('./lib/mqtt-load.ts', import.meta.url);
const argv = new Set(process.argv.slice(2));
const QUICK = argv.has('--quick');
/** Only the memory-per-idle-connection scenario (no messaging cells, no doc). */
const MEMORY_ONLY = argv.has('--memory-only');
const WRITE_DOC = !argv.has('--no-doc') && !QUICK && !MEMORY_ONLY;
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 1 : 3));
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? (QUICK ? 1500 : 5000));
const LAT_MS = Number(process.env.BENCH_LAT_MS ?? (QUICK ? 1500 : 3000));
const RATE = Number(process.env.BENCH_RATE ?? 5000);
const CONNS = Number(process.env.BENCH_CONNS ?? (QUICK ? 2000 : 10_000));
/**
 * The second, larger count of the memory test: as many as the fd limits
 * allow (both the broker and this process hold one fd per connection; 1,000
 * left for everything else), at most 50,000 (the issue's figure).
 */
const CONNS2 = Math.max(
  CONNS,
  Number(
    process.env.BENCH_CONNS2 ??
      (QUICK ? 2 * CONNS : Math.min(50_000, Math.floor((hardNofile() - 1000) / 1000) * 1000)),
  ),
);
const MEM_RUNS = Number(process.env.BENCH_MEM_RUNS ?? 1);
const WARMUP_MS = QUICK ? 500 : 1000;
const DRAIN_MS = 500;
const BROKERS = (process.env.BENCH_BROKERS ?? 'FerryMQ,Mosquitto,Aedes').split(',') as BrokerName[];
const WINDOW_SCALE = Number(process.env.BENCH_WINDOW_SCALE ?? 1);
const ONLY_TOPOLOGIES = process.env.BENCH_TOPOLOGIES?.split(',');
const MODES = (process.env.BENCH_MODES ?? 'throughput,rate').split(',') as ('throughput' | 'rate')[];
const QOS_LEVELS = (process.env.BENCH_QOS ?? '0,1').split(',').map(Number) as (0 | 1)[];
const [PROFILE_TOPOLOGY, PROFILE_QOS] = (process.env.BENCH_PROFILE_CELL ?? 'fan-in:0').split(':') as [
  Topology['name'],
  string,
];
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
const PROBE = process.env.BENCH_PROBE === '1';
const PROBE_FILE = join(tmpdir(), `ferrymq-bench-probe-${process.pid}.jsonl`);
if (PROBE) {
  process.env.BENCH_PROBE_FILE = PROBE_FILE;
  process.env.BENCH_FERRYMQ_NODE_ARGS = `${process.env.BENCH_FERRYMQ_NODE_ARGS ?? ''} --import=data:text/javascript,${encodeURIComponent(PROBE_SOURCE)}`;
}

/** BENCH_PROBE: the line the broker's probe wrote for the window that just ended ('' if none). */
async function probeSignal(b: RunningBroker, end: boolean): Promise<string> {
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

interface Topology {
  name: 'fan-in' | 'fan-out' | 'p2p';
  label: string;
  subs: string[];
  pubs: string[];
  fanout: number;
  /** Deliveries in flight in throughput mode. */
  window: number;
}

const TOPOLOGIES: Topology[] = [
  {
    name: 'fan-in',
    label: 'fan-in 50→1',
    subs: ['bench/#'],
    pubs: Array.from({ length: 50 }, (_, i) => `bench/fi/${i}`),
    fanout: 1,
    window: 1000,
  },
  {
    name: 'fan-out',
    label: 'fan-out 1→50',
    subs: Array.from({ length: 50 }, () => 'bench/fo'),
    pubs: ['bench/fo'],
    fanout: 50,
    window: 50 * 100,
  },
  {
    name: 'p2p',
    label: 'p2p 25 pairs',
    subs: Array.from({ length: 25 }, (_, i) => `bench/p2p/${i}`),
    pubs: Array.from({ length: 25 }, (_, i) => `bench/p2p/${i}`),
    fanout: 1,
    window: 25 * 100,
  },
].filter((t) => !ONLY_TOPOLOGIES || ONLY_TOPOLOGIES.includes(t.name)) as Topology[];

interface CellResult {
  deliveredPerS: number;
  publishedPerS: number;
  /** Deliveries missing at the end of the run (published × fanout − received), % */
  lostPct: number;
  stalls: number;
  genCpuPct: number;
  brokerCpuPct: number;
  /** CPU used by every other process on the machine during the run (100 = one core). */
  othersCpuPct: number;
  /** The measured window on the monotonic clock (µs), to cut a CPU profile to it. */
  windowUs: [number, number];
  /** Broker write / read syscalls (/proc/<pid>/io) per delivery in the measured window. */
  writesPerDelivery: number;
  readsPerDelivery: number;
  samples: Float64Array;
  /** BENCH_PROBE: the broker's probe line for the measured window. */
  probe: string;
}

let clientSeq = 0;

function spawnLoad(cfg: LoadConfig): {
  worker: Worker;
  next: (type: string) => Promise<Record<string, unknown>>;
} {
  const worker = new Worker(LOAD, { workerData: cfg });
  const queue: Record<string, unknown>[] = [];
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  let failure: Error | undefined;
  const deliver = (m: Record<string, unknown>): void => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  };
  worker.on('message', (m: Record<string, unknown>) => deliver(m));
  worker.on('error', (e) => {
    failure = e;
    deliver({ type: 'error', message: e.message });
  });
  const next = async (type: string): Promise<Record<string, unknown>> => {
    const m =
      queue.shift() ??
      (await new Promise<Record<string, unknown>>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`load worker (${cfg.role}): no ${type} within 120 s`)),
          120_000,
        );
        waiters.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
      }));
    if (m.type === 'error' || failure) throw new Error(`load worker (${cfg.role}): ${m.message ?? failure}`);
    if (m.type !== type) throw new Error(`load worker (${cfg.role}): expected ${type}, got ${m.type}`);
    return m;
  };
  return { worker, next };
}

async function runCell(
  b: RunningBroker,
  topo: Topology,
  qos: 0 | 1,
  mode: 'throughput' | 'rate',
): Promise<CellResult> {
  const shared = new SharedArrayBuffer(COUNTERS * 4);
  const ctr = new Int32Array(shared);
  const idPrefix = `b${process.pid.toString(36)}-${++clientSeq}`;
  const duration = mode === 'rate' ? LAT_MS : RUN_MS;
  const base = {
    port: b.port,
    qos,
    idPrefix,
    mode,
    rate: RATE / topo.fanout,
    fanout: topo.fanout,
    window: Math.round(topo.window * WINDOW_SCALE),
    count: 0,
    shared,
  };
  const sub = spawnLoad({
    ...base,
    role: 'sub',
    topics: topo.subs,
    sampleCap: mode === 'rate' ? RATE * 30 : 0,
  });
  await sub.next('ready');
  const pub = spawnLoad({ ...base, role: 'pub', topics: topo.pubs, sampleCap: 0 });
  await pub.next('ready');
  pub.worker.postMessage({ type: 'start' });
  await sleep(WARMUP_MS);
  Atomics.store(ctr, C_PHASE, PHASE_MEASURE);
  const t0 = performance.now();
  const d0 = Atomics.load(ctr, C_DELIVERED);
  const p0 = Atomics.load(ctr, C_PUBLISHED);
  const g0 = process.cpuUsage();
  const c0 = b.cpuSeconds();
  const m0 = machineBusySeconds();
  const s0 = b.syscalls();
  const u0 = nowUs();
  await probeSignal(b, false);
  await sleep(duration);
  const probe = await probeSignal(b, true);
  const u1 = nowUs();
  const m1 = machineBusySeconds();
  const s1 = b.syscalls();
  const secs = (performance.now() - t0) / 1000;
  const d1 = Atomics.load(ctr, C_DELIVERED);
  const p1 = Atomics.load(ctr, C_PUBLISHED);
  const g = process.cpuUsage(g0);
  const c1 = b.cpuSeconds();
  Atomics.store(ctr, C_PHASE, PHASE_STOP);
  await sleep(DRAIN_MS);
  const published = Atomics.load(ctr, C_PUBLISHED) * topo.fanout;
  const delivered = Atomics.load(ctr, C_DELIVERED);
  pub.worker.postMessage({ type: 'close' });
  sub.worker.postMessage({ type: 'close' });
  await pub.next('closed');
  const closed = await sub.next('closed');
  await Promise.all([pub.worker.terminate(), sub.worker.terminate()]);
  if (Atomics.load(ctr, C_ERRORS) > 0) console.log(`    (${Atomics.load(ctr, C_ERRORS)} socket errors)`);
  return {
    deliveredPerS: (d1 - d0) / secs,
    publishedPerS: (p1 - p0) / secs,
    lostPct: published > 0 ? (Math.max(0, published - delivered) / published) * 100 : 0,
    stalls: Atomics.load(ctr, C_STALLS),
    genCpuPct: ((g.user + g.system) / 1e6 / secs) * 100,
    brokerCpuPct: ((c1 - c0) / secs) * 100,
    othersCpuPct: ((m1 - m0 - (c1 - c0) - (g.user + g.system) / 1e6) / secs) * 100,
    windowUs: [u0, u1],
    writesPerDelivery: (s1.w - s0.w) / (d1 - d0),
    readsPerDelivery: (s1.r - s0.r) / (d1 - d0),
    samples: (closed.samples as Float64Array | undefined) ?? new Float64Array(0),
    probe,
  };
}

function aggregate(runs: CellResult[]) {
  const pooled = new Float64Array(runs.reduce((n, r) => n + r.samples.length, 0));
  let o = 0;
  for (const r of runs) {
    pooled.set(r.samples, o);
    o += r.samples.length;
  }
  return {
    rate: median(runs.map((r) => r.deliveredPerS)),
    spread: spreadPct(runs.map((r) => r.deliveredPerS)),
    lost: median(runs.map((r) => r.lostPct)),
    stalls: runs.reduce((n, r) => n + r.stalls, 0),
    gen: median(runs.map((r) => r.genCpuPct)),
    broker: median(runs.map((r) => r.brokerCpuPct)),
    others: median(runs.map((r) => r.othersCpuPct)),
    wpd: median(runs.map((r) => r.writesPerDelivery)),
    rpd: median(runs.map((r) => r.readsPerDelivery)),
    p50: percentile(pooled, 50),
    p99: percentile(pooled, 99),
    samples: pooled.length,
  };
}

/** Busy CPU seconds of the whole machine (all processes, all cores) from /proc/stat. */
function machineBusySeconds(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / 100;
}

const ratio = (a: number, b: number): string =>
  Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-';

// ------------------------------------------------------------------------------------------ memory
interface MemResult {
  before: number;
  /** RSS with CONNS connections open. */
  after: number;
  connected: number;
  failed: number;
  kibPerConn: number;
  /** RSS with CONNS2 connections open (the same broker, CONNS2 − CONNS more). */
  after2: number;
  connected2: number;
  kibPerConn2: number;
  /** (after2 − after) / (connected2 − connected): a connection's cost without the one-time costs. */
  marginalKib: number;
  genCpuS: number;
  connectMs: number;
}

/**
 * QoS 0 PUBLISHes sent by the warm-up (64 B payload, to a topic nobody
 * subscribes to): enough garbage to fill V8's grown young generation a few
 * times over, so that its pages are resident before "RSS before" (with
 * 100,000 they were not all, and the figure moved by ±1 KiB with how much
 * the connect phase itself allocated).
 */
const WARMUP_PUBLISHES = 500_000;

/**
 * One client sends WARMUP_PUBLISHES QoS 0 PUBLISHes, then PINGREQ, and
 * leaves after PINGRESP (so the broker has read them all). A Node broker's
 * first scavenge after start-up doubles V8's young generation (the start-up
 * survivors it promotes count towards the growth rule), a one-time ~28 MiB
 * of RSS that the fresh figure charges to the connections; any traffic
 * triggers it, so the warm figure measures connections on a broker that has
 * already carried some.
 */
async function warmUp(port: number): Promise<void> {
  const s = tcpConnect(port, '127.0.0.1');
  s.setNoDelay(true);
  // First bytes of the packets this client gets (CONNACK 0x20, PINGRESP 0xd0: nothing else is sent to it).
  const seen = new Set<number>();
  let failure: Error | undefined;
  let wake = (): void => {};
  s.on('data', (d: Buffer) => {
    for (const type of [0x20, 0xd0]) if (d.includes(type)) seen.add(type);
    wake();
  });
  s.on('error', (e: Error) => {
    failure = e;
    wake();
  });
  s.on('close', () => {
    failure ??= new Error('warm-up connection closed');
    wake();
  });
  const until = async (type: number): Promise<void> => {
    while (!seen.has(type)) {
      if (failure) throw failure;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  s.write(connectPacket(`warm-${process.pid.toString(36)}-${++clientSeq}`));
  await until(0x20);
  const one = new PublishTemplate('bench/warm-up', 0).bytes;
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => one));
  // Queued in this process as fast as the broker reads (~36 MB at most); PINGRESP says it read them all.
  for (let sent = 0; sent < WARMUP_PUBLISHES; sent += 1000) s.write(batch);
  s.write(Buffer.from([0xc0, 0])); // PINGREQ
  await until(0xd0);
  s.end(DISCONNECT);
  s.destroy();
}

/** An `idle` load worker holding `count` connections (CONNECT keepalive 60, CONNACK each). */
async function openIdle(port: number, count: number) {
  const shared = new SharedArrayBuffer(COUNTERS * 4);
  const idle = spawnLoad({
    role: 'idle',
    port,
    qos: 0,
    topics: [],
    idPrefix: `m${process.pid.toString(36)}-${++clientSeq}`,
    mode: 'rate',
    rate: 0,
    fanout: 1,
    window: 0,
    count,
    shared,
    sampleCap: 0,
  });
  const ready = await idle.next('ready');
  const connected = Number(ready.connected ?? Atomics.load(new Int32Array(shared), C_CONNECTED));
  const failed = Number(ready.failed ?? 0);
  if (failed > 0) console.log(`    ${failed} connections failed (${ready.firstError})`);
  return {
    connected,
    failed,
    close: async (): Promise<void> => {
      idle.worker.postMessage({ type: 'close' });
      await idle.next('closed');
      await idle.worker.terminate();
    },
  };
}

/**
 * RSS of one fresh broker before any connection, with CONNS idle
 * connections, then with CONNS2 (CONNS2 − CONNS more from a second worker,
 * the first ones still open). The step from CONNS to CONNS2 is the marginal
 * cost of a connection: one-time costs (the young generation's growth, code
 * compiled on first use, allocator arenas) are already paid at CONNS.
 */
async function memoryTest(name: BrokerName, warm: boolean): Promise<MemResult> {
  const b = await startBroker(name, repoRoot);
  const open: Array<() => Promise<void>> = [];
  try {
    await sleep(1500);
    if (warm) {
      await warmUp(b.port);
      await sleep(1500);
    }
    const before = b.rssKiB();
    const g0 = process.cpuUsage();
    const t0 = performance.now();
    const first = await openIdle(b.port, CONNS);
    open.push(first.close);
    const connectMs = performance.now() - t0;
    const g = process.cpuUsage(g0);
    await sleep(3000);
    const after = b.rssKiB();
    const second = await openIdle(b.port, CONNS2 - CONNS);
    open.push(second.close);
    await sleep(3000);
    const after2 = b.rssKiB();
    const connected = first.connected;
    const connected2 = first.connected + second.connected;
    return {
      before,
      after,
      connected,
      failed: first.failed + second.failed,
      kibPerConn: connected > 0 ? (after - before) / connected : Number.NaN,
      after2,
      connected2,
      kibPerConn2: connected2 > 0 ? (after2 - before) / connected2 : Number.NaN,
      marginalKib: second.connected > 0 ? (after2 - after) / second.connected : Number.NaN,
      genCpuS: (g.user + g.system) / 1e6,
      connectMs,
    };
  } finally {
    for (const close of open.reverse()) await close();
    await b.stop();
  }
}

// ------------------------------------------------------------------------------------------ profile
async function profileFerrymq(): Promise<{ table: Table; rate: number } | undefined> {
  const topology = TOPOLOGIES.find((t) => t.name === PROFILE_TOPOLOGY);
  const qos = Number(PROFILE_QOS) === 1 ? 1 : 0;
  if (!topology) throw new Error(`BENCH_PROFILE_CELL: no topology ${PROFILE_TOPOLOGY} in this run`);
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-prof-'));
  try {
    const b = await startBroker('FerryMQ', repoRoot, { cpuProfDir: dir });
    let r: CellResult;
    try {
      r = await runCell(b, topology, qos, 'throughput');
    } finally {
      await b.stop();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      console.log('no .cpuprofile was written');
      return undefined;
    }
    const cell = `${topology.name.replace('-', '')}-qos${qos}`;
    const keep = join(repoRoot, 'node_modules', '.cache', 'ferrymq-bench', `mqtt-${cell}.cpuprofile`);
    execFileSync('mkdir', ['-p', dirname(keep)]);
    writeFileSync(keep, readFileSync(join(dir, file)));
    const top = topSelf(join(dir, file), 15, r.windowUs, repoRoot);
    return {
      rate: r.deliveredPerS,
      table: {
        title: `FerryMQ CPU profile: ${topology.label}, QoS ${qos}, throughput (node --cpu-prof, top self time)`,
        columns: ['function (file:line)', 'self ms', '% of busy'],
        rows: top.rows,
        notes: [
          `${fmt(r.deliveredPerS)} deliveries/s while profiled; ${fmt(top.totalMs)} ms of samples from the measured ${RUN_MS / 1000} s window, ${fmt(top.idlePct, 0)}% idle; other processes used ${fmt(r.othersCpuPct)}% CPU meanwhile; "% of busy" excludes (idle).`,
          `Profile kept in node_modules/.cache/ferrymq-bench/mqtt-${cell}.cpuprofile (open in Chrome DevTools).`,
        ],
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------ doc

function writeDoc(body: string): void {
  writeDocSection(repoRoot, 'mqtt', body);
}

// ------------------------------------------------------------------------------------------ main
function raiseOwnNofile(need: number): string {
  const hard = hardNofile();
  try {
    const soft = Number(
      execFileSync('bash', ['-c', `prlimit --pid ${process.pid} --nofile --output SOFT --noheadings`], {
        encoding: 'utf8',
      }).trim(),
    );
    if (soft < need && hard > soft) {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:${hard}`]);
      return `raised the generator's fd limit ${soft} → ${hard}`;
    }
    return `generator fd limit ${soft} (hard ${hard})`;
  } catch {
    return `could not read/raise the fd limit (hard ${hard})`;
  }
}

/**
 * Memory per idle connection for every broker, one fresh broker per run
 * (BENCH_MEM_RUNS runs each, the brokers taking turns; the median is
 * reported), printed and returned as the doc's table.
 */
async function memorySection(): Promise<Table> {
  console.log(
    `\nmemory: ${fmt(CONNS)} then ${fmt(CONNS2)} idle connections per broker (fresh broker each, ${MEM_RUNS} run(s) per broker)`,
  );
  const mem = new Map<string, MemResult[]>();
  for (let run = 0; run < MEM_RUNS; run++) {
    for (const warm of [false, true]) {
      for (const name of BROKERS) {
        const r = await memoryTest(name, warm);
        const k = `${name}|${warm}`;
        mem.set(k, [...(mem.get(k) ?? []), r]);
        console.log(
          `  ${name}${warm ? ' (warm)' : ''}: RSS ${fmt(r.before / 1024, 1)} → ${fmt(r.after / 1024, 1)} → ${fmt(r.after2 / 1024, 1)} MiB, ${fmt(r.connected)} connected in ${fmt(r.connectMs)} ms, then ${fmt(r.connected2)}; ${fmt(r.kibPerConn, 2)} KiB/connection at ${fmt(r.connected)}, ${fmt(r.kibPerConn2, 2)} at ${fmt(r.connected2)}, marginal ${fmt(r.marginalKib, 2)}`,
        );
      }
    }
  }
  // The run with the median KiB/connection stands for the broker (its RSS columns belong to it).
  const pick = (name: BrokerName, warm: boolean): MemResult => {
    const rs = [...(mem.get(`${name}|${warm}`) ?? [])].sort((a, b) => a.kibPerConn - b.kibPerConn);
    return rs[Math.floor((rs.length - 1) / 2)] as MemResult;
  };
  const has = BROKERS.includes('FerryMQ');
  const n1 = fmt(CONNS);
  const n2 = fmt(CONNS2);
  const table: Table = {
    title: `MQTT memory per idle connection (${n1} and ${n2} connections, keepalive 60)`,
    columns: [
      'broker',
      'RSS before (MiB)',
      `RSS at ${n1} → ${n2} (MiB)`,
      'connected',
      `KiB/connection at ${n1}`,
      `at ${n2}`,
      `marginal ${n1}→${n2}`,
      `FerryMQ/broker at ${n1}`,
      'warm: RSS before → after (MiB)',
      `warm: KiB/connection at ${n1}`,
      `warm: marginal ${n1}→${n2}`,
      `warm: FerryMQ/broker at ${n1}`,
    ],
    rows: BROKERS.map((name) => {
      const r = pick(name, false);
      const w = pick(name, true);
      return [
        name,
        fmt(r.before / 1024, 1),
        `${fmt(r.after / 1024, 1)} → ${fmt(r.after2 / 1024, 1)}`,
        `${fmt(r.connected)} / ${fmt(r.connected2)}`,
        fmt(r.kibPerConn, 2),
        fmt(r.kibPerConn2, 2),
        fmt(r.marginalKib, 2),
        has ? ratio(pick('FerryMQ', false).kibPerConn, r.kibPerConn) : '-',
        `${fmt(w.before / 1024, 1)} → ${fmt(w.after / 1024, 1)} → ${fmt(w.after2 / 1024, 1)}`,
        fmt(w.kibPerConn, 2),
        fmt(w.marginalKib, 2),
        has ? ratio(pick('FerryMQ', true).kibPerConn, w.kibPerConn) : '-',
      ];
    }),
    notes: [
      `RSS from /proc/<pid>/status (VmRSS) of a freshly started broker 1.5 s after start ("before"), 3 s after the last CONNACK of ${n1} connections, then 3 s after ${fmt(CONNS2 - CONNS)} more (the first ${n1} still open); ${MEM_RUNS === 1 ? 'one run per broker' : `median of ${MEM_RUNS} runs per broker (BENCH_MEM_RUNS), each on a fresh broker`}. Lower is better.`,
      `KiB/connection at N: (RSS at N − RSS before) / N, one-time costs included. marginal: (RSS at ${n2} − RSS at ${n1}) / ${fmt(CONNS2 - CONNS)}, the cost of one more connection on the same broker, one-time costs excluded. ${n2} is the most this machine allows: the hard fd limit is ${fmt(hardNofile())} (no CAP_SYS_RESOURCE to raise it) and the load generator holds one fd per connection too, so the issue's 50,000 cannot be measured here.`,
      `warm: the same on another fresh broker that first carried ${fmt(WARMUP_PUBLISHES)} QoS 0 PUBLISHes (64 B, no subscriber) from one client, then idled 1.5 s before "RSS before". Any traffic makes V8 grow a Node broker's young generation once, a one-time cost that the fresh column charges to the connections; the warm column is the cost of a connection on a broker in use (its old generation may also reuse space the warm-up's garbage freed).`,
      'Kernel socket buffers are not in RSS (they are kernel memory) for any of the brokers.',
    ],
  };
  console.log(renderText(table));
  return table;
}

async function main(): Promise<void> {
  selfTest();
  const m = machineInfo(tmpdir(), repoRoot);
  const fdNote = raiseOwnNofile(CONNS2 + 1000);
  console.log(
    `mqtt bench: ${RUNS} run(s) per cell, throughput ${RUN_MS} ms, latency ${LAT_MS} ms at ${fmt(RATE)} deliveries/s, ${fmt(CONNS)} then ${fmt(CONNS2)} idle connections${QUICK ? ' (quick)' : ''}`,
  );
  for (const l of machineLines(m)) console.log(l);
  console.log(fdNote);
  if (MEMORY_ONLY) {
    // Only the idle-connection scenario: nothing is written to the doc.
    await memorySection();
    return;
  }

  const brokers: RunningBroker[] = [];
  for (const name of BROKERS) brokers.push(await startBroker(name, repoRoot));
  const versions = Object.fromEntries(brokers.map((b) => [b.name, b.version])) as Record<BrokerName, string>;
  for (const b of brokers) console.log(`${b.name} ${b.version} on 127.0.0.1:${b.port} (pid ${b.pid})`);

  const results = new Map<string, CellResult[]>();
  const key = (t: string, q: number, mode: string, b: string): string => `${t}|${q}|${mode}|${b}`;
  try {
    for (const mode of MODES) {
      for (const topo of TOPOLOGIES) {
        for (const qos of QOS_LEVELS) {
          for (let run = 0; run < RUNS; run++) {
            const order = brokers.map((_, i) => brokers[(i + run) % brokers.length] as RunningBroker);
            for (const b of order) {
              const r = await runCell(b, topo, qos, mode);
              const k = key(topo.name, qos, mode, b.name);
              results.set(k, [...(results.get(k) ?? []), r]);
              const lat =
                mode === 'rate' && r.samples.length
                  ? `, p50 ${fmtUs(percentile(r.samples, 50))} µs, p99 ${fmtUs(percentile(r.samples, 99))} µs`
                  : '';
              console.log(
                `  ${mode} ${topo.label} QoS ${qos} run ${run + 1} ${b.name}: ${fmt(r.deliveredPerS)} deliveries/s (published ${fmt(r.publishedPerS)}/s, lost ${fmt(r.lostPct, 2)}%${r.stalls ? `, ${r.stalls} stalls` : ''}), broker CPU ${fmt(r.brokerCpuPct)}%, generator CPU ${fmt(r.genCpuPct)}%, other processes ${fmt(r.othersCpuPct)}%, broker syscalls/delivery write ${fmt(r.writesPerDelivery, 2)} read ${fmt(r.readsPerDelivery, 2)}${lat}`,
              );
              if (r.probe) console.log(`    probe: ${r.probe}`);
            }
          }
        }
      }
    }
  } finally {
    for (const b of brokers) await b.stop();
  }

  const get = (t: string, q: number, mode: string, b: string) =>
    aggregate(results.get(key(t, q, mode, b)) ?? []);
  const has = (b: BrokerName): boolean => BROKERS.includes(b);
  const peers = (['Mosquitto', 'Aedes'] as const).filter(has);

  const tput: Table = {
    title: 'MQTT throughput (deliveries/s received by the subscribers, 64 B payload)',
    columns: ['scenario', 'QoS', 'FerryMQ', ...peers.flatMap((p) => [p, `FerryMQ/${p}`])],
    rows: [],
    notes: [
      `Median of ${RUNS} runs of ${RUN_MS / 1000} s (after ${WARMUP_MS / 1000} s warm-up); publishers stop at (fan-in 1,000; fan-out 5,000; p2p 2,500) × BENCH_WINDOW_SCALE (${WINDOW_SCALE}) deliveries in flight, at TCP backpressure, and (QoS 1) at 64 unacknowledged PUBLISHes per publisher.`,
    ],
  };
  const cpu: Table = {
    title: 'MQTT throughput runs: CPU and losses (medians; 100% = one core, the machine has 2)',
    columns: [
      'scenario',
      'QoS',
      ...BROKERS.flatMap((b) => [`${b} broker CPU`, `${b} generator CPU`, `${b} lost`]),
      'other processes CPU',
    ],
    rows: [],
    notes: [
      'broker CPU: the broker process (all threads), from /proc/<pid>/stat; generator CPU: the bench process (both load workers), from getrusage.',
      'other processes CPU: the rest of the machine (/proc/stat busy time minus broker and generator) during the runs, median over all brokers: the machine is shared, and what others use is taken from the three brokers alike.',
      'lost: deliveries missing 0.5 s after the publishers stopped (QoS 0 messages a broker dropped), % of published × fanout.',
    ],
  };
  const sys: Table = {
    title: 'MQTT throughput runs: broker syscalls per delivered message (write / read)',
    columns: ['scenario', 'QoS', ...BROKERS],
    rows: [],
    notes: [
      'From /proc/<pid>/io (syscw, syscr) over the measured window, divided by the deliveries in it (median of the runs). A PUBLISH out costs one write per message unless the broker batches writes to a socket.',
    ],
  };
  const lat: Table = {
    title: `MQTT end-to-end latency at ${fmt(RATE)} deliveries/s (µs, p50 / p99)`,
    columns: [
      'scenario',
      'QoS',
      'FerryMQ',
      ...peers.flatMap((p) => [p, `FerryMQ/${p} p50`, `FerryMQ/${p} p99`]),
    ],
    rows: [],
    notes: [
      `Publish rate ${fmt(RATE)}/fanout messages/s in total, one socket write per message; latency = receive time − send time in the payload, pooled over ${RUNS} runs of ${LAT_MS / 1000} s. Lower is better: a ratio < 1 means FerryMQ is faster.`,
    ],
  };
  for (const topo of TOPOLOGIES) {
    for (const qos of [0, 1] as const) {
      const f = get(topo.name, qos, 'throughput', 'FerryMQ');
      tput.rows.push([
        topo.label,
        String(qos),
        fmt(f.rate),
        ...peers.flatMap((p) => {
          const x = get(topo.name, qos, 'throughput', p);
          return [fmt(x.rate), ratio(f.rate, x.rate)];
        }),
      ]);
      cpu.rows.push([
        topo.label,
        String(qos),
        ...BROKERS.flatMap((b) => {
          const x = get(topo.name, qos, 'throughput', b);
          return [`${fmt(x.broker)}%`, `${fmt(x.gen)}%`, `${fmt(x.lost, 2)}%`];
        }),
        `${fmt(median(BROKERS.flatMap((b) => (results.get(key(topo.name, qos, 'throughput', b)) ?? []).map((r) => r.othersCpuPct))))}%`,
      ]);
      sys.rows.push([
        topo.label,
        String(qos),
        ...BROKERS.map((b) => {
          const x = get(topo.name, qos, 'throughput', b);
          return `${fmt(x.wpd, 2)} / ${fmt(x.rpd, 2)}`;
        }),
      ]);
      const fl = get(topo.name, qos, 'rate', 'FerryMQ');
      lat.rows.push([
        topo.label,
        String(qos),
        `${fmtUs(fl.p50)} / ${fmtUs(fl.p99)}`,
        ...peers.flatMap((p) => {
          const x = get(topo.name, qos, 'rate', p);
          return [`${fmtUs(x.p50)} / ${fmtUs(x.p99)}`, ratio(fl.p50, x.p50), ratio(fl.p99, x.p99)];
        }),
      ]);
    }
  }
  for (const t of [tput, cpu, sys, lat]) console.log(renderText(t));

  // Memory per idle connection: one fresh broker at a time.
  const memTable = argv.has('--skip-memory') ? undefined : await memorySection();

  // Goals (issue): throughput ≥ 5× Aedes and ≥ 1.0× Mosquitto, in every throughput cell.
  const goalRows: string[][] = [];
  let missed = false;
  for (const [peer, target] of [
    ['Aedes', 5],
    ['Mosquitto', 1],
  ] as const) {
    if (!has(peer)) continue;
    const cells = TOPOLOGIES.flatMap((t) =>
      ([0, 1] as const).map((q) => ({
        name: `${t.label} QoS ${q}`,
        r: get(t.name, q, 'throughput', 'FerryMQ').rate / get(t.name, q, 'throughput', peer).rate,
      })),
    );
    const met = cells.filter((c) => c.r >= target);
    const worst = cells.reduce((a, c) => (c.r < a.r ? c : a));
    if (met.length < cells.length) missed = true;
    goalRows.push([
      `throughput ≥ ${target}× ${peer}`,
      `${met.length} of ${cells.length} cells; lowest ${worst.r.toFixed(2)}× (${worst.name}); ${cells.map((c) => `${c.name} ${c.r.toFixed(2)}×`).join(', ')}`,
      met.length === cells.length ? 'yes' : 'no',
    ]);
  }
  const goals: Table = {
    title: 'MQTT goals',
    columns: ['goal', 'measured (FerryMQ/peer)', 'met'],
    rows: goalRows,
  };
  console.log(renderText(goals));

  let prof: { table: Table; rate: number } | undefined;
  if (has('FerryMQ') && (missed || argv.has('--profile'))) {
    console.log('\nprofiling FerryMQ under fan-in QoS 0 throughput (node --cpu-prof) ...');
    prof = await profileFerrymq();
    if (prof) console.log(renderText(prof.table));
  }

  if (WRITE_DOC) {
    const body = [
      '## MQTT',
      '',
      'Generated by `npm run bench:mqtt` (`node bench/mqtt.bench.ts`); rerun it to refresh this section. FerryMQ, Mosquitto and Aedes are started by the bench, one process each on 127.0.0.1, and measured in the same run with the same load generator.',
      '',
      ...machineLines(m)
        .filter((l) => !l.startsWith('Disk'))
        .map((l) => `- ${l}`),
      `- FerryMQ ${versions.FerryMQ ?? '-'} (\`node bin/ferrymq.js start\`, dist/ from \`npm run build:ts\`, default config, listeners on 127.0.0.1:0)`,
      `- Mosquitto ${versions.Mosquitto ?? '-'} (Debian package, \`mosquitto -h\`; config: allow_anonymous, persistence false, connection_messages false, set_tcp_nodelay true, everything else default, e.g. max_inflight_messages 20, max_queued_messages 1000)`,
      `- Aedes ${versions.Aedes ?? '-'} (npm, default in-memory persistence and mqemitter, \`net.createServer(aedes.handle)\` in its own Node ${process.version} process: bench/lib/mqtt-aedes-server.ts)`,
      `- Load generator: worker_threads of the bench process (one for the publishers, one for the subscribers), MQTT 3.1.1 over raw TCP sockets, PUBLISH/PUBACK hand-encoded (bench/lib/mqtt-codec.ts, checked against mqtt-packet), CONNECT/SUBSCRIBE by mqtt-packet; TCP_NODELAY on every socket. Its own CPU use is in the CPU table.`,
      `- Each broker is started under \`bash -c 'ulimit -n <hard limit>; exec …'\` (hard limit here: ${hardNofile()}); ${fdNote}.`,
      `- Command: \`npm run build:ts && npm run bench:mqtt\` → \`node bench/mqtt.bench.ts\` (env BENCH_RUNS=${RUNS}, BENCH_RUN_MS=${RUN_MS}, BENCH_LAT_MS=${LAT_MS}, BENCH_RATE=${RATE}, BENCH_CONNS=${CONNS}, BENCH_CONNS2=${CONNS2})`,
      '',
      renderMarkdown(goals),
      renderMarkdown(tput),
      renderMarkdown(lat),
      renderMarkdown(cpu),
      renderMarkdown(sys),
      memTable ? renderMarkdown(memTable) : '',
      prof ? renderMarkdown(prof.table) : '',
    ].join('\n');
    writeDoc(body);
  }
}

try {
  await main();
} finally {
  if (PROBE) rmSync(PROBE_FILE, { force: true });
}
process.exit(0);
