/**
 * `listen_backlog_max`: the accept queue of the MQTT, Kafka and admin
 * listeners. Node's default (511) overflowed when 2,000 clients connected
 * at once (the Raft bench's admin API: ~500 connects per run waited for
 * SYN retransmits of 1 s and 3 s). `ss` shows a listening socket's
 * backlog as its Send-Q.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOverflows } from '../metrics.ts';
import { type BrokerProcess, spawnBroker } from './helpers/broker.ts';

const running: BrokerProcess[] = [];
afterEach(async () => {
  for (const b of running.splice(0)) {
    b.signal('SIGKILL');
    await b.exited;
  }
});

/** Send-Q of the listening TCP socket on `port` (its accept queue length). */
function backlogOf(port: number): number {
  const out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const fields = out.split('\n')[0]?.trim().split(/\s+/) ?? [];
  // State Recv-Q Send-Q Local:Port Peer:Port
  return Number(fields[2]);
}

function ports(b: BrokerProcess): Record<string, number> {
  const l = b.listeners();
  const port = (a: string | undefined) => Number(a?.slice(a.lastIndexOf(':') + 1));
  return { mqtt: port(l.mqtt), mqtt_ws: port(l.mqtt_ws), kafka: port(l.kafka), admin: port(l.admin) };
}

describe('listen_backlog_max', () => {
  it('sets the accept queue of the MQTT, MQTT WebSocket, Kafka and admin listeners', async () => {
    const b = await spawnBroker({ env: { FERRYMQ_LISTEN_BACKLOG_MAX: '777' } });
    running.push(b);
    await b.ready;
    for (const [name, port] of Object.entries(ports(b))) expect([name, backlogOf(port)]).toEqual([name, 777]);
  });

  it('is 4,096 by default, or what the kernel allows (net.core.somaxconn)', async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const b = await spawnBroker();
    running.push(b);
    await b.ready;
    const metrics = await (await fetch(`${b.adminUrl()}/metrics`)).text();
    expect(metrics).toMatch(/^ferrymq_tcp_listen_overflows_total\{node_id="1"\} \d+$/m);
    for (const [name, port] of Object.entries(ports(b)))
      expect([name, backlogOf(port)]).toEqual([name, Math.min(4096, somaxconn)]);
  });

  it('reads the kernel counter of dropped connects', () => {
    expect(listenOverflows('/proc/net/netstat')).toBeGreaterThanOrEqual(0);
    expect(listenOverflows('/nonexistent')).toBeUndefined();
  });
});
