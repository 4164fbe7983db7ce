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
 * When a throughput goal is missed in the throughput cells that ran (none
 * are judged with BENCH_MODES=rate), or with --profile, FerryMQ is run once
 * more under fan-in QoS 0 with `node --cpu-prof` and the top self-time
 * functions are printed (and written to the doc).
 *
 * Env: BENCH_RUNS (3), BENCH_RUN_MS (5000), BENCH_LAT_MS (3000),
 *      BENCH_RATE (5000), BENCH_CONNS (10000), BENCH_CONNS2 (the fd limit allows), BENCH_BROKERS (FerryMQ,Mosquitto,Aedes),
 *      BENCH_PROFILE_CELL (fan-in:0: topology:QoS of the --profile run),
 *      BENCH_FERRYMQ_NODE_ARGS (extra node flags for FerryMQ, lib/mqtt-brokers.ts),
 *      BENCH_PROBE=1 (FerryMQ only: per measured window, print the broker's
 *      event-loop delay, event-loop utilisation, CPU and GC pauses; see lib/mqtt-probe.ts).
 * No assertions: this prints figures.
 *
 * Parts: lib/mqtt-load-client.ts (spawning the load workers), lib/mqtt-probe.ts
 * (BENCH_PROBE), lib/mqtt-memory.ts (2.), lib/mqtt-report.ts (aggregates,
 * tables, goals and the doc section).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { topSelf } from './lib/cpu-profile.ts';
import { writeDocSection } from './lib/doc.ts';
import { machineInfo, machineLines } from './lib/machine.ts';
import { type BrokerName, hardNofile, type RunningBroker, startBroker } from './lib/mqtt-brokers.ts';
import { nowUs, selfTest } from './lib/mqtt-codec.ts';
import {
  C_DELIVERED,
  C_ERRORS,
  C_PHASE,
  C_PUBLISHED,
  C_STALLS,
  COUNTERS,
  PHASE_MEASURE,
  PHASE_STOP,
} from './lib/mqtt-counters.ts';
import { nextClientSeq, spawnLoad } from './lib/mqtt-load-client.ts';
import { type MemoryOptions, memorySection } from './lib/mqtt-memory.ts';
import { installProbe, probeSignal, removeProbeFile } from './lib/mqtt-probe.ts';
import {
  type CellResult,
  cellKey,
  docBody,
  goalsTable,
  modesRan,
  type ReportContext,
  resultTables,
} from './lib/mqtt-report.ts';
import { fmt, fmtUs, percentile, renderText, type Table } from './lib/stats.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
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

installProbe();
const memoryOptions: MemoryOptions = {
  repoRoot,
  brokers: BROKERS,
  conns: CONNS,
  conns2: CONNS2,
  runs: MEM_RUNS,
};

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

async function runCell(
  b: RunningBroker,
  topo: Topology,
  qos: 0 | 1,
  mode: 'throughput' | 'rate',
): Promise<CellResult> {
  const shared = new SharedArrayBuffer(COUNTERS * 4);
  const ctr = new Int32Array(shared);
  const idPrefix = `b${process.pid.toString(36)}-${nextClientSeq()}`;
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
    await memorySection(memoryOptions);
    return;
  }

  const brokers: RunningBroker[] = [];
  for (const name of BROKERS) brokers.push(await startBroker(name, repoRoot));
  const versions = Object.fromEntries(brokers.map((b) => [b.name, b.version])) as Record<BrokerName, string>;
  for (const b of brokers) console.log(`${b.name} ${b.version} on 127.0.0.1:${b.port} (pid ${b.pid})`);

  const results = new Map<string, CellResult[]>();
  try {
    for (const mode of MODES) {
      for (const topo of TOPOLOGIES) {
        for (const qos of QOS_LEVELS) {
          for (let run = 0; run < RUNS; run++) {
            const order = brokers.map((_, i) => brokers[(i + run) % brokers.length] as RunningBroker);
            for (const b of order) {
              const r = await runCell(b, topo, qos, mode);
              const k = cellKey(topo.name, qos, mode, b.name);
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

  const report: ReportContext = {
    results,
    topologies: TOPOLOGIES,
    brokers: BROKERS,
    runs: RUNS,
    runMs: RUN_MS,
    warmupMs: WARMUP_MS,
    latMs: LAT_MS,
    rate: RATE,
    windowScale: WINDOW_SCALE,
    modes: MODES,
    qosLevels: QOS_LEVELS,
  };
  const { tput, cpu, sys, lat } = resultTables(report);
  const ran = modesRan(report);
  for (const t of [...(ran.throughput ? [tput, cpu, sys] : []), ...(ran.rate ? [lat] : [])]) {
    console.log(renderText(t));
  }

  // Memory per idle connection: one fresh broker at a time.
  const memTable = argv.has('--skip-memory') ? undefined : await memorySection(memoryOptions);

  // Goals (issue): throughput ≥ 5× Aedes and ≥ 1.0× Mosquitto, in every throughput cell.
  const { goals, missed } = goalsTable(report);
  console.log(renderText(goals));

  let prof: { table: Table; rate: number } | undefined;
  if (BROKERS.includes('FerryMQ') && (missed || argv.has('--profile'))) {
    console.log('\nprofiling FerryMQ under fan-in QoS 0 throughput (node --cpu-prof) ...');
    prof = await profileFerrymq();
    if (prof) console.log(renderText(prof.table));
  }

  if (WRITE_DOC) {
    writeDoc(
      docBody(report, {
        machine: m,
        versions,
        fdNote,
        conns: CONNS,
        conns2: CONNS2,
        tables: { goals, tput, lat, cpu, sys },
        memTable,
        prof,
      }),
    );
  }
}

try {
  await main();
} finally {
  removeProbeFile();
}
process.exit(0);
