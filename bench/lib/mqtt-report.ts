/**
 * The results of bench/mqtt.bench.ts's messaging cells and what is made of
 * them: per-cell aggregates, the printed tables, the goals, and the body of
 * the "MQTT" section of docs/benchmarks.md.
 */

import { type MachineInfo, machineLines } from './machine.ts';
import type { BrokerName } from './mqtt-brokers.ts';
import { hardNofile } from './mqtt-brokers.ts';
import { fmt, fmtUs, median, percentile, renderMarkdown, spreadPct, type Table } from './stats.ts';

export interface CellResult {
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

/** Key of a cell's results: topology, QoS, mode, broker. */
export const cellKey = (t: string, q: number, mode: string, b: string): string => `${t}|${q}|${mode}|${b}`;

export function aggregate(runs: CellResult[]) {
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

export const ratio = (a: number, b: number): string =>
  Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-';

/** What the tables are made from: the run's results and its settings. */
export interface ReportContext {
  results: ReadonlyMap<string, CellResult[]>;
  topologies: readonly { name: string; label: string }[];
  brokers: readonly BrokerName[];
  /** The modes and QoS levels that ran (BENCH_MODES, BENCH_QOS): only their cells have results. */
  modes: readonly ('throughput' | 'rate')[];
  qosLevels: readonly (0 | 1)[];
  runs: number;
  runMs: number;
  warmupMs: number;
  latMs: number;
  rate: number;
  windowScale: number;
}

function cellLookup(c: ReportContext) {
  const get = (t: string, q: number, mode: string, b: string) =>
    aggregate(c.results.get(cellKey(t, q, mode, b)) ?? []);
  const has = (b: BrokerName): boolean => c.brokers.includes(b);
  const peers = (['Mosquitto', 'Aedes'] as const).filter(has);
  return { get, has, peers };
}

/** Which modes ran: a table of a mode that did not is all '-' and is left out. */
export function modesRan(c: ReportContext): { throughput: boolean; rate: boolean } {
  return { throughput: c.modes.includes('throughput'), rate: c.modes.includes('rate') };
}

/** The throughput, CPU and losses, syscalls and latency tables. */
export function resultTables(c: ReportContext): { tput: Table; cpu: Table; sys: Table; lat: Table } {
  const { get, peers } = cellLookup(c);
  const tput: Table = {
    title: 'MQTT throughput (deliveries/s received by the subscribers, 64 B payload)',
    columns: ['scenario', 'QoS', 'FerryMQ', ...peers.flatMap((p) => [p, `FerryMQ/${p}`])],
    rows: [],
    notes: [
      `Median of ${c.runs} runs of ${c.runMs / 1000} s (after ${c.warmupMs / 1000} s warm-up); publishers stop at (fan-in 1,000; fan-out 5,000; p2p 2,500) × BENCH_WINDOW_SCALE (${c.windowScale}) deliveries in flight, at TCP backpressure, and (QoS 1) at 64 unacknowledged PUBLISHes per publisher.`,
    ],
  };
  const cpu: Table = {
    title: 'MQTT throughput runs: CPU and losses (medians; 100% = one core, the machine has 2)',
    columns: [
      'scenario',
      'QoS',
      ...c.brokers.flatMap((b) => [`${b} broker CPU`, `${b} generator CPU`, `${b} lost`]),
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
    columns: ['scenario', 'QoS', ...c.brokers],
    rows: [],
    notes: [
      'From /proc/<pid>/io (syscw, syscr) over the measured window, divided by the deliveries in it (median of the runs). A PUBLISH out costs one write per message unless the broker batches writes to a socket.',
    ],
  };
  const lat: Table = {
    title: `MQTT end-to-end latency at ${fmt(c.rate)} deliveries/s (µs, p50 / p99)`,
    columns: [
      'scenario',
      'QoS',
      'FerryMQ',
      ...peers.flatMap((p) => [p, `FerryMQ/${p} p50`, `FerryMQ/${p} p99`]),
    ],
    rows: [],
    notes: [
      `Publish rate ${fmt(c.rate)}/fanout messages/s in total, one socket write per message; latency = receive time − send time in the payload, pooled over ${c.runs} runs of ${c.latMs / 1000} s. Lower is better: a ratio < 1 means FerryMQ is faster.`,
    ],
  };
  for (const topo of c.topologies) {
    for (const qos of c.qosLevels) {
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
        ...c.brokers.flatMap((b) => {
          const x = get(topo.name, qos, 'throughput', b);
          return [`${fmt(x.broker)}%`, `${fmt(x.gen)}%`, `${fmt(x.lost, 2)}%`];
        }),
        `${fmt(median(c.brokers.flatMap((b) => (c.results.get(cellKey(topo.name, qos, 'throughput', b)) ?? []).map((r) => r.othersCpuPct))))}%`,
      ]);
      sys.rows.push([
        topo.label,
        String(qos),
        ...c.brokers.map((b) => {
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
  return { tput, cpu, sys, lat };
}

/**
 * The goals table; `missed` when a throughput goal is not met in every
 * throughput cell that ran. Without throughput cells (BENCH_MODES=rate)
 * nothing is judged: a cell that did not run has no rate, and NaN is not a
 * miss.
 */
export function goalsTable(c: ReportContext): { goals: Table; missed: boolean } {
  const { get, has } = cellLookup(c);
  // Goals (issue): throughput ≥ 5× Aedes and ≥ 1.0× Mosquitto, in every throughput cell.
  const goalRows: string[][] = [];
  let missed = false;
  const judged = c.modes.includes('throughput') && c.topologies.length > 0 && c.qosLevels.length > 0;
  for (const [peer, target] of [
    ['Aedes', 5],
    ['Mosquitto', 1],
  ] as const) {
    if (!judged || !has(peer)) continue;
    const cells = c.topologies.flatMap((t) =>
      c.qosLevels.map((q) => ({
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
    ...(judged ? {} : { notes: [`not judged: no throughput cell ran (BENCH_MODES=${c.modes.join(',')})`] }),
  };
  return { goals, missed };
}

/** The rest of what the doc section says: the machine, the brokers, the settings, the other tables. */
export interface DocContext {
  machine: MachineInfo;
  versions: Record<BrokerName, string>;
  fdNote: string;
  conns: number;
  conns2: number;
  tables: { goals: Table; tput: Table; lat: Table; cpu: Table; sys: Table };
  memTable: Table | undefined;
  prof: { table: Table } | undefined;
}

/** The body of docs/benchmarks.md's "MQTT" section. */
export function docBody(c: ReportContext, d: DocContext): string {
  const { goals, tput, lat, cpu, sys } = d.tables;
  const { memTable, prof, versions, fdNote } = d;
  const ran = modesRan(c);
  return [
    '## MQTT',
    '',
    'Generated by `npm run bench:mqtt` (`node bench/mqtt.bench.ts`); rerun it to refresh this section. FerryMQ, Mosquitto and Aedes are started by the bench, one process each on 127.0.0.1, and measured in the same run with the same load generator.',
    '',
    ...machineLines(d.machine)
      .filter((l) => !l.startsWith('Disk'))
      .map((l) => `- ${l}`),
    `- FerryMQ ${versions.FerryMQ ?? '-'} (\`node bin/ferrymq.js start\`, dist/ from \`npm run build:ts\`, default config, listeners on 127.0.0.1:0)`,
    `- Mosquitto ${versions.Mosquitto ?? '-'} (Debian package, \`mosquitto -h\`; config: allow_anonymous, persistence false, connection_messages false, set_tcp_nodelay true, everything else default, e.g. max_inflight_messages 20, max_queued_messages 1000)`,
    `- Aedes ${versions.Aedes ?? '-'} (npm, default in-memory persistence and mqemitter, \`net.createServer(aedes.handle)\` in its own Node ${process.version} process: bench/lib/mqtt-aedes-server.ts)`,
    `- Load generator: worker_threads of the bench process (one for the publishers, one for the subscribers), MQTT 3.1.1 over raw TCP sockets, PUBLISH/PUBACK hand-encoded (bench/lib/mqtt-codec.ts, checked against mqtt-packet), CONNECT/SUBSCRIBE by mqtt-packet; TCP_NODELAY on every socket. Its own CPU use is in the CPU table.`,
    `- Each broker is started under \`bash -c 'ulimit -n <hard limit>; exec …'\` (hard limit here: ${hardNofile()}); ${fdNote}.`,
    `- Command: \`npm run build:ts && npm run bench:mqtt\` → \`node bench/mqtt.bench.ts\` (env BENCH_RUNS=${c.runs}, BENCH_RUN_MS=${c.runMs}, BENCH_LAT_MS=${c.latMs}, BENCH_RATE=${c.rate}, BENCH_CONNS=${d.conns}, BENCH_CONNS2=${d.conns2})`,
    '',
    renderMarkdown(goals),
    ran.throughput ? renderMarkdown(tput) : '',
    ran.rate ? renderMarkdown(lat) : '',
    ran.throughput ? renderMarkdown(cpu) : '',
    ran.throughput ? renderMarkdown(sys) : '',
    memTable ? renderMarkdown(memTable) : '',
    prof ? renderMarkdown(prof.table) : '',
  ].join('\n');
}
