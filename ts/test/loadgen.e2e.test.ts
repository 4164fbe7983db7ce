/**
 * `ferrymq bench` end to end: the real CLI (bin/ferrymq.js over dist/)
 * loads a spawned FerryMQ and a Mosquitto started by scripts/peers.ts, for
 * about 2 s each, and its --json output must show traffic, no errors and
 * ordered latency percentiles.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PeerState, start as startPeer, stop as stopPeer } from '../../scripts/peers.ts';
import type { LatencySummary } from '../loadgen/histogram.ts';
import type { BenchReport } from '../loadgen/report.ts';
import { type BrokerProcess, binPath, repoRoot, spawnBroker, tempDir } from './helpers/broker.ts';
import { type TestPki, testPki } from './helpers/tls.ts';

function bench(args: string[]): Promise<BenchReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [binPath, 'bench', ...args, '--json', '--workers', '2'],
      { cwd: repoRoot, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`ferrymq bench ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as BenchReport);
      },
    );
  });
}

function ordered(l: LatencySummary | null): void {
  expect(l).not.toBeNull();
  if (!l) return;
  expect(l.count).toBeGreaterThan(0);
  expect(l.min).toBeGreaterThan(0);
  expect(l.min).toBeLessThanOrEqual(l.p50);
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.p999);
  expect(l.p999).toBeLessThanOrEqual(l.max);
}

/** No error, and a measured window of `minS` seconds (a consumer that caught up ends its window early). */
function clean(r: BenchReport, minS = 1.5): void {
  expect(r.errors, r.errorMessages.join('; ')).toBe(0);
  expect(r.errorMessages).toEqual([]);
  expect(r.durationS).toBeGreaterThan(minS);
}

let ferrymq: BrokerProcess;
let mosquitto: PeerState;
let pki: TestPki;

beforeAll(async () => {
  process.env.FERRYMQ_PEERS_DIR = await tempDir('ferrymq-peers-');
  pki = await testPki();
  [ferrymq, mosquitto] = await Promise.all([
    spawnBroker({
      env: { FERRYMQ_TLS__CERT_FILE: pki.serverCert, FERRYMQ_TLS__KEY_FILE: pki.serverKey },
    }).then(async (b) => {
      await b.ready;
      return b;
    }),
    startPeer('mosquitto'),
  ]);
});

afterAll(async () => {
  ferrymq?.signal('SIGINT');
  await Promise.all([ferrymq?.exited, stopPeer('mosquitto')]);
});

describe('ferrymq bench', () => {
  for (const target of ['FerryMQ', 'Mosquitto'] as const) {
    it(`mqtt pubsub against ${target}: QoS 1 at a fixed rate, every message delivered, latency percentiles ordered`, async () => {
      const address = target === 'FerryMQ' ? (ferrymq.listeners().mqtt as string) : mosquitto.address;
      const r = await bench([
        'mqtt',
        'pubsub',
        '-H',
        address,
        '-d',
        '2',
        '-q',
        '1',
        '-P',
        '4',
        '-S',
        '2',
        '-T',
        '2',
        '--rate',
        '2000',
      ]);
      clean(r);
      expect(r.protocol).toBe('mqtt');
      expect(r.connections).toBe(6);
      expect(r.messages.sent).toBeGreaterThan(2000);
      // Two topics, one subscriber each: every publish is delivered once; at most the drain's worth still in flight.
      expect(r.totals.received).toBeGreaterThanOrEqual(r.totals.sent - 50);
      expect(r.totals.acked).toBeGreaterThanOrEqual(r.totals.sent - 50);
      expect(r.throughput.receivedPerS).toBeGreaterThan(1000);
      ordered(r.latencyUs.endToEnd);
      ordered(r.latencyUs.ack);
      ordered(r.latencyUs.connect);
    });
  }

  it('mqtt pubsub with a shared subscription spreads one stream over the group (MQTT 5)', async () => {
    const r = await bench([
      'mqtt',
      'pubsub',
      '-H',
      ferrymq.listeners().mqtt as string,
      '-V',
      '5',
      '-d',
      '2',
      '-S',
      '3',
      '--shared',
      'g',
      '--rate',
      '1500',
    ]);
    clean(r);
    // Shared: each message goes to one member of the group, not to all three.
    expect(r.totals.received).toBeLessThanOrEqual(r.totals.sent);
    expect(r.totals.received).toBeGreaterThan(r.totals.sent * 0.9);
    ordered(r.latencyUs.endToEnd);
  });

  it('mqtt pubsub over TLS, verifying the broker with its CA; an unknown CA is refused', async () => {
    const address = ferrymq.listeners().mqtt_tls as string;
    const r = await bench([
      'mqtt',
      'pubsub',
      '-H',
      address,
      '--ca',
      pki.ca,
      '-d',
      '2',
      '-q',
      '1',
      '--rate',
      '500',
    ]);
    clean(r);
    expect(r.description).toContain('over TLS');
    expect(r.totals.received).toBeGreaterThanOrEqual(r.totals.sent - 20);
    ordered(r.latencyUs.endToEnd);
    await expect(bench(['mqtt', 'pub', '-H', address, '--tls', '-d', '1'])).rejects.toThrow(
      /FERRY_ERR_BENCH_FAILED/,
    );
  });

  it('kafka produce against FerryMQ, then consume what it wrote', async () => {
    const bootstrap = ferrymq.listeners().kafka as string;
    const p = await bench([
      'kafka',
      'produce',
      '-b',
      bootstrap,
      '-t',
      'bench-e2e',
      '--partitions',
      '2',
      '-d',
      '2',
    ]);
    clean(p);
    expect(p.protocol).toBe('kafka');
    expect(p.messages.sent).toBeGreaterThan(1000);
    expect(p.totals.acked).toBe(p.totals.sent);
    ordered(p.latencyUs.ack);
    const c = await bench([
      'kafka',
      'consume',
      '-b',
      bootstrap,
      '-t',
      'bench-e2e',
      '-d',
      '10',
      '--consumers',
      '2',
    ]);
    clean(c, 0);
    expect(c.durationS).toBeLessThan(10);
    expect(c.totals.received).toBe(p.totals.sent);
    ordered(c.latencyUs.endToEnd);
  });
});
