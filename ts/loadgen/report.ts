/**
 * What `ferrymq bench` prints: the live progress line (stderr), the final
 * table (stdout) and the same figures as one JSON object (--json).
 */
import type { LatencySummary } from './histogram.ts';
import type { RunResult, Tick } from './runner.ts';
import type { Totals } from './shared.ts';

export interface BenchReport {
  tool: 'ferrymq bench';
  protocol: 'mqtt' | 'kafka';
  scenario: string;
  target: string;
  /** One line saying what ran (versions, QoS, sizes, clients, rate). */
  description: string;
  options: Record<string, unknown>;
  workers: number;
  /** CPU of the generator process over the measured window, % of one core (all its threads). */
  generatorCpuPct: number;
  /** Seconds of the measured window. */
  durationS: number;
  /** Counts in the measured window. */
  messages: { sent: number; received: number; acked: number };
  throughput: {
    sentPerS: number;
    receivedPerS: number;
    ackedPerS: number;
    sentMiBPerS: number;
    receivedMiBPerS: number;
  };
  /** Counts over the whole run (warm-up and drain included). */
  totals: Totals;
  connections: number;
  errors: number;
  errorMessages: string[];
  /** µs; null when nothing was measured. endToEnd: payload stamp → receipt; ack: send → acknowledgement; connect: CONNECT → CONNACK. */
  latencyUs: { endToEnd: LatencySummary | null; ack: LatencySummary | null; connect: LatencySummary | null };
}

export function buildReport(
  head: Pick<BenchReport, 'protocol' | 'scenario' | 'target' | 'description' | 'options'>,
  r: RunResult,
  /** Payload bytes per message, for MiB/s. */
  messageBytes: number,
): BenchReport {
  const s = r.seconds > 0 ? r.seconds : Number.NaN;
  const mib = 1024 * 1024;
  return {
    tool: 'ferrymq bench',
    ...head,
    workers: r.workers,
    generatorCpuPct: r.generatorCpuPct,
    durationS: round(r.seconds, 3),
    messages: { sent: r.measured.sent, received: r.measured.received, acked: r.measured.acked },
    throughput: {
      sentPerS: round(r.measured.sent / s),
      receivedPerS: round(r.measured.received / s),
      ackedPerS: round(r.measured.acked / s),
      sentMiBPerS: round((r.measured.sent * messageBytes) / mib / s, 2),
      receivedMiBPerS: round((r.measured.received * messageBytes) / mib / s, 2),
    },
    totals: r.totals,
    connections: r.totals.connected,
    errors: r.totals.errors,
    errorMessages: r.errorMessages,
    latencyUs: {
      endToEnd: r.latency.latency ?? null,
      ack: r.latency.ack ?? null,
      connect: r.latency.connect ?? null,
    },
  };
}

function round(x: number, digits = 0): number {
  if (!Number.isFinite(x)) return 0;
  const m = 10 ** digits;
  return Math.round(x * m) / m;
}

export function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** The live line: elapsed, rates over the last second, connections, errors. */
export function progressLine(t: Tick, acks: boolean): string {
  const parts = [
    `[${t.elapsedS.toFixed(0).padStart(4)} s ${t.phase === 'warmup' ? 'warm-up' : 'measure'}]`,
    `sent ${fmt(t.perS.sent)}/s`,
    `received ${fmt(t.perS.received)}/s`,
  ];
  if (acks) parts.push(`acked ${fmt(t.perS.acked)}/s`);
  parts.push(`connections ${fmt(t.totals.connected)}`, `errors ${fmt(t.totals.errors)}`);
  return parts.join('  ');
}

function table(rows: string[][]): string {
  const width = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0))).join('   '))
    .join('\n');
}

export function renderReport(r: BenchReport): string {
  const out = [
    `ferrymq bench ${r.protocol} ${r.scenario} → ${r.target}`,
    r.description,
    `${r.workers} worker thread(s), measured ${fmt(r.durationS, 1)} s, generator CPU ${fmt(r.generatorCpuPct)}% of one core`,
    '',
  ];
  if (r.scenario === 'conn') {
    const opened = r.latencyUs.connect?.count ?? 0;
    out.push(`connections opened: ${fmt(opened)}, held at the end: ${fmt(r.connections)}`, '');
  }
  const rows = [['', 'messages', 'msg/s', 'MiB/s']];
  rows.push(['sent', fmt(r.messages.sent), fmt(r.throughput.sentPerS), fmt(r.throughput.sentMiBPerS, 2)]);
  rows.push([
    'received',
    fmt(r.messages.received),
    fmt(r.throughput.receivedPerS),
    fmt(r.throughput.receivedMiBPerS, 2),
  ]);
  if (r.messages.acked > 0 || r.latencyUs.ack)
    rows.push(['acknowledged', fmt(r.messages.acked), fmt(r.throughput.ackedPerS), '']);
  if (r.scenario !== 'conn') out.push(table(rows), '');
  const lat = [['latency (µs)', 'count', 'p50', 'p90', 'p99', 'p99.9', 'max']];
  const add = (name: string, l: LatencySummary | null): void => {
    if (l) lat.push([name, fmt(l.count), fmt(l.p50), fmt(l.p90), fmt(l.p99), fmt(l.p999), fmt(l.max)]);
  };
  add('end to end', r.latencyUs.endToEnd);
  add('acknowledgement', r.latencyUs.ack);
  add('connect', r.latencyUs.connect);
  if (lat.length > 1) out.push(table(lat), '');
  out.push(`connections: ${fmt(r.connections)}   errors: ${fmt(r.errors)}`);
  for (const m of r.errorMessages) out.push(`  error: ${m}`);
  return `${out.join('\n')}\n`;
}
