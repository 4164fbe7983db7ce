import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { resolveConfig } from '../ts/config/load.ts';
import { createLogger } from '../ts/log.ts';
import { METADATA_GROUP, MetaService } from '../ts/meta/service.ts';
import { Storage } from '../ts/storage/storage.ts';
import { type BrokerProcess, repoRoot, spawnBroker, tempDir } from '../ts/test/helpers/broker.ts';
import { freePort } from '../ts/test/helpers/ports.ts';
import { writeDocSection } from './lib/doc.ts';
import { machineInfo, machineLines } from './lib/machine.ts';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? (QUICK ? 1500 : 5000));
const WARM_MS = Number(process.env.BENCH_WARM_MS ?? (QUICK ? 300 : 1000));
/** Comma lists; an empty BENCH_RAFT_CONCURRENCY leaves only the high-concurrency row (one-row A/Bs). */
const list = (v: string): number[] => v.split(',').filter(Boolean).map(Number);
const SIZES = list(process.env.BENCH_RAFT_SIZES ?? '1,3');
const CONCURRENCY = list(process.env.BENCH_RAFT_CONCURRENCY ?? '1,16,256');
/** `--no-direct`: only the admin-API rows (real processes), e.g. for a quick A/B. */
const DIRECT = !args.has('--no-direct');
/**
 * The reference publishes its figure at 5,000 concurrent clients; one
 * generator process holds 2,000 keep-alive HTTP connections (the admin API)
 * without becoming the bottleneck on a small machine, and Little's law puts
 * latency, not throughput, on the rest.
 */
const HIGH_CONCURRENCY = Number(process.env.BENCH_RAFT_HIGH ?? 2000);
const VALUE = 'x'.repeat(100);
/** `FERRYMQ_*` overrides for the spawned nodes, for A/B runs: `BENCH_RAFT_ENV='K=V,K=V'`. */
const NODE_ENV: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_RAFT_ENV ?? '')
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

/**
 * BENCH_RAFT_TRACE_DIR: for finding where a tail comes from. Each node's
 * stdout (its log and whatever V8 flags such as --trace-gc print) and stderr
 * go to `<dir>/<size>n-node<i>[-leader].log`, every measured window's
 * latencies (start ms since the window opened, duration) to
 * `<dir>/<size>n-<proposers>p-lat.csv`, each node's GC and event-loop figures
 * over the window (its /metrics) are printed, and nodes are stopped with
 * SIGINT instead of SIGKILL so that a --cpu-prof is written.
 */
const TRACE_DIR = process.env.BENCH_RAFT_TRACE_DIR;
/** Another build's bin/ferrymq.js for the nodes (an A/B of two builds without touching this dist/). */
const NODE_BIN = process.env.BENCH_RAFT_BIN;

/** CPU time (user + system, ms) a process has used, from /proc (Linux; 0 elsewhere). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** The figures of a node's /metrics a tail is read from: GC time and count by kind, event-loop delay. */
async function probe(p: BrokerProcess): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await fetch(`${p.adminUrl()}/metrics`)
    .then((r) => r.text())
    .catch(() => ''); // A node that died shows as "GC none" and NaN delays; its log says why.
  for (const line of text.split('\n')) {
    const gc = /^nodejs_gc_duration_seconds_(sum|count)\{[^}]*kind="(\w+)"[^}]*\} (\S+)$/.exec(line);
    if (gc) out.set(`gc_${gc[1]}_${gc[2]}`, Number(gc[3]));
    const lag = /^nodejs_eventloop_lag_(max|p99|p50)_seconds\{[^}]*\} (\S+)$/.exec(line);
    if (lag) out.set(`lag_${lag[1]}`, Number(lag[2]));
  }
  return out;
}

/** One line per node: GC ms/count by kind over the window (from two probes), event-loop delay at its end. */
function probeLine(name: string, before: Map<string, number>, after: Map<string, number>): string {
  const parts: string[] = [];
  for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
    const sum = (after.get(`gc_sum_${kind}`) ?? 0) - (before.get(`gc_sum_${kind}`) ?? 0);
    const count = (after.get(`gc_count_${kind}`) ?? 0) - (before.get(`gc_count_${kind}`) ?? 0);
    if (count > 0) parts.push(`${kind} ${count}× ${(sum * 1000).toFixed(0)} ms`);
  }
  // prom-client samples every 20 ms (ts/metrics.ts), and the figures include that interval.
  const lag = (k: string) => ((after.get(`lag_${k}`) ?? Number.NaN) * 1000).toFixed(1);
  return `  ${name}: GC ${parts.join(', ') || 'none'}; event-loop delay (20 ms sampling included) p50 ${lag('p50')} p99 ${lag('p99')} max ${lag('max')} ms`;
}

/** Writes each node's captured stdout and stderr to TRACE_DIR. */
function saveLogs(procs: BrokerProcess[], leader: string): void {
  if (!TRACE_DIR) return;
  procs.forEach((p, i) => {
    const role = p.adminUrl() === leader ? '-leader' : '';
    const lines = p.logs.map((l) =>
      Object.keys(l).length === 2 && l.level === 30 ? l.msg : JSON.stringify(l),
    );
    writeFileSync(
      `${TRACE_DIR}/${procs.length}n-node${i + 1}${role}.log`,
      `${lines.join('\n')}\n--- stderr ---\n${p.stderr()}`,
    );
  });
}

async function startCluster(n: number): Promise<BrokerProcess[]> {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const members = n === 1 ? '' : ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',');
  const procs = await Promise.all(
    ports.map(async (port, i) =>
      spawnBroker({
        ...(NODE_BIN ? { command: { file: process.execPath, args: [NODE_BIN] } } : {}),
        dataDir: await tempDir('ferrymq-raftbench-'),
        env: {
          FERRYMQ_NODE_ID: String(i + 1),
          FERRYMQ_ROLES: 'meta',
          FERRYMQ_CLUSTER__MEMBERS: members,
          FERRYMQ_LISTENERS__CLUSTER: `127.0.0.1:${port}`,
          ...NODE_ENV,
        },
      }),
    ),
  );
  await Promise.all(procs.map((p) => p.ready));
  return procs;
}

function call(agent: Agent, base: URL, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: body
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
          : {},
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function leaderAdmin(procs: BrokerProcess[]): Promise<URL> {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    for (const p of procs) {
      try {
        const r = await fetch(`${p.adminUrl()}/api/v1/cluster`);
        const s = (await r.json()) as { node_id: number; groups: { name: string; role: string }[] };
        if (s.groups.find((g) => g.name === 'metadata')?.role === 'leader') return new URL(p.adminUrl());
      } catch {
        // Not up yet.
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no metadata leader within 20 s');
}

interface Row {
  nodes: number;
  proposers: number;
  writesPerS: number;
  p50: number;
  p99: number;
  errors: number;
  /** Through HTTP: the failed calls by status, e.g. "503×4" (empty when none). */
  errorStatuses?: string;
  /** CPU of every node (user + system) per committed write, µs; the measure that survives a busy machine. */
  cpuUsPerWrite: number;
  /** The same for the load generator (this process). */
  genCpuUsPerWrite: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * Keys a row writes, over all its proposers: each proposer cycles through its
 * share. Rows of one cluster add up (4 rows: 80,000 keys), which stays under
 * `meta.kv_keys_max` (100,000 by default), so every put is a real write and
 * none is refused with 429 for a full key space.
 */
const KEYS_PER_ROW = 20_000;
const keysPerProposer = (proposers: number) => Math.max(1, Math.floor(KEYS_PER_ROW / proposers));

/** "429×12, 0×3": the non-200 answers by status (0: no HTTP answer), for the console line. */
function statusSummary(m: Map<number, number>): string {
  return [...m].map(([s, n]) => `${s}×${n}`).join(', ');
}

async function measure(base: URL, nodes: number, proposers: number, procs: BrokerProcess[]): Promise<Row> {
  const pids = procs.map((p) => p.proc.pid ?? 0);
  const agent = new Agent({ keepAlive: true, maxSockets: proposers });
  const lat: number[] = [];
  /** Start of each measured call, ms since the window opened (TRACE_DIR only). */
  const starts: number[] = [];
  /** Warm-up calls answered inside the window: [start (negative), latency] (TRACE_DIR only). */
  const rampCalls: [number, number][] = [];
  let t0 = 0;
  let errors = 0;
  const failed = new Map<number, number>();
  const keys = keysPerProposer(proposers);
  let phase: 'warm' | 'measure' | 'stop' = 'warm';
  const loop = async (p: number) => {
    for (let i = 0; phase !== 'stop'; i++) {
      const start = performance.now();
      const measured = phase === 'measure';
      let status = 0;
      try {
        status = await call(
          agent,
          base,
          'PUT',
          `/api/v1/cluster/kv/b/${nodes}/${p}/${i % keys}`,
          `{"value":"${VALUE}"}`,
        );
      } catch {
        status = 0;
      }
      if (phase !== 'measure') continue;
      if (!measured) {
        // A call of the warm-up: the first one of each connection includes its
        // TCP set-up, which with 2,000 connects at once waits for SYN
        // retransmits (1 s, 3 s) once the listener's accept queue overflowed.
        // It is the ramp, not the steady state the row measures.
        if (TRACE_DIR && status === 200) rampCalls.push([start - t0, performance.now() - start]);
        continue;
      }
      if (status === 200) {
        lat.push(performance.now() - start);
        if (TRACE_DIR) starts.push(start - t0);
      } else {
        errors++;
        failed.set(status, (failed.get(status) ?? 0) + 1);
      }
    }
  };
  const loops = Array.from({ length: proposers }, (_, p) => loop(p));
  await new Promise((r) => setTimeout(r, WARM_MS));
  const before = TRACE_DIR ? await Promise.all(procs.map(probe)) : [];
  phase = 'measure';
  t0 = performance.now();
  const cpu0 = pids.map(cpuMs);
  const gen0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, RUN_MS));
  const n = lat.length;
  const elapsed = performance.now() - t0;
  const cpu = pids.reduce((sum, pid, i) => sum + cpuMs(pid) - (cpu0[i] ?? 0), 0);
  const gen = process.cpuUsage(gen0);
  const after = TRACE_DIR ? await Promise.all(procs.map(probe)) : [];
  phase = 'stop';
  await Promise.all(loops);
  agent.destroy();
  if (TRACE_DIR) {
    procs.forEach((p, i) => {
      const leader = p.adminUrl() === base.toString().replace(/\/$/, '') ? ' (leader)' : '';
      console.log(probeLine(`node ${i + 1}${leader}`, before[i] ?? new Map(), after[i] ?? new Map()));
    });
    const ramp = rampCalls.map(([, l]) => l).sort((a, b) => a - b);
    console.log(
      `  warm-up calls answered in the window (not counted): ${ramp.length}, latency min ${(ramp[0] ?? 0).toFixed(0)} max ${(ramp.at(-1) ?? 0).toFixed(0)} ms`,
    );
    writeFileSync(
      `${TRACE_DIR}/${nodes}n-${proposers}p-lat.csv`,
      `start_ms,latency_ms\n${[
        ...rampCalls,
        ...starts.slice(0, n).map((s, i): [number, number] => [s, lat[i] as number]),
      ]
        .map(([s, l]) => `${s.toFixed(1)},${l.toFixed(2)}`)
        .join('\n')}\n`,
    );
  }
  const sorted = lat.slice(0, n).sort((a, b) => a - b);
  return {
    nodes,
    proposers,
    writesPerS: n / (elapsed / 1000),
    p50: pct(sorted, 50),
    p99: pct(sorted, 99),
    errors,
    errorStatuses: statusSummary(failed),
    cpuUsPerWrite: (cpu * 1000) / Math.max(1, n),
    genCpuUsPerWrite: (gen.user + gen.system) / Math.max(1, n),
  };
}

/** Runs `proposers` loops of `propose` against `leader` for the warm-up and the measuring window. */
async function measureDirect(leader: MetaService, nodes: number, proposers: number): Promise<Row> {
  const lat: number[] = [];
  let errors = 0;
  let phase: 'warm' | 'measure' | 'stop' = 'warm';
  const loop = async (p: number) => {
    for (let i = 0; phase !== 'stop'; i++) {
      const t0 = performance.now();
      const measured = phase === 'measure';
      let ok = false;
      try {
        ok = (
          await leader.propose(METADATA_GROUP, {
            op: 'put',
            key: `d/${nodes}/${p}/${i % keysPerProposer(proposers)}`,
            value: VALUE,
          })
        ).ok;
      } catch {
        ok = false;
      }
      if (phase !== 'measure' || !measured) continue;
      if (ok) lat.push(performance.now() - t0);
      else errors++;
    }
  };
  const loops = Array.from({ length: proposers }, (_, p) => loop(p));
  await new Promise((r) => setTimeout(r, WARM_MS));
  phase = 'measure';
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, RUN_MS));
  const n = lat.length;
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  phase = 'stop';
  await Promise.all(loops);
  const sorted = lat.slice(0, n).sort((a, b) => a - b);
  return {
    nodes,
    proposers,
    writesPerS: n / (elapsed / 1000),
    p50: pct(sorted, 50),
    p99: pct(sorted, 99),
    errors,
    // Nodes and proposers share this process here.
    cpuUsPerWrite: (cpu.user + cpu.system) / Math.max(1, n),
    genCpuUsPerWrite: Number.NaN,
  };
}

async function directCluster(n: number): Promise<{ leader: MetaService; close: () => Promise<void> }> {
  const config = resolveConfig(undefined, '(bench)', {});
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const members = n === 1 ? [] : ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const logger = createLogger({ level: 'silent', format: 'json' });
  const started = await Promise.all(
    ports.map(async (port, i) => {
      const storage = await Storage.open(await tempDir('ferrymq-raftbench-'), config.storage);
      const meta = await MetaService.start({
        nodeId: i + 1,
        config: config.meta,
        members,
        listen: { host: '127.0.0.1', port },
        kv: storage.kv,
        logger,
      });
      return { storage, meta };
    }),
  );
  const end = Date.now() + 20_000;
  for (;;) {
    const leader = started.find((s) => s.meta.groups()[METADATA_GROUP]?.role === 'leader')?.meta;
    if (leader) {
      return {
        leader,
        close: async () => {
          for (const s of started) await s.meta.close();
          for (const s of started) await s.storage.close();
        },
      };
    }
    if (Date.now() > end) throw new Error('no metadata leader within 20 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function table(rows: Row[], generator: boolean): string {
  const lines = [
    `| nodes | proposers | committed writes/s | p50 ms | p99 ms | errors | ${generator ? 'node CPU µs/write | generator CPU µs/write' : 'process CPU µs/write'} |`,
    `|---:|---:|---:|---:|---:|---:|---:|${generator ? '---:|' : ''}`,
  ];
  for (const r of rows) {
    const cpu = generator
      ? `${r.cpuUsPerWrite.toFixed(0)} | ${r.genCpuUsPerWrite.toFixed(0)}`
      : r.cpuUsPerWrite.toFixed(0);
    lines.push(
      `| ${r.nodes} | ${r.proposers} | ${Math.round(r.writesPerS).toLocaleString('en-US')} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors}${r.errorStatuses ? ` (${r.errorStatuses})` : ''} | ${cpu} |`,
    );
  }
  return lines.join('\n');
}

function writeDoc(body: string): void {
  writeDocSection(repoRoot, 'raft', body);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const machine = machineInfo(await tempDir('ferrymq-raftbench-'), repoRoot);
  for (const size of SIZES) {
    const procs = await startCluster(size);
    let leader = '';
    try {
      const base = await leaderAdmin(procs);
      leader = base.toString().replace(/\/$/, '');
      for (const c of [...CONCURRENCY, ...(HIGH_CONCURRENCY > 0 ? [HIGH_CONCURRENCY] : [])]) {
        const row = await measure(base, size, c, procs);
        rows.push(row);
        console.log(
          `${size} node(s), ${c} proposers: ${Math.round(row.writesPerS)} writes/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, ${row.errors} errors${row.errorStatuses ? ` (${row.errorStatuses})` : ''}, nodes ${row.cpuUsPerWrite.toFixed(0)} µs CPU/write, generator ${row.genCpuUsPerWrite.toFixed(0)}`,
        );
      }
    } finally {
      if (TRACE_DIR) {
        // A graceful stop, so that a --cpu-prof among the node flags is written.
        for (const p of procs) p.signal('SIGINT');
        const killer = setTimeout(() => {
          for (const p of procs) p.signal('SIGKILL');
        }, 15_000);
        await Promise.all(procs.map((p) => p.exited));
        clearTimeout(killer);
        saveLogs(procs, leader);
      } else {
        for (const p of procs) p.signal('SIGKILL');
        await Promise.all(procs.map((p) => p.exited));
      }
    }
  }
  const direct: Row[] = [];
  for (const size of DIRECT ? SIZES : []) {
    const { leader, close } = await directCluster(size);
    try {
      for (const c of CONCURRENCY) {
        const row = await measureDirect(leader, size, c);
        direct.push(row);
        console.log(
          `direct, ${size} node(s), ${c} proposers: ${Math.round(row.writesPerS)} writes/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, ${row.errors} errors, ${row.cpuUsPerWrite.toFixed(0)} µs CPU/write`,
        );
      }
    } finally {
      await close();
    }
  }
  const out = table(rows, true);
  const outDirect = table(direct, false);
  console.log(
    `\nthrough the admin API (real processes):\n${out}\n\ndirect (no HTTP, nodes in the bench process):\n${outDirect}`,
  );
  const partial =
    !DIRECT || process.env.BENCH_RAFT_SIZES !== undefined || process.env.BENCH_RAFT_CONCURRENCY !== undefined;
  if (QUICK || partial || args.has('--no-doc') || Object.keys(NODE_ENV).length > 0) return;
  writeDoc(
    [
      '## Raft',
      '',
      'Written by `npm run bench:raft` (bench/raft.bench.ts): committed writes/s and commit latency of',
      'the meta service. Real `ferrymq start` processes (role meta, default `[meta]` settings) on',
      '127.0.0.1; each proposer loops `PUT /api/v1/cluster/kv/...` (100-byte value) on the metadata',
      "leader's admin API, answered once the entry is fsynced on a majority and applied on the leader.",
      `Latency is the whole HTTP round trip; ${RUN_MS} ms measured after ${WARM_MS} ms of warm-up. The load`,
      'generator shares the machine with the nodes. Each proposer has its own keep-alive connection; the',
      `last row per size (${HIGH_CONCURRENCY.toLocaleString('en-US')} proposers) is the high-concurrency point, next to the reference's 5,000.`,
      '"node CPU" is the user + system time of every node (from /proc) over the measured window divided',
      'by the writes committed in it (idle work included, so it is high when few writes are made);',
      '"generator CPU" is the same for the bench process. On a shared machine these move less than the',
      'throughput does.',
      '',
      ...machineLines(machine).map((l) => `- ${l}`),
      '',
      '### Through the admin API, real processes',
      '',
      out,
      '',
      '### Direct: `MetaService.propose()`, no HTTP, all nodes in the bench process',
      '',
      'Same proposers and value, calling `propose()` on the leader; the nodes run in the bench',
      'process (real gRPC on 127.0.0.1, each its own RocksDB with fsync), so for 3 nodes they share',
      'one event loop. CPU is the whole process (nodes and proposers) per write.',
      '',
      outDirect,
    ].join('\n'),
  );
}

// The nodes run detached; the helper kills them on exit, so turn signals into an exit.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
