/**
 * What issue 7 asks of the comparison that bench:mqtt, bench:kafka,
 * bench:storage and bench:raft do not measure, FerryMQ beside its peers in
 * one run, driven by the shipped load generator (`ferrymq bench`, ts/loadgen):
 *
 *  1. Generator headroom: Mosquitto under fan-in QoS 0 (unthrottled) with 1
 *     and 2 generator threads; Mosquitto's CPU (one thread: 100% is its
 *     limit) beside the generator's, to show the generator is not what limits.
 *  2. MQTT shared-subscription throughput: 8 publishers on bench/sh/<i> →
 *     4 subscribers in $share/bench/bench/sh/+, QoS 0 and 1, unthrottled,
 *     deliveries/s (FerryMQ, Mosquitto, Aedes).
 *  3. Memory-topic publish-to-deliver latency: a Kafka topic on FerryMQ's
 *     memory engine (and on Apache Kafka 4, page cache) under `bench kafka
 *     produce` at a fixed rate (100 B, acks=1, linger 0) while `bench kafka
 *     consume --from latest` reads it; latency from the record's stamp.
 *  4. Memory per idle connection at 10k and 50k connections (MQTT 3.1.1,
 *     keepalive 60, spread over source addresses 127.0.0.1-4): RSS before and
 *     3 s after; a count the fd limit cannot hold is replaced by the largest
 *     one it can, and the report says so.
 *  5. Idle RSS, time to ready (spawn → accepting clients) and install size
 *     per broker.
 *
 * Run: node bench/extra.bench.ts [--quick] [--no-doc]  (npm run bench runs it via bench/all.ts)
 * Needs dist/ (npm run build:ts), mosquitto, aedes, the Kafka jars and a JDK (node scripts/peers.ts install).
 * Unless --no-doc (or --quick), writes the "Extra" section of docs/benchmarks.md.
 * Env: BENCH_EXTRA_MS (5000), BENCH_EXTRA_RATE (2000), BENCH_EXTRA_CONNS (10000,50000).
 * No assertions: this prints figures.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kafkaLibs } from '../scripts/peer-kafka.ts';
import { runKafkaBench } from '../ts/loadgen/kafka.ts';
import { runMqttBench } from '../ts/loadgen/mqtt.ts';
import { parseKafkaOptions, parseMqttOptions, type RawOptions } from '../ts/loadgen/options.ts';
import type { BenchReport } from '../ts/loadgen/report.ts';
import { writeDocSection } from './lib/doc.ts';
import { type RunningKafkaBroker, startApacheKafka, startFerrymqKafka } from './lib/kafka-brokers.ts';
import { machineInfo, machineLines } from './lib/machine.ts';
import {
  type BrokerName,
  hardNofile,
  mosquittoBin,
  type RunningBroker,
  startBroker,
} from './lib/mqtt-brokers.ts';
import { fmt, renderMarkdown, renderText, type Table } from './lib/stats.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const argv = new Set(process.argv.slice(2));
const QUICK = argv.has('--quick');
const WRITE_DOC = !argv.has('--no-doc') && !QUICK;
const RUN_MS = Number(process.env.BENCH_EXTRA_MS ?? (QUICK ? 1500 : 5000));
const RATE = Number(process.env.BENCH_EXTRA_RATE ?? 2000);
const CONNS = (process.env.BENCH_EXTRA_CONNS ?? (QUICK ? '2000' : '10000,50000')).split(',').map(Number);
const MQTT_BROKERS: BrokerName[] = ['FerryMQ', 'Mosquitto', 'Aedes'];
/** Shared-subscription runs: messages published and not yet delivered, at most (as bench:mqtt's fan-in window). */
const WINDOW = 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tables: Table[] = [];
const notes: string[] = [];

function show(t: Table): void {
  tables.push(t);
  console.log(renderText(t));
}

const ratio = (a: number, b: number): string =>
  Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-';
const lat = (r: BenchReport, k: 'p50' | 'p99' | 'p999'): string =>
  fmt(r.latencyUs.endToEnd?.[k] ?? Number.NaN);

async function mqtt(b: RunningBroker, scenario: string, raw: RawOptions): Promise<BenchReport> {
  return runMqttBench(
    parseMqttOptions(scenario, {
      host: `127.0.0.1:${b.port}`,
      duration: String(RUN_MS / 1000),
      warmup: '1',
      ...raw,
    }),
  );
}

// ------------------------------------------------------------------------------- 1. headroom
async function headroom(): Promise<void> {
  const b = await startBroker('Mosquitto', repoRoot);
  const rows: string[][] = [];
  try {
    for (const [label, raw] of [
      ['pub only, 20 publishers', { publishers: '20', topics: '20', topic: 'bench/hr/%i' }],
      [
        'fan-in 20→1',
        { publishers: '20', subscribers: '1', topics: '20', topic: 'bench/hr/%i', filter: 'bench/#' },
      ],
    ] as const) {
      for (const workers of ['1', '2']) {
        // CPU over the measured window only: from the first to the last tick of the measure phase.
        let first: { at: number; broker: number; gen: NodeJS.CpuUsage } | undefined;
        let last: { at: number; broker: number; gen: NodeJS.CpuUsage } | undefined;
        const r = await runMqttBench(
          parseMqttOptions(raw === undefined ? 'pub' : 'subscribers' in raw ? 'pubsub' : 'pub', {
            host: `127.0.0.1:${b.port}`,
            duration: String(RUN_MS / 1000),
            warmup: '1',
            workers,
            ...raw,
          }),
          {
            onTick: (t) => {
              if (t.phase !== 'measure') return;
              const now = { at: performance.now(), broker: b.cpuSeconds(), gen: process.cpuUsage() };
              first ??= now;
              last = now;
            },
          },
        );
        const secs = first && last ? (last.at - first.at) / 1000 : Number.NaN;
        const gen =
          first && last
            ? (last.gen.user + last.gen.system - first.gen.user - first.gen.system) / 1e6
            : Number.NaN;
        rows.push([
          label,
          workers,
          fmt(r.throughput.sentPerS),
          'subscribers' in raw ? fmt(r.throughput.receivedPerS) : '-',
          `${fmt((((last?.broker ?? 0) - (first?.broker ?? 0)) / secs) * 100)}%`,
          `${fmt((gen / secs) * 100)}%`,
        ]);
      }
    }
  } finally {
    await b.stop();
  }
  show({
    title: 'Generator headroom: Mosquitto under QoS 0, unthrottled (ferrymq bench, 64 B)',
    columns: [
      'load',
      'generator threads',
      'published/s',
      'delivered/s',
      'Mosquitto CPU',
      'generator CPU (all threads)',
    ],
    rows,
    notes: [
      'CPU over the measured window; 100% = one core of the 2. Mosquitto is single-threaded, so near 100% it is at its own limit while the generator still has room (its threads are not each at 100%).',
    ],
  });
}

// ------------------------------------------------------------------------------- 2. shared subscriptions
async function shared(): Promise<void> {
  const rows: string[][] = [];
  const got: Record<string, number[]> = {};
  for (const name of MQTT_BROKERS) {
    const b = await startBroker(name, repoRoot);
    try {
      for (const qos of ['0', '1']) {
        const r = await mqtt(b, 'pubsub', {
          publishers: '8',
          subscribers: '4',
          topics: '8',
          topic: 'bench/sh/%i',
          filter: 'bench/sh/+',
          shared: 'bench',
          qos,
          window: String(WINDOW),
        });
        const lost = r.totals.sent > 0 ? Math.max(0, r.totals.sent - r.totals.received) / r.totals.sent : 0;
        got[name] = [...(got[name] ?? []), r.throughput.receivedPerS];
        rows.push([
          name,
          `QoS ${qos}`,
          fmt(r.throughput.sentPerS),
          fmt(r.throughput.receivedPerS),
          `${fmt(lost * 100, 1)}%`,
          fmt(r.errors),
        ]);
      }
    } finally {
      await b.stop();
    }
  }
  for (const row of rows) {
    const qi = row[1] === 'QoS 0' ? 0 : 1;
    const f = got.FerryMQ?.[qi] ?? Number.NaN;
    const mine = got[row[0] as string]?.[qi] ?? Number.NaN;
    row.push(row[0] === 'FerryMQ' ? '' : mine > 0 ? ratio(f, mine) : 'no deliveries');
  }
  show({
    title: `MQTT shared subscription: 8 publishers → $share/bench/bench/sh/+ × 4 subscribers, as fast as delivered (window ${fmt(WINDOW)})`,
    columns: ['broker', 'QoS', 'published/s', 'delivered/s', 'not delivered', 'errors', 'FerryMQ / broker'],
    rows,
    notes: [
      `Each message goes to one member of the group. Publishers send while fewer than ${fmt(WINDOW)} messages are published and not yet delivered (\`ferrymq bench mqtt pubsub --window\`; a window with no delivery for 250 ms writes the missing ones off), and a QoS 1 publisher has at most 64 unacknowledged. "Not delivered": published but not received 0.5 s after the stop. A broker without shared subscriptions treats $share/... as an ordinary filter that matches nothing: no deliveries.`,
    ],
  });
}

// ------------------------------------------------------------------------------- 3. memory-topic latency
async function memoryTopicLatency(): Promise<void> {
  const rows: string[][] = [];
  const runs: [string, () => Promise<RunningKafkaBroker>][] = [
    ['FerryMQ (memory engine)', () => startFerrymqKafka(repoRoot, { engine: 'memory', durability: 'none' })],
    ['Apache Kafka', () => startApacheKafka()],
  ];
  for (const [label, startIt] of runs) {
    const b = await startIt();
    try {
      const common = { bootstrap: b.bootstrap, topic: 'bench-latency', workers: '1' };
      // Create the topic and warm the path before listening from the log end.
      await runKafkaBench(
        parseKafkaOptions('produce', { ...common, partitions: '1', duration: '1', rate: String(RATE) }),
      );
      const consumer = runKafkaBench(
        parseKafkaOptions('consume', {
          ...common,
          from: 'latest',
          duration: String(RUN_MS / 1000 + 5),
          fetchMaxWait: '500',
        }),
      );
      await sleep(1500);
      const p = await runKafkaBench(
        parseKafkaOptions('produce', {
          ...common,
          duration: String(RUN_MS / 1000),
          rate: String(RATE),
          linger: '0',
          acks: '1',
        }),
      );
      const c = await consumer;
      rows.push([
        label,
        fmt(p.throughput.ackedPerS),
        fmt(c.totals.received),
        lat(c, 'p50'),
        lat(c, 'p99'),
        lat(c, 'p999'),
        fmt(p.latencyUs.ack?.p50 ?? Number.NaN),
        fmt(p.latencyUs.ack?.p99 ?? Number.NaN),
        fmt(p.errors + c.errors),
      ]);
    } finally {
      await b.stop();
    }
  }
  show({
    title: `Memory-topic publish-to-deliver latency: Kafka protocol, ${fmt(RATE)} records/s of 100 B, acks=1, linger 0 (µs)`,
    columns: [
      'broker',
      'produced/s',
      'consumed',
      'p50',
      'p99',
      'p99.9',
      'produce ack p50',
      'produce ack p99',
      'errors',
    ],
    rows,
    notes: [
      'End to end: the producer stamps each record with the monotonic clock, the consumer (long-poll fetch, max wait 500 ms, from the log end) reads the stamp. One partition. Apache Kafka has no memory engine: its figure is the page-cache path with its defaults.',
    ],
  });
}

// ------------------------------------------------------------------------------- 4. idle connections
async function idleConnections(): Promise<void> {
  const hard = hardNofile();
  const rows: string[][] = [];
  const counts: number[] = [];
  for (const n of CONNS) {
    if (n + 1000 <= hard) counts.push(n);
    else {
      const fit = Math.floor((hard - 1000) / 1000) * 1000;
      notes.push(
        `${fmt(n)} idle connections need ${fmt(n)} descriptors in the broker (and in the generator); the hard RLIMIT_NOFILE here is ${fmt(hard)} and cannot be raised in this sandbox (no CAP_SYS_RESOURCE), so ${fmt(fit)} was measured instead.`,
      );
      if (fit > 0 && !counts.includes(fit)) counts.push(fit);
    }
  }
  /** RSS after / connections held, per broker and count, for the marginal column. */
  const seen = new Map<string, { after: number; held: number }>();
  for (const n of counts) {
    for (const name of MQTT_BROKERS) {
      const b = await startBroker(name, repoRoot);
      try {
        await sleep(1500);
        const before = b.rssKiB();
        let after = Number.NaN;
        let held = 0;
        let stop: () => void = () => {};
        const stopSignal = new Promise<void>((r) => {
          stop = r;
        });
        let stableSince = 0;
        let last = -1;
        const r = await runMqttBench(
          parseMqttOptions('conn', {
            host: `127.0.0.1:${b.port}`,
            connections: String(n),
            duration: '300',
            localAddress: '127.0.0.1-4',
            workers: '2',
          }),
          {
            stopSignal,
            onTick: (t) => {
              const done = t.totals.connected + t.totals.errors;
              if (done !== last) {
                last = done;
                stableSince = t.elapsedS;
              }
              if (done >= n && t.elapsedS - stableSince >= 3 && Number.isNaN(after)) {
                after = b.rssKiB();
                held = t.totals.connected;
                stop();
              } else if (t.elapsedS - stableSince >= 20) {
                // Stuck below n (refused or timed out): measure what is held.
                after = b.rssKiB();
                held = t.totals.connected;
                stop();
              }
            },
          },
        );
        const connect = r.latencyUs.connect;
        // Marginal: from the previous count's broker to this one (both fresh), one-time costs cancel out.
        const prev = seen.get(name);
        seen.set(name, { after, held });
        const marginal = prev && held > prev.held ? fmt((after - prev.after) / (held - prev.held), 2) : '-';
        rows.push([
          fmt(n),
          name,
          fmt(held),
          fmt(r.errors),
          fmt(before / 1024, 1),
          fmt(after / 1024, 1),
          held > 0 ? fmt(((after - before) * 1024) / held / 1024, 2) : '-',
          marginal,
          fmt(connect?.p99 ?? Number.NaN),
        ]);
      } finally {
        await b.stop();
      }
    }
  }
  show({
    title: 'Memory per idle MQTT connection (3.1.1, clean session, keepalive 60)',
    columns: [
      'connections',
      'broker',
      'held',
      'errors',
      'RSS before (MiB)',
      'RSS after (MiB)',
      'KiB / connection',
      'marginal KiB / connection',
      'CONNACK p99 (µs)',
    ],
    rows,
    notes: [
      'RSS of the broker process 1.5 s after start, and 3 s after the last connection was accepted; connections from 127.0.0.1-4 (one ephemeral-port range per source address). A fresh broker per row.',
      "marginal: (RSS after at this count − RSS after at the previous count) / (difference in connections held), from the two fresh brokers of the same kind: the one-time costs both paid (e.g. a Node broker's young-generation growth) cancel out. bench/mqtt.bench.ts measures the same on one broker.",
    ],
  });
}

// ------------------------------------------------------------------------------- 5. footprint
function du(paths: string[]): number {
  let total = 0;
  const walk = (p: string): void => {
    const s = statSync(p, { throwIfNoEntry: false });
    if (!s) return;
    if (s.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else total += s.size;
  };
  for (const p of paths) walk(p);
  return total;
}

/** The directory of package `name` as Node resolves it from `from` (node_modules up the tree). */
function packageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = join(dir, '..')) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === '/' || dir === join(dir, '..')) return undefined;
  }
}

/** A package's directory and those of its dependencies, transitively (optional ones when installed). */
function packageTree(dir: string, seen = new Set<string>()): Set<string> {
  if (seen.has(dir)) return seen;
  seen.add(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    const d = packageDir(dep, dir);
    if (d) packageTree(d, seen);
  }
  return seen;
}

/** Bytes of the packages' own files (nested node_modules are counted as their own packages). */
function treeBytes(dirs: Set<string>): number {
  let total = 0;
  const walk = (p: string, top: boolean): void => {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      if (!top && p.endsWith('/node_modules')) return;
      for (const e of readdirSync(p)) walk(join(p, e), false);
    } else total += st.size;
  };
  for (const d of dirs) walk(d, true);
  return total;
}

function installSizes(): Record<string, string> {
  const mib = (b: number): string => `${fmt(b / 1024 / 1024, 1)} MiB`;
  const out: Record<string, string> = {};
  try {
    const pack = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as { size: number; unpackedSize: number }[];
    const addon = readdirSync(join(repoRoot, 'crates', 'ferry-napi')).find((f) => f.endsWith('.node'));
    // Measured as shipped: scripts/build-npm.ts strips debug info from the addon it packs.
    let addonBytes = 0;
    if (addon) {
      const stripped = join(tmpdir(), `ferrymq-bench-addon-${process.pid}.node`);
      execFileSync('strip', ['--strip-debug', '-o', stripped, join(repoRoot, 'crates', 'ferry-napi', addon)]);
      addonBytes = statSync(stripped).size;
      rmSync(stripped, { force: true });
    }
    const own = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const depDirs = new Set<string>();
    for (const dep of Object.keys(own.dependencies)) {
      const d = packageDir(dep, repoRoot);
      if (d) packageTree(d, depDirs);
    }
    const deps = treeBytes(depDirs);
    out.FerryMQ = `${mib((pack[0]?.unpackedSize ?? 0) + addonBytes + deps)} (package ${mib(pack[0]?.unpackedSize ?? 0)}, tarball ${mib(pack[0]?.size ?? 0)}; native addon ${mib(addonBytes)} (debug info stripped, as packed); npm dependencies ${mib(deps)}; needs Node ≥ 22.12)`;
  } catch (e) {
    out.FerryMQ = `- (${(e as Error).message.split('\n')[0]})`;
  }
  try {
    const kib = Number(
      execFileSync('dpkg-query', ['-W', `-f=${'$'}{Installed-Size}`, 'mosquitto'], {
        encoding: 'utf8',
      }).trim(),
    );
    out.Mosquitto = `${mib(kib * 1024)} (Debian package mosquitto, Installed-Size; shared libraries it links not counted)`;
  } catch {
    out.Mosquitto = existsSync(mosquittoBin()) ? `${mib(statSync(mosquittoBin()).size)} (binary only)` : '-';
  }
  const aedes = packageDir('aedes', repoRoot);
  out.Aedes = aedes
    ? `${mib(treeBytes(packageTree(aedes)))} (aedes and its npm dependencies; needs Node)`
    : '-';
  try {
    out.Kafka = `${mib(du([kafkaLibs()]))} (broker, tools and dependency jars from Maven Central; needs a JRE 17+, not counted)`;
  } catch {
    out.Kafka = '-';
  }
  return out;
}

async function footprint(): Promise<void> {
  const sizes = installSizes();
  const rows: string[][] = [];
  const measure = async (
    name: string,
    startIt: () => Promise<{ rssKiB(): number; stop(): Promise<void> }>,
  ): Promise<void> => {
    const t0 = performance.now();
    const b = await startIt();
    const readyMs = performance.now() - t0;
    await sleep(2000);
    const rss = b.rssKiB();
    await b.stop();
    rows.push([name, fmt(readyMs), fmt(rss / 1024, 1), sizes[name] ?? '-']);
  };
  for (const name of MQTT_BROKERS) await measure(name, () => startBroker(name, repoRoot));
  await measure('Kafka', () => startApacheKafka());
  show({
    title: 'Footprint: time to ready, idle RSS, install size',
    columns: ['broker', 'time to ready (ms)', 'idle RSS (MiB)', 'install size'],
    rows,
    notes: [
      'Time to ready: spawn → FerryMQ\'s "ferrymq ready" log line (every listener bound, storage open) / Mosquitto\'s port accepting / Aedes\' listening line / Kafka\'s "Kafka Server started". Idle RSS 2 s later, no client.',
      "FerryMQ here runs every listener (MQTT, MQTT over TLS/WS/WSS, Kafka, admin, cluster); Kafka as one KRaft node with a 1 GiB heap (its start script's default).",
    ],
  });
}

function writeDoc(body: string): void {
  writeDocSection(repoRoot, 'extra', body);
}

const SECTIONS: Record<string, () => Promise<void>> = {
  headroom,
  shared,
  latency: memoryTopicLatency,
  connections: idleConnections,
  footprint,
};

async function main(): Promise<void> {
  const m = machineInfo(tmpdir(), repoRoot);
  for (const l of machineLines(m)) console.log(l);
  const only = process.env.BENCH_EXTRA_ONLY?.split(',');
  for (const [name, run] of Object.entries(SECTIONS)) {
    if (only && !only.includes(name)) continue;
    console.log(`\n# ${name}`);
    try {
      await run();
    } catch (e) {
      const msg = `${name}: failed: ${(e as Error).message.split('\n')[0]}`;
      console.log(msg);
      notes.push(msg);
    }
  }
  for (const n of notes) console.log(`note: ${n}`);
  if (WRITE_DOC && !only) {
    writeDoc(
      [
        '## Extra: shared subscriptions, memory-topic latency, idle connections, footprint',
        '',
        'Generated by `node bench/extra.bench.ts` (part of `npm run bench`); load from `ferrymq bench` (ts/loadgen, worker threads, raw sockets), brokers started by bench/lib (FerryMQ from dist/, Debian Mosquitto, Aedes from npm, Apache Kafka 4 from Maven Central jars).',
        '',
        ...machineLines(m)
          .filter((l) => !l.startsWith('Disk'))
          .map((l) => `- ${l}`),
        `- Env: BENCH_EXTRA_MS=${RUN_MS}, BENCH_EXTRA_RATE=${RATE}, BENCH_EXTRA_CONNS=${CONNS.join(',')}`,
        ...notes.map((n) => `- ${n}`),
        '',
        ...tables.map((t) => renderMarkdown(t)),
      ].join('\n'),
    );
  }
}

await main();
process.exit(0);
