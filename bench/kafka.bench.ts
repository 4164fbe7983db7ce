/**
 * Kafka-protocol benchmark: FerryMQ beside Apache Kafka 4 (KRaft, one node),
 * in one run, on the same machine, measured by Apache Kafka's own perf tools.
 *
 * Run: npm run bench:kafka   (node bench/kafka.bench.ts [--quick] [--no-doc] [--profile])
 * Needs dist/ (npm run build:ts), a JDK 17+ (java, and its source launcher
 * for the assign-mode consumer) and the jars of scripts/kafka-jars.sh
 * (downloaded from Maven Central on first use).
 *
 * Both brokers are started by the bench on free 127.0.0.1 ports and stopped
 * at the end (lib/kafka-brokers.ts, scripts/peer-kafka.ts). Durability is
 * comparable: Kafka's default (no fsync per write, page cache), and FerryMQ
 * with the segment engine under BENCH_FERRYMQ_DURABILITY (default `none`:
 * no fsync; `interval` fsyncs every storage.durability_interval_ms).
 *
 * Per run, for 100 B and 1 KB records, acks=1 and acks=all, the brokers take
 * turns (the order rotates each run) and each gets a fresh one-partition
 * topic (auto-created by the first Metadata request):
 *  - produce: org.apache.kafka.tools.ProducerPerformance, unthrottled
 *    (--throughput -1), a fixed record count with the first fifth as
 *    --warmup-records (the steady-state summary is used), producer defaults
 *    otherwise (linger.ms 5, batch.size 16384, no compression);
 *    enable.idempotence=false on both unless FerryMQ serves InitProducerId
 *    (the Java producer turns idempotence on for acks=all and refuses
 *    brokers without it).
 *  - consume (after the acks=1 produce, the same topic from offset 0):
 *    org.apache.kafka.tools.ConsumerPerformance when FerryMQ serves the
 *    consumer group APIs, else bench/lib/AssignConsumerPerf.java (the Java
 *    consumer in assign mode) — for both brokers, so both get the same client.
 * Medians of the runs are reported with FerryMQ / Kafka ratios. When FerryMQ
 * is below Kafka (or with --profile), one more FerryMQ produce run
 * (100 B, acks=1) is made under `node --cpu-prof` and its top self-time
 * functions are printed. Unless --no-doc (or --quick), the tables go to the
 * "Kafka" section of docs/benchmarks.md (between its markers).
 *
 * Env: BENCH_RUNS (3), BENCH_RECORDS_100 (2,000,000), BENCH_RECORDS_1K (500,000),
 *      BENCH_FERRYMQ_ENGINE (segment), BENCH_FERRYMQ_DURABILITY (none),
 *      BENCH_CONSUMER (auto | ConsumerPerformance | AssignConsumerPerf),
 *      BENCH_CELLS (every cell; else a comma list of <bytes>:<acks>, e.g.
 *      `100:1,100:all`, to measure only those), BENCH_CONSUME (1; 0 skips
 *      the consume runs, for a quick produce-only A/B).
 * No assertions: this prints figures.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kafkaLibs, kafkaVersion } from '../scripts/peer-kafka.ts';
import { topSelf } from './lib/cpu-profile.ts';
import { writeDocSection } from './lib/doc.ts';
import {
  advertisedApis,
  type FerrymqKafkaOptions,
  type KafkaBrokerName,
  machineBusySeconds,
  type RunningKafkaBroker,
  startApacheKafka,
  startFerrymqKafka,
} from './lib/kafka-brokers.ts';
import {
  type ConsumerResult,
  type ConsumerTool,
  type ProduceRun,
  type ProducerResult,
  producerArgs,
  runConsumer,
  runProducerPerformance,
} from './lib/kafka-perf-tools.ts';
import { machineInfo, machineLines } from './lib/machine.ts';
import { nowUs } from './lib/mqtt-codec.ts';
import { fmt, median, renderMarkdown, renderText, spreadPct, type Table } from './lib/stats.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const argv = new Set(process.argv.slice(2));
const QUICK = argv.has('--quick');
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 1 : 3));
const SIZES = [
  {
    label: '100 B',
    bytes: 100,
    records: Number(process.env.BENCH_RECORDS_100 ?? (QUICK ? 300_000 : 2_000_000)),
  },
  {
    label: '1 KB',
    bytes: 1024,
    records: Number(process.env.BENCH_RECORDS_1K ?? (QUICK ? 100_000 : 500_000)),
  },
];
const ACKS = ['1', 'all'] as const;
const FERRY: FerrymqKafkaOptions = {
  engine: (process.env.BENCH_FERRYMQ_ENGINE ?? 'segment') as FerrymqKafkaOptions['engine'],
  durability: (process.env.BENCH_FERRYMQ_DURABILITY ?? 'none') as FerrymqKafkaOptions['durability'],
};
const CONSUMER_CHOICE = process.env.BENCH_CONSUMER ?? 'auto';
const BROKERS: KafkaBrokerName[] = ['FerryMQ', 'Kafka'];

// Kafka API keys: InitProducerId, and what ConsumerPerformance's group consumer needs.
const INIT_PRODUCER_ID = 22;
const GROUP_APIS = {
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  OffsetFetch: 9,
  OffsetCommit: 8,
};

interface Cell {
  size: (typeof SIZES)[number];
  acks: (typeof ACKS)[number];
}
const CELL_FILTER = process.env.BENCH_CELLS?.split(',').map((c) => c.trim());
const CELLS: Cell[] = SIZES.flatMap((size) => ACKS.map((acks) => ({ size, acks }))).filter(
  (c) => !CELL_FILTER || CELL_FILTER.includes(`${c.size.bytes}:${c.acks}`),
);
if (CELLS.length === 0)
  throw new Error(`BENCH_CELLS=${process.env.BENCH_CELLS} names no cell (100|1024 : 1|all)`);
const CONSUME = process.env.BENCH_CONSUME !== '0';
// A partial run never rewrites the doc's tables.
const WRITE_DOC = !argv.has('--no-doc') && !QUICK && !CELL_FILTER && CONSUME;

interface ProduceSample extends ProducerResult {
  brokerCpuPct: number;
  toolCpuPct: number;
  /** Every other process on the machine (the idle other broker included). */
  othersCpuPct: number;
}

const ratio = (a: number, b: number): string =>
  Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-';
const fmtMs = (x: number): string => (Number.isFinite(x) ? fmt(x, x < 10 ? 1 : 0) : '-');
const cellKey = (c: Cell, b: KafkaBrokerName): string => `${c.size.bytes}|${c.acks}|${b}`;
let topicSeq = 0;
const newTopic = (c: Cell): string =>
  `bench-${c.size.bytes}-acks${c.acks}-${process.pid.toString(36)}-${++topicSeq}`;

async function produce(
  b: RunningKafkaBroker,
  libs: string,
  c: Cell,
  topic: string,
  props: Record<string, string>,
): Promise<ProduceSample> {
  const c0 = b.cpuSeconds();
  const m0 = machineBusySeconds();
  const t0 = performance.now();
  const r = await runProducerPerformance(produceRun(libs, b.bootstrap, c, topic, props));
  const secs = (performance.now() - t0) / 1000;
  const broker = b.cpuSeconds() - c0;
  const machine = machineBusySeconds() - m0;
  return {
    ...r,
    brokerCpuPct: (broker / secs) * 100,
    toolCpuPct: (r.toolCpuSeconds / secs) * 100,
    othersCpuPct: ((machine - broker - r.toolCpuSeconds) / secs) * 100,
  };
}

function produceRun(
  libs: string,
  bootstrap: string,
  c: Cell,
  topic: string,
  props: Record<string, string>,
): ProduceRun {
  return {
    libs,
    bootstrap,
    topic,
    records: c.size.records,
    warmupRecords: Math.floor(c.size.records / 5),
    recordSize: c.size.bytes,
    acks: c.acks,
    props,
  };
}

async function profileFerrymq(
  libs: string,
  props: Record<string, string>,
): Promise<{ table: Table; rate: number } | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-kprof-'));
  const cell = CELLS[0] as Cell;
  try {
    const b = await startFerrymqKafka(repoRoot, { ...FERRY, cpuProfDir: dir });
    let r: ProduceSample;
    let window: [number, number];
    try {
      const u0 = nowUs();
      r = await produce(b, libs, cell, newTopic(cell), props);
      window = [u0, nowUs()];
    } finally {
      await b.stop();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      console.log('no .cpuprofile was written');
      return undefined;
    }
    const keep = join(
      repoRoot,
      'node_modules',
      '.cache',
      'ferrymq-bench',
      'kafka-produce-100b-acks1.cpuprofile',
    );
    execFileSync('mkdir', ['-p', dirname(keep)]);
    writeFileSync(keep, readFileSync(join(dir, file)));
    const top = topSelf(join(dir, file), 15, window, repoRoot);
    return {
      rate: r.recordsPerS,
      table: {
        title: `FerryMQ CPU profile: ProducerPerformance, ${cell.size.label}, acks=${cell.acks} (node --cpu-prof, top self time)`,
        columns: ['function (file:line)', 'self ms', '% of busy'],
        rows: top.rows,
        notes: [
          `${fmt(r.recordsPerS)} records/s (steady state) while profiled; ${fmt(top.totalMs)} ms of samples over the whole ProducerPerformance run (JVM start-up included), ${fmt(top.idlePct, 0)}% idle; "% of busy" excludes (idle).`,
          'Profile kept in node_modules/.cache/ferrymq-bench/kafka-produce-100b-acks1.cpuprofile (open in Chrome DevTools).',
        ],
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeDoc(body: string): void {
  writeDocSection(repoRoot, 'kafka', body);
}

async function main(): Promise<void> {
  const libs = kafkaLibs();
  const m = machineInfo(tmpdir(), repoRoot);
  // java -version prints to stderr.
  const javaVersion =
    spawnSync('java', ['-version'], { encoding: 'utf8' }).stderr?.split('\n')[0]?.trim() || '?';
  console.log(
    `kafka bench: ${RUNS} run(s) per cell; ${SIZES.map((s) => `${fmt(s.records)} × ${s.label}`).join(', ')}; acks ${ACKS.join(', ')}${QUICK ? ' (quick)' : ''}`,
  );
  for (const l of machineLines(m)) console.log(l);
  console.log(`Java: ${javaVersion}; Kafka jars ${kafkaVersion(libs)} in ${libs}`);

  const brokers: RunningKafkaBroker[] = [];
  const sigint = (): void => process.exit(130);
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigint);
  // Time to ready and idle RSS (2 s after ready), then RSS after all runs.
  const life = new Map<KafkaBrokerName, { readyMs: number; idleKiB: number; endKiB: number }>();
  for (const start of [() => startFerrymqKafka(repoRoot, FERRY), startApacheKafka]) {
    const t0 = performance.now();
    const b = await start();
    brokers.push(b);
    life.set(b.name, { readyMs: performance.now() - t0, idleKiB: Number.NaN, endKiB: Number.NaN });
  }
  await new Promise((r) => setTimeout(r, 2000));
  for (const b of brokers) (life.get(b.name) as { idleKiB: number }).idleKiB = b.rssKiB();
  const versions = Object.fromEntries(brokers.map((b) => [b.name, b.version])) as Record<
    KafkaBrokerName,
    string
  >;
  for (const b of brokers) console.log(`${b.name} ${b.version} on ${b.bootstrap} (pid ${b.pid})`);
  console.log(`FerryMQ storage: engine ${FERRY.engine}, durability ${FERRY.durability}`);

  const ferryApis = await advertisedApis((brokers[0] as RunningKafkaBroker).bootstrap);
  const idempotent = ferryApis.has(INIT_PRODUCER_ID);
  const props: Record<string, string> = idempotent ? {} : { 'enable.idempotence': 'false' };
  const missingGroupApis = Object.entries(GROUP_APIS)
    .filter(([, key]) => !ferryApis.has(key))
    .map(([name]) => name);
  const consumerTool: ConsumerTool =
    CONSUMER_CHOICE === 'ConsumerPerformance' || CONSUMER_CHOICE === 'AssignConsumerPerf'
      ? CONSUMER_CHOICE
      : missingGroupApis.length === 0
        ? 'ConsumerPerformance'
        : 'AssignConsumerPerf';
  const notes: string[] = [
    idempotent
      ? 'Producer idempotence: client default (FerryMQ serves InitProducerId; the Java producer enables idempotence for acks=all).'
      : 'Producer idempotence: enable.idempotence=false on both brokers (FerryMQ does not serve InitProducerId yet, and the Java producer refuses acks=all with idempotence against it).',
    consumerTool === 'ConsumerPerformance'
      ? 'Consume: org.apache.kafka.tools.ConsumerPerformance (a consumer group per topic), fetch.nMsg.sec / fetch.MB.sec (group join time left out), on both brokers.'
      : `Consume: bench/lib/AssignConsumerPerf.java (the Java consumer in assign mode, configured like ConsumerPerformance's) on both brokers, because ${missingGroupApis.length ? `FerryMQ does not serve the consumer group APIs yet (missing: ${missingGroupApis.join(', ')}), which ConsumerPerformance needs` : 'BENCH_CONSUMER asked for it'}.`,
  ];
  for (const n of notes) console.log(n);

  const produced = new Map<string, ProduceSample[]>();
  const consumed = new Map<string, ConsumerResult[]>();
  const push = <T>(map: Map<string, T[]>, k: string, v: T): void => {
    map.set(k, [...(map.get(k) ?? []), v]);
  };
  const failures: string[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const order = brokers.map((_, i) => brokers[(i + run) % brokers.length] as RunningKafkaBroker);
      for (const c of CELLS) {
        for (const b of order) {
          const topic = newTopic(c);
          const tag = `${c.size.label} acks=${c.acks} run ${run + 1} ${b.name}`;
          try {
            const r = await produce(b, libs, c, topic, props);
            push(produced, cellKey(c, b.name), r);
            console.log(
              `  produce ${tag}: ${fmt(r.recordsPerS)} records/s, ${fmt(r.mbPerS, 2)} MB/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, broker CPU ${fmt(r.brokerCpuPct)}%, tool CPU ${fmt(r.toolCpuPct)}%, other processes ${fmt(r.othersCpuPct)}%`,
            );
          } catch (e) {
            failures.push(`produce ${tag}: ${(e as Error).message.split('\n')[0]}`);
            console.log(`  produce ${tag}: FAILED ${(e as Error).message}`);
            continue;
          }
          if (c.acks !== '1' || !CONSUME) continue;
          try {
            const r = await runConsumer({
              libs,
              bootstrap: b.bootstrap,
              topic,
              records: c.size.records,
              tool: consumerTool,
            });
            push(consumed, `${c.size.bytes}|${b.name}`, r);
            console.log(
              `  consume ${tag}: ${fmt(r.recordsPerS)} records/s, ${fmt(r.mbPerS, 2)} MB/s (${r.tool}${r.detail ? `; ${r.detail}` : ''})`,
            );
          } catch (e) {
            failures.push(`consume ${tag}: ${(e as Error).message.split('\n')[0]}`);
            console.log(`  consume ${tag}: FAILED ${(e as Error).message}`);
          }
        }
      }
    }
  } finally {
    for (const b of brokers) {
      const l = life.get(b.name);
      if (l) l.endKiB = b.rssKiB();
      await b.stop();
    }
  }

  const pm = (c: Cell, b: KafkaBrokerName, f: (r: ProduceSample) => number): number =>
    median((produced.get(cellKey(c, b)) ?? []).map(f));
  const ps = (c: Cell, b: KafkaBrokerName): number =>
    spreadPct((produced.get(cellKey(c, b)) ?? []).map((r) => r.recordsPerS));
  const tput: Table = {
    title: 'Kafka produce throughput (ProducerPerformance, steady state)',
    columns: [
      'record',
      'acks',
      'FerryMQ records/s',
      'Kafka records/s',
      'FerryMQ/Kafka',
      'FerryMQ MB/s',
      'Kafka MB/s',
      'FerryMQ spread %',
      'Kafka spread %',
    ],
    rows: CELLS.map((c) => [
      c.size.label,
      c.acks,
      fmt(pm(c, 'FerryMQ', (r) => r.recordsPerS)),
      fmt(pm(c, 'Kafka', (r) => r.recordsPerS)),
      ratio(
        pm(c, 'FerryMQ', (r) => r.recordsPerS),
        pm(c, 'Kafka', (r) => r.recordsPerS),
      ),
      fmt(
        pm(c, 'FerryMQ', (r) => r.mbPerS),
        1,
      ),
      fmt(
        pm(c, 'Kafka', (r) => r.mbPerS),
        1,
      ),
      fmt(ps(c, 'FerryMQ'), 0),
      fmt(ps(c, 'Kafka'), 0),
    ]),
    notes: [
      `Median of ${RUNS} run(s). ${SIZES.map((s) => `${s.label}: ${fmt(s.records)} records per run, the first ${fmt(Math.floor(s.records / 5))} as --warmup-records`).join('; ')}; one fresh 1-partition topic per run; MB = MiB as the tool prints it; spread = (max − min) / median of the runs.`,
    ],
  };
  const lat: Table = {
    title: 'Kafka produce latency (ProducerPerformance, ms, p50 / p99)',
    columns: ['record', 'acks', 'FerryMQ', 'Kafka', 'FerryMQ/Kafka p50', 'FerryMQ/Kafka p99'],
    rows: CELLS.map((c) => [
      c.size.label,
      c.acks,
      `${fmtMs(pm(c, 'FerryMQ', (r) => r.p50Ms))} / ${fmtMs(pm(c, 'FerryMQ', (r) => r.p99Ms))}`,
      `${fmtMs(pm(c, 'Kafka', (r) => r.p50Ms))} / ${fmtMs(pm(c, 'Kafka', (r) => r.p99Ms))}`,
      ratio(
        pm(c, 'FerryMQ', (r) => r.p50Ms),
        pm(c, 'Kafka', (r) => r.p50Ms),
      ),
      ratio(
        pm(c, 'FerryMQ', (r) => r.p99Ms),
        pm(c, 'Kafka', (r) => r.p99Ms),
      ),
    ]),
    notes: [
      'Median over the runs of each run’s percentile; the tool times send() to acknowledgement with whole milliseconds. Unthrottled, so this is mostly time queued in the producer’s 32 MiB buffer.memory: it tracks throughput, not the broker’s idle latency. Lower is better.',
    ],
  };
  const cm = (size: number, b: KafkaBrokerName, f: (r: ConsumerResult) => number): number =>
    median((consumed.get(`${size}|${b}`) ?? []).map(f));
  const cons: Table = {
    title: `Kafka consume throughput (${consumerTool})`,
    columns: [
      'record',
      'FerryMQ records/s',
      'Kafka records/s',
      'FerryMQ/Kafka',
      'FerryMQ MB/s',
      'Kafka MB/s',
    ],
    rows: SIZES.map((s) => [
      s.label,
      fmt(cm(s.bytes, 'FerryMQ', (r) => r.recordsPerS)),
      fmt(cm(s.bytes, 'Kafka', (r) => r.recordsPerS)),
      ratio(
        cm(s.bytes, 'FerryMQ', (r) => r.recordsPerS),
        cm(s.bytes, 'Kafka', (r) => r.recordsPerS),
      ),
      fmt(
        cm(s.bytes, 'FerryMQ', (r) => r.mbPerS),
        1,
      ),
      fmt(
        cm(s.bytes, 'Kafka', (r) => r.mbPerS),
        1,
      ),
    ]),
    notes: [
      `Median of ${RUNS} run(s): the acks=1 topic of the same run read from offset 0 (all ${SIZES.map((s) => `${fmt(s.records)} × ${s.label}`).join(', ')}), so mostly from the page cache.`,
      notes[1] as string,
    ],
  };
  const cpu: Table = {
    title: 'Kafka produce runs: CPU (median; 100% = one core, the machine has 2)',
    columns: [
      'record',
      'acks',
      'FerryMQ broker',
      'FerryMQ run: tool',
      'FerryMQ run: others',
      'Kafka broker',
      'Kafka run: tool',
      'Kafka run: others',
    ],
    rows: CELLS.map((c) => [
      c.size.label,
      c.acks,
      ...BROKERS.flatMap((b) => [
        `${fmt(pm(c, b, (r) => r.brokerCpuPct))}%`,
        `${fmt(pm(c, b, (r) => r.toolCpuPct))}%`,
        `${fmt(pm(c, b, (r) => r.othersCpuPct))}%`,
      ]),
    ]),
    notes: [
      'Over the whole ProducerPerformance run (the tool’s JVM start-up and warm-up records included). broker: the broker process, all threads (/proc/<pid>/stat); tool: ProducerPerformance’s JVM (bash `times`); others: the rest of the machine (/proc/stat busy time minus both), the idle other broker and other users of this shared machine included.',
    ],
  };
  const lifeTable: Table = {
    title: 'Kafka brokers: start-up and memory',
    columns: ['broker', 'time to ready (ms)', 'RSS idle (MiB)', 'RSS after the runs (MiB)'],
    rows: BROKERS.map((b) => {
      const l = life.get(b);
      return [
        b,
        fmt(l?.readyMs ?? Number.NaN),
        fmt((l?.idleKiB ?? Number.NaN) / 1024, 1),
        fmt((l?.endKiB ?? Number.NaN) / 1024, 1),
      ];
    }),
    notes: [
      'time to ready: from spawning to ready (FerryMQ: its JSON ready line; Kafka: `kafka-storage format` plus start until the log says "Kafka Server started"); RSS from /proc/<pid>/status, 2 s after ready and after the last run. Kafka runs with -Xms1G, as its start script sets.',
    ],
  };
  const worst = CELLS.map((c) => ({
    name: `${c.size.label} acks=${c.acks}`,
    r: pm(c, 'FerryMQ', (r) => r.recordsPerS) / pm(c, 'Kafka', (r) => r.recordsPerS),
  }));
  const met = worst.filter((w) => w.r >= 1);
  const lowest = worst.reduce((a, w) => (Number.isNaN(w.r) || w.r < a.r ? w : a));
  const goals: Table = {
    title: 'Kafka goals',
    columns: ['goal', 'measured (FerryMQ/Kafka)', 'met'],
    rows: [
      [
        'produce throughput ≥ 1× Apache Kafka (issue 6)',
        `${met.length} of ${worst.length} cells; lowest ${Number.isFinite(lowest.r) ? lowest.r.toFixed(2) : '-'}× (${lowest.name}); ${worst.map((w) => `${w.name} ${Number.isFinite(w.r) ? w.r.toFixed(2) : '-'}×`).join(', ')}`,
        met.length === worst.length ? 'yes' : 'no',
      ],
    ],
  };
  for (const t of [goals, tput, lat, cons, cpu, lifeTable]) console.log(renderText(t));
  if (failures.length) {
    console.log('\nfailures:');
    for (const f of failures) console.log(`  ${f}`);
  }

  let prof: { table: Table; rate: number } | undefined;
  if (met.length < worst.length || argv.has('--profile')) {
    console.log('\nprofiling FerryMQ under ProducerPerformance 100 B acks=1 (node --cpu-prof) ...');
    prof = await profileFerrymq(libs, props);
    if (prof) console.log(renderText(prof.table));
  }

  if (WRITE_DOC) {
    const example = producerArgs(
      produceRun('<kafka libs>', '<bootstrap>', CELLS[0] as Cell, '<topic>', props),
    );
    const body = [
      '## Kafka',
      '',
      'Generated by `npm run bench:kafka` (`node bench/kafka.bench.ts`); rerun it to refresh this section. FerryMQ and Apache Kafka are started by the bench, one process each on 127.0.0.1, and measured in the same run by Apache Kafka’s own perf tools.',
      '',
      ...machineLines(m)
        .filter((l) => !l.startsWith('Disk'))
        .map((l) => `- ${l}`),
      `- Disk: ${m.disk}`,
      `- Java: ${javaVersion} (the brokers’ and the tools’ JVM)`,
      `- FerryMQ ${versions.FerryMQ ?? '-'} (\`node bin/ferrymq.js start\`, dist/ from \`npm run build:ts\`, default config except storage.engine=${FERRY.engine}, storage.durability=${FERRY.durability}${FERRY.durability === 'interval' ? ' (fsync every storage.durability_interval_ms)' : ' (no fsync: the page cache, as Kafka’s default)'}; topics auto-created with 1 partition)`,
      `- Apache Kafka ${versions.Kafka ?? '-'} (Maven Central jars via scripts/kafka-jars.sh; scripts/peer-kafka.ts: KRaft, one combined broker+controller node, \`kafka.Kafka server.properties\` with kafka-server-start.sh’s JVM options -Xmx1G -Xms1G -XX:+UseG1GC -XX:MaxGCPauseMillis=20; Kafka’s defaults except replication factors 1, num.partitions=1 and group.initial.rebalance.delay.ms=0; durability: the default, no fsync per write)`,
      `- Produce: \`java -cp "<kafka libs>/*" org.apache.kafka.tools.ProducerPerformance ${example.join(' ')}\` (1 KB: --record-size 1024 --num-records ${SIZES[1]?.records} --warmup-records ${Math.floor((SIZES[1]?.records ?? 0) / 5)}; acks=all likewise)`,
      ...notes.map((n) => `- ${n}`),
      `- Command: \`npm run build:ts && npm run bench:kafka\` → \`node bench/kafka.bench.ts\` (env BENCH_RUNS=${RUNS}, BENCH_RECORDS_100=${SIZES[0]?.records}, BENCH_RECORDS_1K=${SIZES[1]?.records}, BENCH_FERRYMQ_ENGINE=${FERRY.engine}, BENCH_FERRYMQ_DURABILITY=${FERRY.durability})`,
      ...(failures.length
        ? ['', 'Failed runs (left out of the medians):', ...failures.map((f) => `- ${f}`)]
        : []),
      '',
      renderMarkdown(goals),
      renderMarkdown(tput),
      renderMarkdown(lat),
      renderMarkdown(cons),
      renderMarkdown(cpu),
      renderMarkdown(lifeTable),
      prof ? renderMarkdown(prof.table) : '',
    ].join('\n');
    writeDoc(body);
  }
}

await main();
process.exit(0);
