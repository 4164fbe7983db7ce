/**
 * Other people's MQTT clients, run as processes with hard timeouts so a test
 * never hangs: mosquitto_pub / mosquitto_sub (mosquitto-clients) and the
 * scripted paho-mqtt client (ts/test/clients/paho_client.py) in the venv
 * that scripts/test-deps.sh makes at ~/.cache/ferrymq/venv.
 *
 * mosquitto-clients 2.0.11 (Debian 12) has no WebSocket transport: `-L`
 * takes only mqtt:// and mqtts:// URLs, so WebSocket is covered by mqtt.js
 * and paho instead.
 */
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './broker.ts';
import type { Target } from './mqtt-target.ts';

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run a process, killing it after `timeoutMs`; never rejects. */
export function runProcess(file: string, args: string[], timeoutMs: number): Promise<ProcResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) => {
        const e = err as
          | (Error & { code?: number | string; signal?: NodeJS.Signals; killed?: boolean })
          | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr: stderr + (e && typeof e.code === 'string' ? `${e.code}: ${e.message}` : ''),
          timedOut: Boolean(e?.killed) && Date.now() - started >= timeoutMs - 50,
        });
      },
    );
  });
}

export type MosquittoVersion = '31' | '311' | '5';

export interface MosquittoCommon {
  version?: MosquittoVersion;
  /** tcp (default) or tls (with the target's CA; `cert` adds the client certificate). */
  transport?: 'tcp' | 'tls';
  cert?: boolean;
  clientId?: string;
  qos?: 0 | 1 | 2;
  /** Extra raw arguments. */
  extra?: string[];
  timeoutMs?: number;
}

function commonArgs(t: Target, o: MosquittoCommon): string[] {
  const tls = o.transport === 'tls';
  const addr = tls ? t.tls : t.tcp;
  const args = ['-h', addr.host, '-p', String(addr.port), '-V', o.version ?? '311'];
  if (tls) {
    args.push('--cafile', t.ca);
    if (o.cert) args.push('--cert', t.clientCert, '--key', t.clientKey);
  }
  if (o.clientId) args.push('-i', o.clientId);
  if (o.qos !== undefined) args.push('-q', String(o.qos));
  return args;
}

/** mosquitto_pub -t topic -m message [-r] ... */
export function mosquittoPub(
  t: Target,
  topic: string,
  message: string,
  o: MosquittoCommon & { retain?: boolean } = {},
): Promise<ProcResult> {
  const args = [...commonArgs(t, o), '-t', topic, '-m', message];
  if (o.retain) args.push('-r');
  args.push(...(o.extra ?? []));
  return runProcess('mosquitto_pub', args, o.timeoutMs ?? 10_000);
}

/**
 * mosquitto_sub -t topic -C count -W seconds -v: resolves with the lines
 * ("topic payload") once `count` messages arrived or the wait ran out.
 */
export async function mosquittoSub(
  t: Target,
  topics: string | string[],
  o: MosquittoCommon & { count: number; waitSeconds?: number },
): Promise<ProcResult & { lines: string[] }> {
  const wait = o.waitSeconds ?? 5;
  const args = [...commonArgs(t, o), '-v', '-C', String(o.count), '-W', String(wait)];
  for (const topic of Array.isArray(topics) ? topics : [topics]) args.push('-t', topic);
  args.push(...(o.extra ?? []));
  const r = await runProcess('mosquitto_sub', args, o.timeoutMs ?? (wait + 5) * 1_000);
  return { ...r, lines: r.stdout.split('\n').filter((l) => l.length > 0) };
}

/**
 * Start mosquitto_sub and resolve once it is subscribed (it prints nothing on
 * subscribe, so wait `settleMs`), returning the eventual result.
 */
export async function mosquittoSubStarted(
  t: Target,
  topics: string | string[],
  o: MosquittoCommon & { count: number; waitSeconds?: number; settleMs?: number },
): Promise<{ done: Promise<ProcResult & { lines: string[] }> }> {
  const done = mosquittoSub(t, topics, o);
  await new Promise((r) => setTimeout(r, o.settleMs ?? 400));
  return { done };
}

// ---------------------------------------------------------------------------
// paho-mqtt (Python)
// ---------------------------------------------------------------------------
export const venvPython = join(
  process.env.FERRYMQ_TEST_VENV ?? join(homedir(), '.cache', 'ferrymq', 'venv'),
  'bin',
  'python',
);
export const pahoScript = join(repoRoot, 'ts', 'test', 'clients', 'paho_client.py');

export type PahoProtocol = 'MQTTv31' | 'MQTTv311' | 'MQTTv5';

export interface PahoStep {
  op: 'subscribe' | 'unsubscribe' | 'publish' | 'wait' | 'sleep' | 'disconnect' | 'drop';
  [key: string]: unknown;
}

export interface PahoSpec {
  protocol: PahoProtocol;
  client_id?: string;
  clean?: boolean;
  keepalive?: number;
  session_expiry?: number;
  transport?: 'tcp' | 'tls' | 'ws' | 'wss';
  cert?: boolean;
  will?: { topic: string; payload?: string; qos?: number; retain?: boolean; delay?: number };
  steps?: PahoStep[];
}

export interface PahoResult {
  connack: { reason_code: number; session_present: boolean; props: Record<string, unknown> } | null;
  suback: number[][];
  messages: Array<{
    topic: string;
    payload: string;
    qos: number;
    retain: boolean;
    props: Record<string, unknown>;
  }>;
  published: number;
  error: string | null;
  /** Set when the process failed (no JSON on stdout). */
  proc?: ProcResult;
}

/** Run the scripted paho client; always resolves (errors are in `error`). */
export async function paho(t: Target, spec: PahoSpec, timeoutMs = 20_000): Promise<PahoResult> {
  const transport = spec.transport ?? 'tcp';
  const secure = transport === 'tls' || transport === 'wss';
  let host = t.tcp.host;
  let port = t.tcp.port;
  if (transport === 'tls') ({ host, port } = t.tls);
  if (transport === 'ws' || transport === 'wss') {
    const u = new URL(transport === 'ws' ? t.ws : t.wss);
    host = u.hostname;
    port = Number(u.port);
  }
  const { transport: _t, cert, ...rest } = spec;
  const json = {
    ...rest,
    host,
    port,
    transport: transport === 'ws' || transport === 'wss' ? 'websockets' : 'tcp',
    ...(secure ? { tls: { ca: t.ca, ...(cert ? { cert: t.clientCert, key: t.clientKey } : {}) } } : {}),
  };
  const r = await runProcess(venvPython, [pahoScript, JSON.stringify(json)], timeoutMs);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as PahoResult;
  } catch {
    return {
      connack: null,
      suback: [],
      messages: [],
      published: 0,
      error: `paho failed: ${r.stderr}`,
      proc: r,
    };
  }
}
