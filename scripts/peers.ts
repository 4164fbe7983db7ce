// The comparison brokers for `ferrymq bench` and `npm run bench`, installed
// from the registries this machine reaches and started on 127.0.0.1 in the
// background, each under the hard file-descriptor limit (so 50k-connection
// runs are not capped by the soft one):
//
//   node scripts/peers.ts install [name|all]   mosquitto: Debian package (apt-get) when missing;
//                                              aedes: the npm devDependency (npm ci);
//                                              kafka: scripts/kafka-jars.sh (Maven Central)
//   node scripts/peers.ts start <name> [--port N]
//                                              starts it, prints one JSON line: name, address, pid, version
//   node scripts/peers.ts stop [name|all]      SIGTERM (SIGKILL after 30 s), removes its directory
//   node scripts/peers.ts status               the running ones, one JSON line each
//
// Names: mosquitto, aedes, kafka (Apache Kafka 4, KRaft, one node, started
// by scripts/peer-kafka.ts), ferrymq (this checkout's bin/ferrymq.js over
// dist/, a temporary data dir). State (pid, address, directory) lives in
// ~/.cache/ferrymq/peers/<name>.json; one instance per name.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../ts/test/helpers/ports.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** Where the state files live (read on each use, so a caller may set FERRYMQ_PEERS_DIR first). */
const stateDir = (): string => process.env.FERRYMQ_PEERS_DIR ?? join(homedir(), '.cache', 'ferrymq', 'peers');
const NAMES = ['mosquitto', 'aedes', 'kafka', 'ferrymq'] as const;
type Name = (typeof NAMES)[number];

export interface PeerState {
  name: Name;
  /** host:port clients connect to (MQTT for mosquitto/aedes/ferrymq, Kafka for kafka). */
  address: string;
  /** ferrymq only: its Kafka listener. */
  kafka?: string;
  /** The process `stop` signals (for kafka: the node wrapper, scripts/peer-kafka.ts). */
  pid: number;
  /** The broker process itself, for its RSS and CPU (kafka: the JVM; else = pid). */
  brokerPid: number;
  version: string;
  dir: string;
  log: string;
}

/** A peer could not be installed, started or named; the command prints it and exits 1. */
export class PeerError extends Error {}

function die(message: string): never {
  throw new PeerError(message);
}

function hardNofile(): string {
  try {
    return execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  } catch {
    return '65536';
  }
}

export function mosquittoBin(): string | undefined {
  return ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) =>
    existsSync(p),
  );
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function statePath(name: Name): string {
  return join(stateDir(), `${name}.json`);
}

export function readState(name: Name): PeerState | undefined {
  try {
    const s = JSON.parse(readFileSync(statePath(name), 'utf8')) as PeerState;
    return alive(s.pid) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Start `file args` detached under the hard fd limit, output to `log`; exec keeps the pid the broker's. */
function launch(
  file: string,
  args: string[],
  dir: string,
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const fd = openSync(log, 'a');
  const child = spawn('bash', ['-c', `ulimit -n ${hardNofile()} && exec "$0" "$@"`, file, ...args], {
    cwd: dir,
    env,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  child.unref();
  return child.pid as number;
}

async function waitFor<T>(
  what: string,
  pid: number,
  log: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (!alive(pid)) die(`${what} exited while starting:\n${readTail(log)}`);
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      die(`${what} not ready within ${timeoutMs / 1000} s:\n${readTail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readTail(log: string): string {
  try {
    return readFileSync(log, 'utf8').slice(-4000);
  } catch {
    return '';
  }
}

/** The first JSON line of a log for which `pick` returns something. */
function jsonLine<T>(log: string, pick: (j: Record<string, unknown>) => T | undefined): T | undefined {
  for (const line of readTail(log).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const v = pick(JSON.parse(line) as Record<string, unknown>);
      if (v !== undefined) return v;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

function version(cmd: string, args: string[], re: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return re.exec(out)?.[1] ?? '?';
  } catch (e) {
    return re.exec(String((e as { stdout?: string }).stdout ?? ''))?.[1] ?? '?';
  }
}

function packageVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

export function install(name: Name | 'all'): void {
  if (name === 'all' || name === 'mosquitto') {
    if (!mosquittoBin()) {
      const run = (args: string[]): void => {
        const cmd = userInfo().uid === 0 ? args : ['sudo', ...args];
        execFileSync(cmd[0] as string, cmd.slice(1), {
          stdio: 'inherit',
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        });
      };
      run(['apt-get', 'update', '-qq']);
      run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'mosquitto']);
    }
    if (!mosquittoBin()) die('mosquitto is not installed after apt-get install mosquitto');
  }
  if (name === 'all' || name === 'aedes') {
    if (!existsSync(join(repoRoot, 'node_modules', 'aedes', 'package.json'))) {
      execFileSync('npm', ['ci'], { cwd: repoRoot, stdio: 'inherit' });
    }
  }
  if (name === 'all' || name === 'kafka') {
    execFileSync('bash', [join(repoRoot, 'scripts', 'kafka-jars.sh')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
}

export async function start(name: Name, port?: number): Promise<PeerState> {
  const running = readState(name);
  if (running) return running;
  mkdirSync(stateDir(), { recursive: true });
  if (name !== 'ferrymq') install(name);
  const dir = mkdtempSync(join(tmpdir(), `ferrymq-peer-${name}-`));
  const log = join(dir, 'output.log');
  let state: PeerState;
  if (name === 'mosquitto') {
    const p = port ?? (await freePort());
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `user ${userInfo().username}`,
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'connection_messages false',
        'set_tcp_nodelay true',
        `listener ${p} 127.0.0.1`,
        '',
      ].join('\n'),
    );
    const bin = mosquittoBin() as string;
    const pid = launch(bin, ['-c', conf], dir, log);
    await waitFor('mosquitto', pid, log, async () => ((await portOpen(p)) ? true : undefined), 10_000);
    state = {
      name,
      address: `127.0.0.1:${p}`,
      pid,
      brokerPid: pid,
      version: version(bin, ['-h'], /version (\S+)/),
      dir,
      log,
    };
  } else if (name === 'aedes') {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const server = join(repoRoot, 'bench', 'lib', 'mqtt-aedes-server.ts');
    const pid = launch(process.execPath, [server, String(port ?? 0)], dir, log, env);
    const ready = await waitFor(
      'aedes',
      pid,
      log,
      async () => jsonLine(log, (j) => (typeof j.port === 'number' ? j : undefined)),
      15_000,
    );
    state = {
      name,
      address: `127.0.0.1:${ready.port}`,
      pid,
      brokerPid: pid,
      version: String(ready.aedes),
      dir,
      log,
    };
  } else if (name === 'kafka') {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const pid = launch(process.execPath, [join(repoRoot, 'scripts', 'peer-kafka.ts')], dir, log, env);
    const ready = await waitFor(
      'Apache Kafka',
      pid,
      log,
      async () => jsonLine(log, (j) => (typeof j.bootstrap === 'string' ? j : undefined)),
      120_000,
    );
    state = {
      name,
      address: String(ready.bootstrap),
      pid,
      brokerPid: Number(ready.pid),
      version: String(ready.version),
      dir,
      log,
    };
  } else {
    if (!existsSync(join(repoRoot, 'dist', 'cli.js'))) die('dist/ is missing: run npm run build:ts first');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      FERRYMQ_DATA_DIR: join(dir, 'data'),
      FERRYMQ_LOG__FORMAT: 'json',
    };
    for (const l of ['MQTT_TLS', 'MQTT_WS', 'MQTT_WSS', 'ADMIN', 'CLUSTER', 'KAFKA'])
      env[`FERRYMQ_LISTENERS__${l}`] = '127.0.0.1:0';
    env.FERRYMQ_LISTENERS__MQTT = `127.0.0.1:${port ?? 0}`;
    delete env.NODE_OPTIONS;
    const pid = launch(process.execPath, [join(repoRoot, 'bin', 'ferrymq.js'), 'start'], dir, log, env);
    const ready = await waitFor(
      'FerryMQ',
      pid,
      log,
      async () =>
        jsonLine(log, (j) =>
          typeof j.msg === 'string' && j.msg.startsWith('ferrymq ready') ? j : undefined,
        ),
      60_000,
    );
    const listeners = ready.listeners as Record<string, string>;
    state = {
      name,
      address: listeners.mqtt as string,
      kafka: listeners.kafka,
      pid,
      brokerPid: pid,
      version: packageVersion(repoRoot),
      dir,
      log,
    };
  }
  writeFileSync(statePath(name), `${JSON.stringify(state)}\n`);
  return state;
}

export async function stop(name: Name): Promise<boolean> {
  const s = readState(name);
  rmSync(statePath(name), { force: true });
  if (!s) return false;
  try {
    process.kill(s.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  const deadline = Date.now() + 30_000;
  while (alive(s.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(s.pid)) process.kill(s.pid, 'SIGKILL');
  rmSync(s.dir, { recursive: true, force: true });
  return true;
}

function parseName(s: string | undefined, allowAll: boolean): Name | 'all' {
  if (allowAll && (s === undefined || s === 'all')) return 'all';
  if (!(NAMES as readonly string[]).includes(s ?? ''))
    die(`unknown peer "${s ?? ''}" (${NAMES.join(', ')}${allowAll ? ', all' : ''})`);
  return s as Name;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, arg, ...rest] = argv;
  const portAt = rest.indexOf('--port');
  const port = portAt >= 0 ? Number(rest[portAt + 1]) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65_536))
    die('--port needs a port number');
  if (cmd === 'install') install(parseName(arg, true));
  else if (cmd === 'start') {
    const name = parseName(arg, false) as Name;
    console.log(JSON.stringify(await start(name, port)));
  } else if (cmd === 'stop') {
    const n = parseName(arg, true);
    for (const name of n === 'all' ? NAMES : [n]) if (await stop(name)) console.log(`stopped ${name}`);
  } else if (cmd === 'status') {
    for (const name of NAMES) {
      const s = readState(name);
      if (s) console.log(JSON.stringify(s));
    }
  } else
    die(
      'usage: node scripts/peers.ts install [name|all] | start <name> [--port N] | stop [name|all] | status',
    );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`peers: ${e instanceof PeerError ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
