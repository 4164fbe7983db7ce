/**
 * Kafka clients no one here wrote, run as child processes with hard
 * timeouts so a test never hangs: the scripted Python driver
 * (ts/test/clients/kafka_client.py: confluent-kafka, kafka-python) in the
 * venv that scripts/test-deps.sh makes, kcat (Debian's, an old librdkafka),
 * the scripted Java client (ts/test/clients/KafkaDriver.java) and the
 * Apache Kafka command-line tools over the jars of scripts/kafka-jars.sh.
 * Also reads back what a client stored: the codec bits of each stored batch.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { batchSpans } from '../../storage/records.ts';
import { repoRoot } from './broker.ts';
import { type ProcResult, venvPython } from './cli-clients.ts';
import { RawKafka } from './raw-kafka.ts';

export type Codec = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
export const CODECS: readonly Codec[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** The compression bits (attributes & 7) of a record batch for each codec. */
export const CODEC_ID: Record<Codec, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };

export interface Message {
  key: string | null;
  value: string | null;
  headers?: Record<string, string>;
  partition?: number;
}

/** A consumed record as every driver reports it; headers in wire order. */
export interface Consumed {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Array<[string, string | null]>;
}

export interface ConsumeResult {
  messages: Consumed[];
  /** Committed offset per partition, for group consumers; null otherwise. */
  committed: Record<string, number | null> | null;
}

/** Run a process with optional stdin, killing it after `timeoutMs`; never rejects. */
export function run(
  file: string,
  args: string[],
  opts: { timeoutMs: number; stdin?: string; cwd?: string },
): Promise<ProcResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: opts.cwd ?? repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      stderr += String(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
  });
}

function summary(r: ProcResult): string {
  return `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}; stderr: ${r.stderr.slice(-3000)}; stdout: ${r.stdout.slice(-1000)}`;
}

interface DriverOutput {
  results: unknown[];
  error: string | null;
}

function parseDriver(r: ProcResult, who: string): unknown[] {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let out: DriverOutput;
  try {
    out = JSON.parse(line) as DriverOutput;
  } catch {
    throw new Error(`${who} printed no result: ${summary(r)}`);
  }
  if (out.error) throw new Error(`${who}: ${out.error}`);
  return out.results;
}

export interface DriverStep {
  op: string;
  [key: string]: unknown;
}

// ---------------------------------------------------------------------------
// confluent-kafka and kafka-python
// ---------------------------------------------------------------------------
export type PyClient = 'confluent' | 'kafka-python';
const pyScript = join(repoRoot, 'ts', 'test', 'clients', 'kafka_client.py');

/** Run the Python driver's steps with one client; throws with the driver's error or output. */
export async function pyKafka(
  client: PyClient,
  bootstrap: string,
  steps: DriverStep[],
  timeoutMs = 60_000,
): Promise<unknown[]> {
  // The spec goes in on stdin: large records would overflow an argument.
  const r = await run(venvPython, [pyScript], {
    timeoutMs,
    stdin: JSON.stringify({ client, bootstrap, steps }),
  });
  return parseDriver(r, client);
}

// ---------------------------------------------------------------------------
// Java: the client driver and the command-line tools
// ---------------------------------------------------------------------------
let libsDir: string | undefined;
/** The Kafka jars directory (scripts/kafka-jars.sh downloads them once, then only prints the path). */
export function kafkaLibs(): string {
  libsDir ??= execFileSync('bash', [join(repoRoot, 'scripts', 'kafka-jars.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return libsDir;
}

/** JVM flags for short-lived test processes: quick start-up over peak speed. */
const JVM_FLAGS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xshare:auto', '-Xmx256m'];
const javaDriver = join(repoRoot, 'ts', 'test', 'clients', 'KafkaDriver.java');

/** Run the Java client driver's steps in one JVM. */
export async function javaKafka(
  bootstrap: string,
  steps: DriverStep[],
  timeoutMs = 90_000,
): Promise<unknown[]> {
  const r = await run(
    'java',
    [...JVM_FLAGS, '-cp', `${kafkaLibs()}/*`, javaDriver, JSON.stringify({ bootstrap, steps })],
    { timeoutMs },
  );
  return parseDriver(r, 'java driver');
}

/** Run one Kafka tool (a main class of kafka-tools or kafka_2.13) with optional stdin. */
export function kafkaTool(
  mainClass: string,
  args: string[],
  opts: { stdin?: string; timeoutMs?: number } = {},
): Promise<ProcResult> {
  return run('java', [...JVM_FLAGS, '-cp', `${kafkaLibs()}/*`, mainClass, ...args], {
    timeoutMs: opts.timeoutMs ?? 60_000,
    ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }),
  });
}

/** Throws with the process's output unless it exited 0. */
export function ok(r: ProcResult, what: string): ProcResult {
  if (r.code !== 0) throw new Error(`${what} failed: ${summary(r)}`);
  return r;
}

// ---------------------------------------------------------------------------
// kcat (librdkafka as Debian ships it)
// ---------------------------------------------------------------------------
/**
 * kcat -P: one message per line, key and value split by a tab; the same
 * headers on every message (kcat's -H applies to all of them).
 */
export async function kcatProduce(
  bootstrap: string,
  topic: string,
  codec: Codec,
  messages: Array<{ key: string; value: string }>,
  headers: Record<string, string> = {},
): Promise<void> {
  const args = [
    '-P',
    '-b',
    bootstrap,
    '-t',
    topic,
    '-K',
    '\t',
    '-z',
    codec,
    '-X',
    'broker.address.family=v4',
  ];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  const stdin = `${messages.map((m) => `${m.key}\t${m.value}`).join('\n')}\n`;
  ok(await run('kcat', args, { timeoutMs: 30_000, stdin }), `kcat -P -z ${codec}`);
}

interface KcatJson {
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

/** kcat -C -J from the beginning of every partition until `count` messages (or the end). */
export async function kcatConsume(bootstrap: string, topic: string, count: number): Promise<Consumed[]> {
  const r = ok(
    await run(
      'kcat',
      ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-c', String(count), '-e', '-J', '-q'],
      { timeoutMs: 30_000 },
    ),
    'kcat -C',
  );
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const j = JSON.parse(l) as KcatJson;
      const h = j.headers ?? [];
      const headers: Array<[string, string | null]> = [];
      for (let i = 0; i < h.length; i += 2) headers.push([h[i] as string, h[i + 1] ?? null]);
      return { partition: j.partition, offset: j.offset, key: j.key, value: j.payload, headers };
    });
}

// ---------------------------------------------------------------------------
// What the broker stored
// ---------------------------------------------------------------------------
/** What a stored batch's header says about how its producer wrote it. */
export interface StoredBatch {
  /** attributes & 7: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
  codec: number;
  /** -1 unless an idempotent (or transactional) producer wrote it. */
  producerId: bigint;
}

/** The codec id (attributes & 7) of every batch stored in partition 0 of `topic`, in offset order. */
export async function storedCodecs(bootstrap: string, topic: string): Promise<number[]> {
  return (await storedBatches(bootstrap, topic)).map((b) => b.codec);
}

/** The header of every batch stored in partition 0 of `topic`, in offset order. */
export async function storedBatches(bootstrap: string, topic: string): Promise<StoredBatch[]> {
  const raw = await RawKafka.open(bootstrap);
  try {
    const batches: StoredBatch[] = [];
    let next = 0n;
    for (;;) {
      const p = await raw.fetch(topic, Number(next));
      if (p.errorCode !== 0) throw new Error(`fetch ${topic}@${next}: error ${p.errorCode}`);
      const records = p.records ?? Buffer.alloc(0);
      let advanced = false;
      for (const [start, end] of batchSpans(records)) {
        const b = records.subarray(start, end);
        // Batch layout: baseOffset int64, length int32, leaderEpoch int32, magic int8, crc int32,
        // attributes int16 @21, lastOffsetDelta int32 @23, two timestamps, producerId int64 @43.
        const last = b.readBigInt64BE(0) + BigInt(b.readInt32BE(23));
        if (last < next) continue;
        batches.push({ codec: b.readInt16BE(21) & 7, producerId: b.readBigInt64BE(43) });
        next = last + 1n;
        advanced = true;
      }
      if (!advanced || next >= p.highWatermark) return batches;
    }
  } finally {
    raw.close();
  }
}

/** Messages with keys, values and headers that differ per index (and a null key and value). */
export function sampleMessages(tag: string, n: number): Message[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i === n - 1 ? null : `${tag}-k${i}`,
    // Repetitive values so every codec actually shrinks the batch.
    value: `${tag}-v${i}-${'payload '.repeat(20 + i)}`,
    headers: { seq: String(i), origin: tag },
  }));
}

/** The comparable form of sent messages (what any driver should report back). */
export function expected(messages: Message[]): Array<Pick<Consumed, 'key' | 'value' | 'headers'>> {
  return messages.map((m) => ({
    key: m.key,
    value: m.value,
    headers: Object.entries(m.headers ?? {}),
  }));
}

/** The comparable form of consumed messages. */
export function received(messages: Consumed[]): Array<Pick<Consumed, 'key' | 'value' | 'headers'>> {
  return messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers }));
}
