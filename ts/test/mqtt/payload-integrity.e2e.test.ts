/**
 * Payload bytes the broker keeps past the read that brought them: retained
 * messages, a persistent session's queue, a packet larger than one read.
 * FerryMQ's TCP listener reads every socket into one shared buffer
 * (ts/mqtt/shared-reads.ts) that the next read overwrites, so each of
 * these must be a copy; other traffic runs in between to overwrite it.
 * The same cases run with `mqtt.tcp_shared_read_buffer = false`.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { type Clients, TARGET, type Target, uid, useTarget, utopic } from '../helpers/mqtt-target.ts';

/** Distinct payloads of varied sizes, some larger than one 64 KiB read. */
function payloads(n: number, large = false): Buffer[] {
  return Array.from({ length: n }, (_, i) =>
    randomBytes(large && i % 5 === 0 ? 100_000 + i : 1 + ((i * 977) % 3000)),
  );
}

/** 2 MiB to a topic nobody reads, from another client, then a QoS 1 PUBLISH whose PUBACK says all of it was read. */
async function overwrite(clients: Clients): Promise<void> {
  const noise = await clients.connect();
  const chunk = randomBytes(64 * 1024);
  for (let i = 0; i < 32; i++) noise.publish(`noise/${uid()}`, chunk, { qos: 0 });
  await noise.publishAsync(`noise/${uid()}`, 'end', { qos: 1 });
}

function collect(client: MqttClient): Map<string, Buffer[]> {
  const got = new Map<string, Buffer[]>();
  client.on('message', (topic, payload) => {
    const list = got.get(topic) ?? [];
    list.push(Buffer.from(payload));
    got.set(topic, list);
  });
  return got;
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function cases(target: () => Target, clients: Clients): void {
  it('[MQTT-3.3.1-6] retained payloads published back to back are delivered byte for byte after other traffic', async () => {
    const base = utopic('keep');
    const sent = payloads(30, true);
    const pub = await clients.connect();
    // The first ten one at a time (each its own small read, decoded in place
    // in FerryMQ's shared buffer), the rest pipelined (many PUBLISHes in one
    // read, the large ones across several).
    for (const [i, p] of sent.entries()) {
      if (i < 10) await pub.publishAsync(`${base}/${i}`, p.subarray(0, 200), { qos: 1, retain: true });
      else pub.publish(`${base}/${i}`, p, { qos: 0, retain: true });
    }
    for (let i = 0; i < 10; i++) sent[i] = (sent[i] as Buffer).subarray(0, 200);
    await pub.publishAsync(`${base}/last`, 'x', { qos: 1 });
    await overwrite(clients);
    const sub = await clients.connect();
    const got = collect(sub);
    await sub.subscribeAsync(`${base}/+`, { qos: 1 });
    await until('30 retained messages', () => got.size === 30);
    for (const [i, p] of sent.entries())
      expect(got.get(`${base}/${i}`)?.[0]?.equals(p), `payload ${i}`).toBe(true);
    // Clear them: retained messages outlive the test on a shared broker.
    for (let i = 0; i < 30; i++) pub.publish(`${base}/${i}`, '', { qos: 0, retain: true });
    await pub.publishAsync(`${base}/last`, 'x', { qos: 1 });
  });

  it('[MQTT-3.1.2-5] a persistent session queues what it missed byte for byte, in order', async () => {
    const t = utopic('queued');
    const clientId = uid('offline');
    const first = await clients.connect({ clientId, clean: false });
    await first.subscribeAsync(t, { qos: 1 });
    await first.endAsync();
    const sent = payloads(40, true);
    const pub = await clients.connect();
    for (const p of sent) pub.publish(t, p, { qos: 1 });
    await pub.publishAsync(t, Buffer.from('tail'), { qos: 1 });
    await overwrite(clients);
    const { client } = await clients.connectWithInbox({ clientId, clean: false });
    const got = collect(client);
    await until('41 queued messages', () => (got.get(t)?.length ?? 0) === 41);
    const list = got.get(t) as Buffer[];
    for (const [i, p] of sent.entries()) expect(list[i]?.equals(p), `message ${i}`).toBe(true);
    await client.endAsync();
    // End the session so it does not outlive the test.
    const clean = await clients.connect({ clientId, clean: true });
    await clean.endAsync();
  });

  it('a 300 KiB PUBLISH read in many pieces between other clients’ packets arrives intact', async () => {
    const t = utopic('big');
    const sub = await clients.connect();
    const got = collect(sub);
    await sub.subscribeAsync(t, { qos: 1 });
    const big = randomBytes(300 * 1024);
    const pub = await clients.connect();
    const noise = overwrite(clients);
    await pub.publishAsync(t, big, { qos: 1 });
    await noise;
    await until('the large message', () => got.has(t));
    expect(got.get(t)?.[0]?.equals(big)).toBe(true);
  });

  if (TARGET === 'ferrymq') {
    it('the broker did not fall back to per-read buffers', () => {
      expect(target().log()).not.toContain('cannot read sockets into a shared buffer');
    });
  }
}

describe('payload integrity', () => {
  const { target, clients } = useTarget();
  cases(target, clients);
});

describe('payload integrity, mqtt.tcp_shared_read_buffer = false', () => {
  const { target, clients } = useTarget({ ferrymqEnv: { FERRYMQ_MQTT__TCP_SHARED_READ_BUFFER: 'false' } });
  cases(target, clients);
});
