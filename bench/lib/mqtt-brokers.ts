/**
 * The three brokers of bench/mqtt.bench.ts, each started by the bench on a
 * 127.0.0.1 free port and stopped by it:
 *
 *  - FerryMQ: `node bin/ferrymq.js start` (dist/, so `npm run build:ts` first)
 *    in a temporary data dir, every listener on 127.0.0.1:0; the MQTT port
 *    comes from the JSON ready line (as ts/test/helpers/broker.ts reads it).
 *  - Mosquitto: the Debian binary, a minimal config (no persistence, no
 *    connection logging, TCP_NODELAY); other settings at their defaults.
 *  - Aedes: bench/lib/mqtt-aedes-server.ts in its own Node 24 process.
 *
 * Every broker runs under `bash -c 'ulimit -n <hard limit>; exec ...'` so
 * the 10k-connection test is not capped by the soft fd limit; exec keeps
 * the pid, so /proc/<pid> is the broker itself (RSS and CPU time).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, waitForPort } from '../../ts/test/helpers/ports.ts';

export type BrokerName = 'FerryMQ' | 'Mosquitto' | 'Aedes';

export interface RunningBroker {
  name: BrokerName;
  port: number;
  pid: number;
  version: string;
  /** Resident set size of the broker process, KiB. */
  rssKiB(): number;
  /** User + system CPU seconds used so far (all threads). */
  cpuSeconds(): number;
  /** Read / write syscalls so far (all threads). */
  syscalls(): { r: number; w: number };
  stop(): Promise<void>;
}

export interface StartOptions {
  /** FerryMQ only: write a V8 CPU profile into this directory on exit (node --cpu-prof). */
  cpuProfDir?: string;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export function hardNofile(): number {
  try {
    const v = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    return v === 'unlimited' ? 1_048_576 : Number(v);
  } catch {
    return 0;
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the state field.
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Read and write syscalls made so far by the process (/proc/<pid>/io syscr, syscw). */
export function procSyscalls(pid: number): { r: number; w: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return {
      r: Number(/^syscr:\s+(\d+)/m.exec(io)?.[1] ?? Number.NaN),
      w: Number(/^syscw:\s+(\d+)/m.exec(io)?.[1] ?? Number.NaN),
    };
  } catch {
    return { r: Number.NaN, w: Number.NaN };
  }
}

export function procRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export { freePort };

/** Spawn `file args` under a raised fd limit; the child keeps the shell's pid (exec). */
function spawnLimited(file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): ChildProcess {
  const limit = hardNofile() || 65_536;
  const p = spawn('bash', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, file, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(p);
  p.on('exit', () => children.delete(p));
  return p;
}

function stopper(p: ChildProcess, signal: NodeJS.Signals, cleanup: () => void): () => Promise<void> {
  return async () => {
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill(signal);
      const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    cleanup();
  };
}

function handle(name: BrokerName, p: ChildProcess, port: number, version: string, stop: () => Promise<void>) {
  const pid = p.pid as number;
  const b: RunningBroker = {
    name,
    port,
    pid,
    version,
    rssKiB: () => procRssKiB(pid),
    cpuSeconds: () => procCpuSeconds(pid),
    syscalls: () => procSyscalls(pid),
    stop,
  };
  return b;
}

export async function startFerrymq(repoRoot: string, opts: StartOptions = {}): Promise<RunningBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-mqtt-'));
  const listeners = ['MQTT', 'MQTT_TLS', 'MQTT_WS', 'MQTT_WSS', 'KAFKA', 'ADMIN', 'CLUSTER'];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...Object.fromEntries(listeners.map((l) => [`FERRYMQ_LISTENERS__${l}`, '127.0.0.1:0'])),
    FERRYMQ_DATA_DIR: dataDir,
    FERRYMQ_LOG__FORMAT: 'json',
  };
  delete env.NODE_OPTIONS;
  // BENCH_FERRYMQ_NODE_ARGS: extra node flags for the broker (e.g. --max-semi-space-size=16), for A/B runs.
  const extra = (process.env.BENCH_FERRYMQ_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const nodeArgs = [
    ...extra,
    ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : []),
  ];
  // BENCH_FERRYMQ_ROOT: run bin/ferrymq.js of another tree (e.g. a copy of the previous dist/) for A/B runs.
  const root = process.env.BENCH_FERRYMQ_ROOT ?? repoRoot;
  const p = spawnLimited(
    process.execPath,
    [...nodeArgs, join(root, 'bin', 'ferrymq.js'), 'start'],
    env,
    repoRoot,
  );
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
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
  // BENCH_FERRYMQ_STDOUT: keep the broker's stdout after "ready" (e.g. --trace-gc lines) in this file.
  const keepStdout = process.env.BENCH_FERRYMQ_STDOUT;
  if (keepStdout) p.stdout?.pipe(createWriteStream(keepStdout, { flags: 'a' }));
  else p.stdout?.resume();
  const addr = (ready.listeners as Record<string, string> | undefined)?.mqtt;
  if (!addr) throw new Error(`ferrymq ready line has no listeners.mqtt: ${JSON.stringify(ready)}`);
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    // not a checkout
  }
  return handle(
    'FerryMQ',
    p,
    port,
    `${pkg.version}${commit ? ` (${commit})` : ''}`,
    stopper(p, 'SIGINT', () => rmSync(dataDir, { recursive: true, force: true })),
  );
}

export function mosquittoBin(): string {
  return (
    ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p)) ??
    'mosquitto'
  );
}

export function mosquittoVersion(): string {
  try {
    const out = execFileSync(mosquittoBin(), ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /version (\S+)/.exec(out)?.[1] ?? out.split('\n')[0] ?? '?';
  } catch (e) {
    const out = String((e as { stdout?: string }).stdout ?? '');
    return /version (\S+)/.exec(out)?.[1] ?? '?';
  }
}

export async function startMosquitto(): Promise<RunningBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-mosquitto-'));
  const port = await freePort();
  const conf = [
    `user ${userInfo().username}`,
    'allow_anonymous true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'connection_messages false',
    'set_tcp_nodelay true',
    `listener ${port} 127.0.0.1`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'mosquitto.conf'), conf);
  const p = spawnLimited(mosquittoBin(), ['-c', join(dir, 'mosquitto.conf')], process.env, dir);
  let log = '';
  p.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  p.stdout?.resume();
  try {
    await waitForPort(port, () => p.exitCode === null && p.signalCode === null);
  } catch (e) {
    throw new Error(`mosquitto did not start: ${(e as Error).message}\n${log}`);
  }
  return handle(
    'Mosquitto',
    p,
    port,
    mosquittoVersion(),
    stopper(p, 'SIGTERM', () => rmSync(dir, { recursive: true, force: true })),
  );
}

export async function startAedes(repoRoot: string): Promise<RunningBroker> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const p = spawnLimited(
    process.execPath,
    [join(repoRoot, 'bench', 'lib', 'mqtt-aedes-server.ts'), '0'],
    env,
    repoRoot,
  );
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ready = await new Promise<{ port: number; aedes: string }>((resolve, reject) => {
    const rl = createInterface({ input: p.stdout as NodeJS.ReadableStream });
    rl.once('line', (line) => resolve(JSON.parse(line) as { port: number; aedes: string }));
    p.once('exit', (code) => reject(new Error(`aedes exited (${code}) before listening: ${stderr}`)));
  });
  p.stdout?.resume();
  return handle(
    'Aedes',
    p,
    ready.port,
    ready.aedes,
    stopper(p, 'SIGTERM', () => {}),
  );
}

export async function startBroker(
  name: BrokerName,
  repoRoot: string,
  opts: StartOptions = {},
): Promise<RunningBroker> {
  if (name === 'FerryMQ') return startFerrymq(repoRoot, opts);
  if (name === 'Mosquitto') return startMosquitto();
  return startAedes(repoRoot);
}
