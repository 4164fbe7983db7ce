// Apache Kafka 4 as a peer for benches and tests: one KRaft node in
// combined mode (broker + controller) on 127.0.0.1, from the Maven Central
// jars of scripts/kafka-jars.sh, in a temporary directory that is removed
// when it stops. Free ports, `kafka-storage format` (kafka.tools.StorageTool)
// with a static one-voter quorum, then `kafka.Kafka server.properties` with
// the JVM options of Kafka's own bin/kafka-server-start.sh. Ready when the
// log says "Kafka Server started"; stopped with SIGTERM (controlled
// shutdown), SIGKILL after a grace period, and always killed when this
// process exits.
//
//   node scripts/peer-kafka.ts        prints one JSON line (bootstrap, pid,
//                                     version, dir) and runs until SIGINT/SIGTERM
//
// Settings are Kafka's defaults except what one node needs (replication
// factors 1) and group.initial.rebalance.delay.ms=0 (the 3 s default only
// delays the first consumer group join). Durability stays Kafka's default:
// no fsync per write (log.flush.interval.messages unset), page cache only.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../ts/test/helpers/ports.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The JVM options bin/kafka-server-start.sh and bin/kafka-run-class.sh use (Kafka 4.x). */
export const KAFKA_HEAP_OPTS = ['-Xmx1G', '-Xms1G'];
export const KAFKA_JVM_PERFORMANCE_OPTS = [
  '-server',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-XX:MaxInlineLevel=15',
  '-Djava.awt.headless=true',
];

export interface KafkaPeerOptions {
  /** Extra or overriding server.properties entries. */
  properties?: Record<string, string>;
  /** Milliseconds to wait for "Kafka Server started" (default 60 s). */
  readyTimeoutMs?: number;
}

export interface KafkaPeer {
  /** host:port of the PLAINTEXT listener. */
  bootstrap: string;
  port: number;
  pid: number;
  /** Kafka version of the jars (e.g. 4.3.1). */
  version: string;
  libs: string;
  dir: string;
  /** The broker's own log (log4j2, INFO). */
  logFile: string;
  stop(): Promise<void>;
}

const running = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The libs dir of scripts/kafka-jars.sh (downloads on first use). */
export function kafkaLibs(): string {
  return execFileSync('bash', [join(repoRoot, 'scripts', 'kafka-jars.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** Version of the Kafka jars in `libs` (from the kafka-clients jar's name). */
export function kafkaVersion(libs: string): string {
  const out = execFileSync('ls', [libs], { encoding: 'utf8' });
  return /^kafka-clients-(.+)\.jar$/m.exec(out)?.[1] ?? '?';
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (what Uuid.toString gives). */
function clusterId(): string {
  return randomBytes(16).toString('base64url');
}

function properties(entries: Record<string, string>): string {
  return `${Object.entries(entries)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\n`;
}

export async function startKafkaPeer(opts: KafkaPeerOptions = {}): Promise<KafkaPeer> {
  const libs = kafkaLibs();
  const version = kafkaVersion(libs);
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-peer-kafka-'));
  const port = await freePort();
  const controllerPort = await freePort();
  const logFile = join(dir, 'server.log');
  const config = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j2.properties');
  writeFileSync(
    config,
    properties({
      'process.roles': 'broker,controller',
      'node.id': '1',
      'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
      listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      'log.dirs': join(dir, 'data'),
      'num.partitions': '1',
      'offsets.topic.replication.factor': '1',
      'transaction.state.log.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
      'share.coordinator.state.topic.replication.factor': '1',
      'share.coordinator.state.topic.min.isr': '1',
      'group.initial.rebalance.delay.ms': '0',
      ...opts.properties,
    }),
  );
  writeFileSync(
    log4j,
    properties({
      status: 'error',
      'appender.file.type': 'File',
      'appender.file.name': 'FILE',
      'appender.file.fileName': logFile,
      'appender.file.layout.type': 'PatternLayout',
      'appender.file.layout.pattern': '[%d] %p %m (%c)%n',
      'rootLogger.level': 'INFO',
      'rootLogger.appenderRef.file.ref': 'FILE',
    }),
  );
  const cp = `${libs}/*`;
  try {
    execFileSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', config], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`kafka-storage format failed: ${err.stderr ?? ''}${err.stdout ?? ''}`);
  }
  const child = spawn(
    'java',
    [
      ...KAFKA_HEAP_OPTS,
      ...KAFKA_JVM_PERFORMANCE_OPTS,
      `-Dlog4j2.configurationFile=${log4j}`,
      `-Dkafka.logs.dir=${dir}`,
      '-cp',
      cp,
      'kafka.Kafka',
      config,
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.set(child, dir);
  let output = '';
  const collect = (d: Buffer): void => {
    // Only for the error message of a failed start; bounded.
    if (output.length < 64 * 1024) output += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    let log = '';
    try {
      log = readFileSync(logFile, 'utf8');
    } catch {
      // not created yet
    }
    if (log.includes('Kafka Server started')) break;
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const why = child.exitCode !== null || child.signalCode !== null ? 'exited' : 'timed out';
      await stop();
      throw new Error(`Apache Kafka ${version} ${why} while starting:\n${output}\n${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    version,
    libs,
    dir,
    logFile,
    stop,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const peer = await startKafkaPeer();
  console.log(
    JSON.stringify({ bootstrap: peer.bootstrap, pid: peer.pid, version: peer.version, dir: peer.dir }),
  );
  const shutdown = (): void => {
    void peer.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
