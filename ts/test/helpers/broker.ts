/**
 * Spawns the real `ferrymq start` (bin/ferrymq.js over dist/) as a child
 * process on free ports (port 0) in a temporary data dir, and reads its
 * JSON log lines. Every child is killed when the test process exits, so a
 * failing test never leaves a broker behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const binPath = join(repoRoot, 'bin', 'ferrymq.js');

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) signalGroup(c, 'SIGKILL');
});

/** Signal the child's whole process group, as a terminal's Ctrl-C does (npx forwards nothing itself). */
function signalGroup(c: ChildProcess, signal: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, signal);
  } catch {
    // Already gone.
  }
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface BrokerProcess {
  proc: ChildProcess;
  dataDir: string;
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the ready log line, or rejects if the process exits first. */
  ready: Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  listeners: () => Record<string, string>;
  adminUrl: () => string;
  /** Send a signal to the broker's process group (SIGINT = Ctrl-C). */
  signal: (signal: NodeJS.Signals) => void;
}

export async function tempDir(prefix = 'ferrymq-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface SpawnOptions {
  args?: string[];
  env?: Record<string, string>;
  dataDir?: string;
  command?: { file: string; args: string[] };
  cwd?: string;
}

/** Every listener on port 0 so parallel runs never collide. */
export const FREE_PORTS: Record<string, string> = Object.fromEntries(
  ['MQTT', 'MQTT_TLS', 'MQTT_WS', 'MQTT_WSS', 'KAFKA', 'ADMIN', 'CLUSTER'].map((l) => [
    `FERRYMQ_LISTENERS__${l}`,
    '127.0.0.1:0',
  ]),
);

export async function spawnBroker(opts: SpawnOptions = {}): Promise<BrokerProcess> {
  const dataDir = opts.dataDir ?? (await tempDir());
  const command = opts.command ?? { file: process.execPath, args: [binPath] };
  const proc = spawn(command.file, [...command.args, 'start', ...(opts.args ?? [])], {
    cwd: opts.cwd ?? repoRoot,
    env: {
      ...process.env,
      ...FREE_PORTS,
      FERRYMQ_DATA_DIR: dataDir,
      FERRYMQ_LOG__FORMAT: 'json',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so signals reach the broker behind any wrapper (npx).
    detached: true,
  });
  children.add(proc);
  const started = performance.now();
  const logs: LogLine[] = [];
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>(
    (resolve) => {
      proc.on('exit', (code, signal) => {
        children.delete(proc);
        resolve({ code, signal, ms: performance.now() - started });
      });
    },
  );
  let readyLine: LogLine | undefined;
  const ready = new Promise<LogLine>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { level: 30, msg: line };
      }
      logs.push(parsed);
      if (!readyLine && parsed.msg?.startsWith('ferrymq ready')) {
        readyLine = parsed;
        resolve(parsed);
      }
    });
    exited.then(({ code, signal }) =>
      reject(new Error(`broker exited (code ${code}, signal ${signal}) before ready; stderr: ${stderr}`)),
    );
  });
  ready.catch(() => {});
  const listeners = (): Record<string, string> => {
    if (!readyLine) throw new Error('broker is not ready');
    return readyLine.listeners as Record<string, string>;
  };
  return {
    proc,
    dataDir,
    logs,
    stderr: () => stderr,
    ready,
    exited,
    listeners,
    adminUrl: () => `http://${listeners().admin}`,
    signal: (signal) => signalGroup(proc, signal),
  };
}
