/**
 * The two brokers of bench/kafka.bench.ts, started by the bench on free
 * 127.0.0.1 ports and stopped by it:
 *
 *  - FerryMQ: `node bin/ferrymq.js start` (dist/, so `npm run build:ts`
 *    first) in a temporary data dir, every listener on 127.0.0.1:0, the
 *    storage engine and durability policy given by the caller (env
 *    FERRYMQ_STORAGE__ENGINE / __DURABILITY); the Kafka port comes from the
 *    JSON ready line.
 *  - Apache Kafka 4: scripts/peer-kafka.ts (KRaft, one combined node).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startKafkaPeer } from '../../scripts/peer-kafka.ts';
import { procCpuSeconds, procRssKiB } from './mqtt-brokers.ts';

export type KafkaBrokerName = 'FerryMQ' | 'Kafka';

export interface RunningKafkaBroker {
  name: KafkaBrokerName;
  bootstrap: string;
  pid: number;
  version: string;
  rssKiB(): number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface FerrymqKafkaOptions {
  engine: 'memory' | 'segment' | 'rocks';
  durability: 'none' | 'interval' | 'always';
  /** Write a V8 CPU profile into this directory on exit (node --cpu-prof). */
  cpuProfDir?: string;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export async function startFerrymqKafka(
  repoRoot: string,
  opts: FerrymqKafkaOptions,
): Promise<RunningKafkaBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-kafka-'));
  const listeners = ['MQTT', 'MQTT_TLS', 'MQTT_WS', 'MQTT_WSS', 'KAFKA', 'ADMIN', 'CLUSTER'];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...Object.fromEntries(listeners.map((l) => [`FERRYMQ_LISTENERS__${l}`, '127.0.0.1:0'])),
    FERRYMQ_DATA_DIR: dataDir,
    FERRYMQ_LOG__FORMAT: 'json',
    FERRYMQ_STORAGE__ENGINE: opts.engine,
    FERRYMQ_STORAGE__DURABILITY: opts.durability,
  };
  delete env.NODE_OPTIONS;
  const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
  const p = spawn(process.execPath, [...nodeArgs, join(repoRoot, 'bin', 'ferrymq.js'), 'start'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(p);
  p.on('exit', () => children.delete(p));
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString();
  });
  const cleanup = (): void => rmSync(dataDir, { recursive: true, force: true });
  let ready: Record<string, unknown>;
  try {
    ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const rl = createInterface({ input: p.stdout as NodeJS.ReadableStream });
      rl.on('line', (line) => {
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          if (typeof j.msg === 'string' && j.msg.startsWith('ferrymq ready')) resolve(j);
        } catch {
          // not JSON
        }
      });
      p.once('exit', (code) => reject(new Error(`ferrymq exited (${code}) before ready: ${stderr}`)));
    });
  } catch (e) {
    cleanup();
    throw e;
  }
  p.stdout?.resume();
  const addr = (ready.listeners as Record<string, string> | undefined)?.kafka;
  if (!addr) {
    p.kill('SIGKILL');
    cleanup();
    throw new Error(`ferrymq ready line has no listeners.kafka: ${JSON.stringify(ready)}`);
  }
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    // not a checkout
  }
  const pid = p.pid as number;
  return {
    name: 'FerryMQ',
    bootstrap: addr,
    pid,
    version: `${pkg.version}${commit ? ` (${commit})` : ''}`,
    rssKiB: () => procRssKiB(pid),
    cpuSeconds: () => procCpuSeconds(pid),
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGINT');
        const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      cleanup();
    },
  };
}

export async function startApacheKafka(): Promise<RunningKafkaBroker> {
  const peer = await startKafkaPeer();
  return {
    name: 'Kafka',
    bootstrap: peer.bootstrap,
    pid: peer.pid,
    version: peer.version,
    rssKiB: () => procRssKiB(peer.pid),
    cpuSeconds: () => procCpuSeconds(peer.pid),
    stop: () => peer.stop(),
  };
}

/**
 * The API keys a broker advertises (ApiVersions v0, hand-framed: this must
 * work against any broker without our codec), with their version ranges.
 */
export async function advertisedApis(bootstrap: string): Promise<Map<number, [number, number]>> {
  const i = bootstrap.lastIndexOf(':');
  const clientId = Buffer.from('ferrymq-bench');
  // Request header v1: api_key, api_version, correlation_id, client_id (int16-prefixed); v0 body is empty.
  const req = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length);
  req.writeInt32BE(req.length - 4, 0);
  req.writeInt16BE(18, 4);
  req.writeInt16BE(0, 6);
  req.writeInt32BE(1, 8);
  req.writeInt16BE(clientId.length, 12);
  clientId.copy(req, 14);
  const frame = await new Promise<Buffer>((resolve, reject) => {
    const s = connect({ host: bootstrap.slice(0, i), port: Number(bootstrap.slice(i + 1)) }, () =>
      s.write(req),
    );
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`ApiVersions: no answer from ${bootstrap} within 10 s`));
    }, 10_000);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        clearTimeout(t);
        s.destroy();
        resolve(buf.subarray(4, 4 + buf.readInt32BE(0)));
      }
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
  // Response v0: correlation_id, error_code, [api_key, min, max].
  const error = frame.readInt16BE(4);
  if (error !== 0) throw new Error(`ApiVersions v0 from ${bootstrap}: error ${error}`);
  const n = frame.readInt32BE(6);
  const apis = new Map<number, [number, number]>();
  for (let k = 0, o = 10; k < n && o + 6 <= frame.length; k++, o += 6) {
    apis.set(frame.readInt16BE(o), [frame.readInt16BE(o + 2), frame.readInt16BE(o + 4)]);
  }
  return apis;
}

/** Busy CPU seconds of the whole machine (all processes, all cores) from /proc/stat (USER_HZ = 100). */
export function machineBusySeconds(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / 100;
}
