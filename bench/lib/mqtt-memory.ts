/**
 * Memory per idle connection for bench/mqtt.bench.ts (its part 2): RSS of
 * a fresh broker before and with CONNS then CONNS2 idle connections, fresh
 * and "warm" (after carrying some traffic first).
 */
import { connect as tcpConnect } from 'node:net';
import { type BrokerName, hardNofile, startBroker } from './mqtt-brokers.ts';
import { connectPacket, DISCONNECT, PublishTemplate } from './mqtt-codec.ts';
import { C_CONNECTED, COUNTERS } from './mqtt-counters.ts';
import { nextClientSeq, spawnLoad } from './mqtt-load-client.ts';
import { ratio } from './mqtt-report.ts';
import { fmt, renderText, type Table } from './stats.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the bench's environment sets for this scenario (BENCH_CONNS, BENCH_CONNS2, BENCH_MEM_RUNS, BENCH_BROKERS). */
export interface MemoryOptions {
  repoRoot: string;
  brokers: readonly BrokerName[];
  /** CONNS: the first count of idle connections. */
  conns: number;
  /** CONNS2: the second, larger count, on the same broker. */
  conns2: number;
  /** MEM_RUNS: fresh brokers per broker kind; the median is reported. */
  runs: number;
}

interface MemResult {
  before: number;
  /** RSS with CONNS connections open. */
  after: number;
  connected: number;
  failed: number;
  kibPerConn: number;
  /** RSS with CONNS2 connections open (the same broker, CONNS2 − CONNS more). */
  after2: number;
  connected2: number;
  kibPerConn2: number;
  /** (after2 − after) / (connected2 − connected): a connection's cost without the one-time costs. */
  marginalKib: number;
  genCpuS: number;
  connectMs: number;
}

/**
 * QoS 0 PUBLISHes sent by the warm-up (64 B payload, to a topic nobody
 * subscribes to): enough garbage to fill V8's grown young generation a few
 * times over, so that its pages are resident before "RSS before" (with
 * 100,000 they were not all, and the figure moved by ±1 KiB with how much
 * the connect phase itself allocated).
 */
const WARMUP_PUBLISHES = 500_000;

/**
 * One client sends WARMUP_PUBLISHES QoS 0 PUBLISHes, then PINGREQ, and
 * leaves after PINGRESP (so the broker has read them all). A Node broker's
 * first scavenge after start-up doubles V8's young generation (the start-up
 * survivors it promotes count towards the growth rule), a one-time ~28 MiB
 * of RSS that the fresh figure charges to the connections; any traffic
 * triggers it, so the warm figure measures connections on a broker that has
 * already carried some.
 */
async function warmUp(port: number): Promise<void> {
  const s = tcpConnect(port, '127.0.0.1');
  s.setNoDelay(true);
  // First bytes of the packets this client gets (CONNACK 0x20, PINGRESP 0xd0: nothing else is sent to it).
  const seen = new Set<number>();
  let failure: Error | undefined;
  let wake = (): void => {};
  s.on('data', (d: Buffer) => {
    for (const type of [0x20, 0xd0]) if (d.includes(type)) seen.add(type);
    wake();
  });
  s.on('error', (e: Error) => {
    failure = e;
    wake();
  });
  s.on('close', () => {
    failure ??= new Error('warm-up connection closed');
    wake();
  });
  const until = async (type: number): Promise<void> => {
    while (!seen.has(type)) {
      if (failure) throw failure;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  s.write(connectPacket(`warm-${process.pid.toString(36)}-${nextClientSeq()}`));
  await until(0x20);
  const one = new PublishTemplate('bench/warm-up', 0).bytes;
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => one));
  // Queued in this process as fast as the broker reads (~36 MB at most); PINGRESP says it read them all.
  for (let sent = 0; sent < WARMUP_PUBLISHES; sent += 1000) s.write(batch);
  s.write(Buffer.from([0xc0, 0])); // PINGREQ
  await until(0xd0);
  s.end(DISCONNECT);
  s.destroy();
}

/** An `idle` load worker holding `count` connections (CONNECT keepalive 60, CONNACK each). */
async function openIdle(port: number, count: number) {
  const shared = new SharedArrayBuffer(COUNTERS * 4);
  const idle = spawnLoad({
    role: 'idle',
    port,
    qos: 0,
    topics: [],
    idPrefix: `m${process.pid.toString(36)}-${nextClientSeq()}`,
    mode: 'rate',
    rate: 0,
    fanout: 1,
    window: 0,
    count,
    shared,
    sampleCap: 0,
  });
  const ready = await idle.next('ready');
  const connected = Number(ready.connected ?? Atomics.load(new Int32Array(shared), C_CONNECTED));
  const failed = Number(ready.failed ?? 0);
  if (failed > 0) console.log(`    ${failed} connections failed (${ready.firstError})`);
  return {
    connected,
    failed,
    close: async (): Promise<void> => {
      idle.worker.postMessage({ type: 'close' });
      await idle.next('closed');
      await idle.worker.terminate();
    },
  };
}

/**
 * RSS of one fresh broker before any connection, with CONNS idle
 * connections, then with CONNS2 (CONNS2 − CONNS more from a second worker,
 * the first ones still open). The step from CONNS to CONNS2 is the marginal
 * cost of a connection: one-time costs (the young generation's growth, code
 * compiled on first use, allocator arenas) are already paid at CONNS.
 */
async function memoryTest(name: BrokerName, warm: boolean, o: MemoryOptions): Promise<MemResult> {
  const b = await startBroker(name, o.repoRoot);
  const open: Array<() => Promise<void>> = [];
  try {
    await sleep(1500);
    if (warm) {
      await warmUp(b.port);
      await sleep(1500);
    }
    const before = b.rssKiB();
    const g0 = process.cpuUsage();
    const t0 = performance.now();
    const first = await openIdle(b.port, o.conns);
    open.push(first.close);
    const connectMs = performance.now() - t0;
    const g = process.cpuUsage(g0);
    await sleep(3000);
    const after = b.rssKiB();
    const second = await openIdle(b.port, o.conns2 - o.conns);
    open.push(second.close);
    await sleep(3000);
    const after2 = b.rssKiB();
    const connected = first.connected;
    const connected2 = first.connected + second.connected;
    return {
      before,
      after,
      connected,
      failed: first.failed + second.failed,
      kibPerConn: connected > 0 ? (after - before) / connected : Number.NaN,
      after2,
      connected2,
      kibPerConn2: connected2 > 0 ? (after2 - before) / connected2 : Number.NaN,
      marginalKib: second.connected > 0 ? (after2 - after) / second.connected : Number.NaN,
      genCpuS: (g.user + g.system) / 1e6,
      connectMs,
    };
  } finally {
    for (const close of open.reverse()) await close();
    await b.stop();
  }
}

/**
 * Memory per idle connection for every broker, one fresh broker per run
 * (BENCH_MEM_RUNS runs each, the brokers taking turns; the median is
 * reported), printed and returned as the doc's table.
 */
export async function memorySection(o: MemoryOptions): Promise<Table> {
  console.log(
    `\nmemory: ${fmt(o.conns)} then ${fmt(o.conns2)} idle connections per broker (fresh broker each, ${o.runs} run(s) per broker)`,
  );
  const mem = new Map<string, MemResult[]>();
  for (let run = 0; run < o.runs; run++) {
    for (const warm of [false, true]) {
      for (const name of o.brokers) {
        const r = await memoryTest(name, warm, o);
        const k = `${name}|${warm}`;
        mem.set(k, [...(mem.get(k) ?? []), r]);
        console.log(
          `  ${name}${warm ? ' (warm)' : ''}: RSS ${fmt(r.before / 1024, 1)} → ${fmt(r.after / 1024, 1)} → ${fmt(r.after2 / 1024, 1)} MiB, ${fmt(r.connected)} connected in ${fmt(r.connectMs)} ms, then ${fmt(r.connected2)}; ${fmt(r.kibPerConn, 2)} KiB/connection at ${fmt(r.connected)}, ${fmt(r.kibPerConn2, 2)} at ${fmt(r.connected2)}, marginal ${fmt(r.marginalKib, 2)}`,
        );
      }
    }
  }
  // The run with the median KiB/connection stands for the broker (its RSS columns belong to it).
  const pick = (name: BrokerName, warm: boolean): MemResult => {
    const rs = [...(mem.get(`${name}|${warm}`) ?? [])].sort((a, b) => a.kibPerConn - b.kibPerConn);
    return rs[Math.floor((rs.length - 1) / 2)] as MemResult;
  };
  const has = o.brokers.includes('FerryMQ');
  const n1 = fmt(o.conns);
  const n2 = fmt(o.conns2);
  const table: Table = {
    title: `MQTT memory per idle connection (${n1} and ${n2} connections, keepalive 60)`,
    columns: [
      'broker',
      'RSS before (MiB)',
      `RSS at ${n1} → ${n2} (MiB)`,
      'connected',
      `KiB/connection at ${n1}`,
      `at ${n2}`,
      `marginal ${n1}→${n2}`,
      `FerryMQ/broker at ${n1}`,
      'warm: RSS before → after (MiB)',
      `warm: KiB/connection at ${n1}`,
      `warm: marginal ${n1}→${n2}`,
      `warm: FerryMQ/broker at ${n1}`,
    ],
    rows: o.brokers.map((name) => {
      const r = pick(name, false);
      const w = pick(name, true);
      return [
        name,
        fmt(r.before / 1024, 1),
        `${fmt(r.after / 1024, 1)} → ${fmt(r.after2 / 1024, 1)}`,
        `${fmt(r.connected)} / ${fmt(r.connected2)}`,
        fmt(r.kibPerConn, 2),
        fmt(r.kibPerConn2, 2),
        fmt(r.marginalKib, 2),
        has ? ratio(pick('FerryMQ', false).kibPerConn, r.kibPerConn) : '-',
        `${fmt(w.before / 1024, 1)} → ${fmt(w.after / 1024, 1)} → ${fmt(w.after2 / 1024, 1)}`,
        fmt(w.kibPerConn, 2),
        fmt(w.marginalKib, 2),
        has ? ratio(pick('FerryMQ', true).kibPerConn, w.kibPerConn) : '-',
      ];
    }),
    notes: [
      `RSS from /proc/<pid>/status (VmRSS) of a freshly started broker 1.5 s after start ("before"), 3 s after the last CONNACK of ${n1} connections, then 3 s after ${fmt(o.conns2 - o.conns)} more (the first ${n1} still open); ${o.runs === 1 ? 'one run per broker' : `median of ${o.runs} runs per broker (BENCH_MEM_RUNS), each on a fresh broker`}. Lower is better.`,
      `KiB/connection at N: (RSS at N − RSS before) / N, one-time costs included. marginal: (RSS at ${n2} − RSS at ${n1}) / ${fmt(o.conns2 - o.conns)}, the cost of one more connection on the same broker, one-time costs excluded. ${n2} is the most this machine allows: the hard fd limit is ${fmt(hardNofile())} (no CAP_SYS_RESOURCE to raise it) and the load generator holds one fd per connection too, so the issue's 50,000 cannot be measured here.`,
      `warm: the same on another fresh broker that first carried ${fmt(WARMUP_PUBLISHES)} QoS 0 PUBLISHes (64 B, no subscriber) from one client, then idled 1.5 s before "RSS before". Any traffic makes V8 grow a Node broker's young generation once, a one-time cost that the fresh column charges to the connections; the warm column is the cost of a connection on a broker in use (its old generation may also reuse space the warm-up's garbage freed).`,
      'Kernel socket buffers are not in RSS (they are kernel memory) for any of the brokers.',
    ],
  };
  console.log(renderText(table));
  return table;
}
