/** `ferrymq bench mqtt <scenario>`: the MQTT run described by MqttOptions. */

import type { MqttOptions } from './options.ts';
import { type BenchReport, buildReport } from './report.ts';
import { type RunHooks, runLoad, workerUrl } from './runner.ts';

export function describeMqtt(o: MqttOptions): string {
  const version = `${o.mqttVersion === 5 ? 'MQTT 5.0' : 'MQTT 3.1.1'}${o.tls ? ' over TLS' : ''}`;
  if (o.scenario === 'conn') {
    return `${version}, ${o.connections} idle connections, keepalive ${o.keepaliveS} s${o.connectRate ? `, ${o.connectRate} connects/s` : ''}${o.localAddresses.length ? `, from ${o.localAddresses.length} source addresses` : ''}`;
  }
  const clients = [
    o.publishers ? `${o.publishers} publisher(s)` : '',
    o.subscribers ? `${o.subscribers} subscriber(s)` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const filter = o.subscribers ? `, filter ${o.shared ? `$share/${o.shared}/` : ''}${o.filter}` : '';
  return `${version}, QoS ${o.qos}, ${o.payloadBytes} B payload, ${clients}, ${o.topics} topic(s) ${o.topic}${filter}, ${o.rate > 0 ? `${o.rate} msg/s` : 'unthrottled'}`;
}

export async function runMqttBench(o: MqttOptions, hooks: RunHooks = {}): Promise<BenchReport> {
  const roles: Record<string, number> =
    o.scenario === 'conn' ? { conn: o.connections } : { sub: o.subscribers, pub: o.publishers };
  const r = await runLoad(
    {
      worker: workerUrl('mqtt-worker', import.meta.url),
      options: o,
      roles,
      senders: o.scenario === 'conn' ? 'conn' : 'pub',
    },
    hooks,
  );
  return buildReport(
    {
      protocol: 'mqtt',
      scenario: o.scenario,
      target: `${o.host}:${o.port}`,
      description: describeMqtt(o),
      options: {
        ...o,
        password: o.password === undefined ? undefined : '***',
        ca: o.ca === undefined ? undefined : '(PEM)',
      },
    },
    r,
    o.payloadBytes,
  );
}
