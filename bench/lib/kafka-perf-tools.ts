/**
 * Runs Apache Kafka's own perf tools (from the scripts/kafka-jars.sh jars)
 * as child JVMs and parses their summary lines:
 *
 *  - org.apache.kafka.tools.ProducerPerformance (kafka-producer-perf-test)
 *  - org.apache.kafka.tools.ConsumerPerformance (kafka-consumer-perf-test;
 *    needs the consumer group APIs)
 *  - bench/lib/AssignConsumerPerf.java (the Java consumer in assign mode,
 *    for brokers without groups)
 *
 * The tools print MB as MiB (records × size / 1024 / 1024); the figures are
 * passed on as they print them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ProducerResult {
  /** Records counted in the figures (the steady-state part when warm-up records were given). */
  records: number;
  recordsPerS: number;
  mbPerS: number;
  avgMs: number;
  maxMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** The summary line as printed. */
  line: string;
  /** CPU seconds the tool's JVM used (it shares the machine with the broker). */
  toolCpuSeconds: number;
}

export interface ConsumerResult {
  records: number;
  recordsPerS: number;
  mbPerS: number;
  elapsedMs: number;
  tool: ConsumerTool;
  line: string;
  /** AssignConsumerPerf: the consumer's fetch metrics (fetch-size-avg, records-per-request-avg, ...). */
  detail: string;
}

export type ConsumerTool = 'ConsumerPerformance' | 'AssignConsumerPerf';

const ASSIGN_CONSUMER = fileURLToPath(new URL('./AssignConsumerPerf.java', import.meta.url));

export interface JavaRun {
  stdout: string;
  /** User + system CPU seconds of the JVM (bash's `times` for its child). */
  cpuSeconds: number;
}

const toolGroups = new Set<number>();
process.on('exit', () => {
  for (const pgid of toolGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** "0m2.431s" → 2.431 */
function bashSeconds(x: string | undefined): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(x ?? '');
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
}

/**
 * Run `java -cp <libs>/* <main> args` under bash, which reports the JVM's CPU
 * time on fd 3 (`times`); the JVM gets its own process group so a timeout
 * kills it, not only bash. Rejects with the tail of both streams.
 */
export function runJava(libs: string, main: string, args: string[], timeoutMs = 300_000): Promise<JavaRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      'bash',
      ['-c', 'java "$@"; rc=$?; times >&3; exit $rc', 'java', '-cp', `${libs}/*`, main, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        detached: true,
      },
    );
    const pgid = p.pid as number;
    toolGroups.add(pgid);
    let out = '';
    let err = '';
    let times = '';
    p.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr?.on('data', (d: Buffer) => {
      if (err.length < 256 * 1024) err += d.toString();
    });
    (p.stdio[3] as NodeJS.ReadableStream | null)?.on('data', (d: Buffer) => {
      times += d.toString();
    });
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    p.once('error', (e) => {
      clearTimeout(t);
      toolGroups.delete(pgid);
      reject(e);
    });
    p.once('close', (code, signal) => {
      clearTimeout(t);
      toolGroups.delete(pgid);
      // Second line of `times`: user and system time of the shell's children (the JVM).
      const [user, sys] = (times.split('\n')[1] ?? '').trim().split(/\s+/);
      if (code === 0) resolve({ stdout: out, cpuSeconds: bashSeconds(user) + bashSeconds(sys) });
      else
        reject(
          new Error(
            `${main} ${timedOut ? `killed after ${timeoutMs} ms` : signal ? `killed (${signal})` : `exited ${code}`}:\n${out.slice(-2000)}\n${err.slice(-3000)}`,
          ),
        );
    });
  });
}

// "200000 records sent, 221729.49 records/sec (21.15 MB/sec), 480.21 ms avg latency, 546.00 ms max
// latency, 504 ms 50th, 529 ms 95th, 542 ms 99th, 546 ms 99.9th." — with warm-up records the
// steady-state line says "steady state records sent".
const SUMMARY =
  /^(\d+) (?:steady state )?records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th/;

export function parseProducerSummary(
  out: string,
  steadyState: boolean,
): Omit<ProducerResult, 'toolCpuSeconds'> {
  const lines = out.split('\n').filter((l) => SUMMARY.test(l) && l.includes('steady state') === steadyState);
  const line = lines.at(-1);
  const m = line ? SUMMARY.exec(line) : null;
  if (!line || !m) throw new Error(`ProducerPerformance printed no summary line:\n${out.slice(-2000)}`);
  return {
    records: Number(m[1]),
    recordsPerS: Number(m[2]),
    mbPerS: Number(m[3]),
    avgMs: Number(m[4]),
    maxMs: Number(m[5]),
    p50Ms: Number(m[6]),
    p95Ms: Number(m[7]),
    p99Ms: Number(m[8]),
    line,
  };
}

export interface ProduceRun {
  libs: string;
  bootstrap: string;
  topic: string;
  records: number;
  /** Leading records left out of the figures (JIT and connection warm-up of the tool's JVM). */
  warmupRecords: number;
  recordSize: number;
  acks: '1' | 'all';
  /** Producer properties beyond bootstrap.servers and acks. */
  props: Record<string, string>;
}

/** The ProducerPerformance arguments of a run (printed in the doc as the exact command). */
export function producerArgs(r: ProduceRun): string[] {
  return [
    '--topic',
    r.topic,
    '--num-records',
    String(r.records),
    ...(r.warmupRecords > 0 ? ['--warmup-records', String(r.warmupRecords)] : []),
    '--record-size',
    String(r.recordSize),
    '--throughput',
    '-1',
    '--command-property',
    `bootstrap.servers=${r.bootstrap}`,
    `acks=${r.acks}`,
    ...Object.entries(r.props).map(([k, v]) => `${k}=${v}`),
  ];
}

export async function runProducerPerformance(r: ProduceRun): Promise<ProducerResult> {
  const run = await runJava(r.libs, 'org.apache.kafka.tools.ProducerPerformance', producerArgs(r));
  return { ...parseProducerSummary(run.stdout, r.warmupRecords > 0), toolCpuSeconds: run.cpuSeconds };
}

export interface ConsumeRun {
  libs: string;
  bootstrap: string;
  topic: string;
  records: number;
  tool: ConsumerTool;
}

export async function runConsumer(r: ConsumeRun): Promise<ConsumerResult> {
  if (r.tool === 'AssignConsumerPerf') {
    const { stdout: out } = await runJava(r.libs, ASSIGN_CONSUMER, [
      r.bootstrap,
      r.topic,
      String(r.records),
      '60000',
    ]);
    const m = /records=(\d+) bytes=(\d+) elapsed_ms=(\d+)/.exec(out);
    if (!m) throw new Error(`AssignConsumerPerf printed no result:\n${out.slice(-2000)}`);
    const [records, bytes, ms] = [Number(m[1]), Number(m[2]), Number(m[3])];
    return {
      records,
      recordsPerS: records / (ms / 1000),
      mbPerS: bytes / 1024 / 1024 / (ms / 1000),
      elapsedMs: ms,
      tool: r.tool,
      line: m[0],
      detail: /^fetch-metrics (.*)$/m.exec(out)?.[1] ?? '',
    };
  }
  const { stdout: out } = await runJava(r.libs, 'org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server',
    r.bootstrap,
    '--topic',
    r.topic,
    '--num-records',
    String(r.records),
    '--group',
    `ferrymq-bench-${r.topic}`,
    '--timeout',
    '60000',
    '--hide-header',
  ]);
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
  // rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const line = out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.split(', ').length === 10)
    .at(-1);
  if (!line) throw new Error(`ConsumerPerformance printed no result line:\n${out.slice(-2000)}`);
  const f = line.split(', ');
  const records = Number(f[4]);
  if (records < r.records)
    throw new Error(`ConsumerPerformance consumed ${records} of ${r.records} records:\n${out.slice(-2000)}`);
  // The fetch.* columns leave out the group join (rebalance.time.ms), as AssignConsumerPerf has none.
  return {
    records,
    recordsPerS: Number(f[9]),
    mbPerS: Number(f[8]),
    elapsedMs: Number(f[7]),
    tool: r.tool,
    line,
    detail: '',
  };
}
