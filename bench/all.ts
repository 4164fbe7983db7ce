/**
 * `npm run bench`: the whole comparison in one go. Builds dist/, installs
 * the peers (scripts/peers.ts install all: Mosquitto from Debian, Aedes from
 * npm, Apache Kafka 4's jars from Maven Central), then runs each bench
 * script in its own process, one after the other (they measure the same
 * machine), each under the hard file-descriptor limit:
 *
 *   storage  bench/storage.bench.ts   Shard adapter and engines vs the raw disk
 *   mqtt     bench/mqtt.bench.ts      FerryMQ vs Mosquitto vs Aedes: fan-in, fan-out, p2p, QoS 0/1, latency, idle connections
 *   kafka    bench/kafka.bench.ts     FerryMQ vs Apache Kafka 4: produce/consume, 100 B and 1 KB
 *   raft     bench/raft.bench.ts      the meta service's commit rate and latency (when present)
 *   extra    bench/extra.bench.ts     shared subscriptions, memory-topic latency, 10k/50k connections, footprint
 *
 * Each script writes its own section of docs/benchmarks.md; this one writes
 * the "Run" section at the top: the machine, the versions, the exact
 * commands and how each script ended. A script that fails is reported and
 * the others still run; the exit code is non-zero if any failed.
 *
 * Run: npm run bench [-- --quick] [-- --only mqtt,extra]
 *   --quick  passes --quick to every script (short runs, no doc written)
 *   --only   a comma-separated subset of the names above
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kafkaLibs, kafkaVersion } from '../scripts/peer-kafka.ts';
import { writeDocSection } from './lib/doc.ts';
import { machineInfo, machineLines } from './lib/machine.ts';
import { hardNofile, mosquittoVersion } from './lib/mqtt-brokers.ts';
import { fmt, renderMarkdown, type Table } from './lib/stats.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const onlyAt = args.indexOf('--only');
const ONLY = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : undefined;
const SCRIPTS: { name: string; file: string; what: string }[] = [
  {
    name: 'storage',
    file: 'bench/storage.bench.ts',
    what: 'Shard adapter and storage engines vs the raw disk',
  },
  { name: 'mqtt', file: 'bench/mqtt.bench.ts', what: 'MQTT: FerryMQ vs Mosquitto vs Aedes' },
  { name: 'kafka', file: 'bench/kafka.bench.ts', what: 'Kafka protocol: FerryMQ vs Apache Kafka 4' },
  { name: 'raft', file: 'bench/raft.bench.ts', what: 'meta service (Raft) commits' },
  {
    name: 'extra',
    file: 'bench/extra.bench.ts',
    what: 'shared subscriptions, memory-topic latency, idle connections, footprint',
  },
];

function run(cmd: string, argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(
      'bash',
      ['-c', `ulimit -n ${hardNofile() || 65_536} && exec "$0" "$@"`, cmd, ...argv],
      {
        cwd: repoRoot,
        env,
        stdio: 'inherit',
      },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function quiet(cmd: string, argv: string[]): string {
  try {
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `${String((e as { stdout?: string }).stdout ?? '')}${String((e as { stderr?: string }).stderr ?? '')}`.trim();
  }
}

function versions(): string[] {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const aedes = JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'aedes', 'package.json'), 'utf8')) as {
    version: string;
  };
  let kafka = '?';
  try {
    kafka = kafkaVersion(kafkaLibs());
  } catch {
    // reported as '?'
  }
  // `java -version` prints to stderr, which execFileSync does not return on success.
  const javaOut = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const java = /version "([^"]+)"/.exec(`${javaOut.stdout ?? ''}${javaOut.stderr ?? ''}`)?.[1] ?? '?';
  return [
    `FerryMQ ${pkg.version} (commit ${quiet('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'])}, dist/ from \`npm run build:ts\`)`,
    `Mosquitto ${mosquittoVersion()} (Debian package)`,
    `Aedes ${aedes.version} (npm)`,
    `Apache Kafka ${kafka} (Maven Central jars, KRaft single node; Java ${java})`,
    `Load generators: \`ferrymq bench\` (ts/loadgen) for bench/extra, bench/mqtt's own worker-thread generator, Apache Kafka's ProducerPerformance / consumer for bench/kafka`,
  ];
}

function writeDoc(body: string): void {
  // The run summary leads the page.
  writeDocSection(repoRoot, 'all', body, true);
}

async function main(): Promise<void> {
  const started = new Date();
  const steps: { name: string; command: string; code: number; seconds: number; what: string }[] = [];
  const prep = async (name: string, cmd: string, argv: string[]): Promise<void> => {
    console.log(`\n=== ${name}: ${cmd} ${argv.join(' ')}`);
    const code = await run(cmd, argv);
    if (code !== 0) {
      console.error(`bench: ${name} failed (exit ${code}); nothing measured`);
      process.exit(1);
    }
  };
  await prep('build', 'npm', ['run', 'build:ts']);
  await prep('peers', process.execPath, ['scripts/peers.ts', 'install', 'all']);
  for (const s of SCRIPTS) {
    if (ONLY && !ONLY.includes(s.name)) continue;
    if (!existsSync(join(repoRoot, s.file))) {
      console.log(`\n=== ${s.name}: ${s.file} not present, skipped`);
      continue;
    }
    const argv = [s.file, ...(QUICK ? ['--quick'] : [])];
    console.log(`\n=== ${s.name}: node ${argv.join(' ')}`);
    const t0 = performance.now();
    const code = await run(process.execPath, argv);
    steps.push({
      name: s.name,
      command: `node ${argv.join(' ')}`,
      code,
      seconds: (performance.now() - t0) / 1000,
      what: s.what,
    });
  }
  const table: Table = {
    title: 'Scripts of this run',
    columns: ['script', 'what', 'command', 'minutes', 'result'],
    rows: steps.map((s) => [
      s.name,
      s.what,
      `\`${s.command}\``,
      fmt(s.seconds / 60, 1),
      s.code === 0 ? 'ok' : `failed (exit ${s.code})`,
    ]),
  };
  console.log('');
  for (const s of steps)
    console.log(
      `${s.name.padEnd(8)} ${s.code === 0 ? 'ok' : `FAILED (exit ${s.code})`}  ${fmt(s.seconds / 60, 1)} min`,
    );
  if (!QUICK && !ONLY) {
    const m = machineInfo(tmpdir(), repoRoot);
    writeDoc(
      [
        '## Run',
        '',
        `Everything below was produced by one \`npm run bench\` (\`node bench/all.ts\`), started ${started.toISOString().replace(/\.\d+Z$/, 'Z')}: it builds dist/, installs the peers (\`node scripts/peers.ts install all\`) and runs each bench script in turn, on one machine, every broker on 127.0.0.1. To reproduce: \`npm install && npm run build && npm run bench\`. A single figure: \`npx ferrymq bench mqtt|kafka ...\` against any broker (\`node scripts/peers.ts start mosquitto|aedes|kafka|ferrymq\` starts one and prints its address).`,
        '',
        ...machineLines(m).map((l) => `- ${l}`),
        ...versions().map((l) => `- ${l}`),
        `- File descriptors: hard limit ${fmt(hardNofile())} (each script and broker runs under it)`,
        '',
        renderMarkdown(table),
      ].join('\n'),
    );
  }
  process.exit(steps.some((s) => s.code !== 0) ? 1 : 0);
}

await main();
