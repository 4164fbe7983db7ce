/**
 * Kafka committed offsets and MQTT session records in the meta service's
 * Raft groups on one node (the default single-node config runs meta as a
 * one-member cluster): they land in the `offsets-<i>` / `sessions-<i>`
 * group their key hashes to (the node's per-group key counts say so),
 * survive a SIGKILL, and a data dir written by a node without meta (the
 * local KV store) is migrated into the groups once, the KV copies removed.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { fnv1a } from '../meta/groups.ts';
import { type BrokerProcess, spawnBroker, tempDir } from './helpers/broker.ts';
import {
  commitOffsets,
  createTopic,
  fetchOffsets,
  groupKeyCounts,
  stopBroker,
} from './helpers/data-groups.ts';

/** meta.shard_group_count: two offsets groups and two sessions groups. */
const SHARDS = 2;
const NO_META = { FERRYMQ_ROLES: 'broker,engine' };

const running = new Set<BrokerProcess>();
afterAll(() => {
  for (const b of running) b.signal('SIGKILL');
});

async function start(dataDir: string, env: Record<string, string> = {}): Promise<BrokerProcess> {
  const b = await spawnBroker({ dataDir, env: { FERRYMQ_META__SHARD_GROUP_COUNT: String(SHARDS), ...env } });
  running.add(b);
  await b.ready;
  return b;
}

async function stop(b: BrokerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopBroker(b, signal);
  running.delete(b);
}

function connect(b: BrokerProcess, clientId: string, clean: boolean): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://${b.listeners().mqtt}`, {
    clientId,
    protocolVersion: 5,
    clean,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
  });
}

interface Received {
  topic: string;
  payload: string;
  qos: number;
}

/**
 * Connects (clean start off) and resolves with the CONNACK's session-present
 * flag; messages are collected from the first packet on (a queued message
 * may share the CONNACK's TCP segment).
 */
async function reconnect(
  b: BrokerProcess,
  clientId: string,
): Promise<{ present: boolean; client: MqttClient; received: Received[] }> {
  const client = mqtt.connect(`mqtt://${b.listeners().mqtt}`, {
    clientId,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
  });
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) =>
    received.push({ topic, payload: String(payload), qos: packet.qos }),
  );
  const present = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (ack) => resolve(ack.sessionPresent));
    client.once('error', reject);
  });
  return { present, client, received };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A persistent session subscribed to `<base>/+` (QoS 1, no-local) with one
 * QoS 1 message queued while it is away. The publisher's PUBACK covers the
 * queued message, and the session's writes are ordered, so its record is
 * durable too once the PUBACK is in.
 */
async function prepareSession(b: BrokerProcess, clientId: string, base: string): Promise<void> {
  const c = await connect(b, clientId, true);
  await c.subscribeAsync(`${base}/+`, { qos: 1, nl: true });
  await c.endAsync();
  const pub = await mqtt.connectAsync(`mqtt://${b.listeners().mqtt}`, { reconnectPeriod: 0 });
  await pub.publishAsync(`${base}/x`, 'queued', { qos: 1 });
  await pub.endAsync();
}

/** The session is back with its subscription (granted QoS 1) and its queued message. */
async function checkSession(b: BrokerProcess, clientId: string, base: string): Promise<void> {
  const { present, client, received } = await reconnect(b, clientId);
  try {
    expect(present).toBe(true);
    await until('the queued message', () => received.length >= 1);
    const pub = await mqtt.connectAsync(`mqtt://${b.listeners().mqtt}`, { reconnectPeriod: 0 });
    await pub.publishAsync(`${base}/y`, 'after restart', { qos: 2 });
    await pub.endAsync();
    await until('the live message', () => received.length >= 2);
    expect(received).toEqual([
      { topic: `${base}/x`, payload: 'queued', qos: 1 },
      { topic: `${base}/y`, payload: 'after restart', qos: 1 },
    ]);
  } finally {
    await client.endAsync();
  }
}

const offsetsGroupOf = (group: string) => `offsets-${fnv1a(group) % SHARDS}`;
const sessionsGroupOf = (clientId: string) => `sessions-${fnv1a(clientId) % SHARDS}`;

describe('offsets and session records in the raft groups (one node)', () => {
  it('land in the group of their key, and survive a SIGKILL', async () => {
    const dataDir = await tempDir('ferrymq-datagroups-');
    let b = await start(dataDir);
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const clientId = `c-${randomUUID()}`;
    const base = `dg/${randomUUID()}`;
    await createTopic(b.listeners().kafka as string, topic, 3);
    expect(await commitOffsets(b.listeners().kafka as string, group, topic, [5n, 7n, 11n])).toEqual([
      0, 0, 0,
    ]);
    await prepareSession(b, clientId, base);
    // Each group holds its node's barrier marker plus the data: 3 offsets, 1 session record.
    const keys = await groupKeyCounts(b);
    expect(keys.get(offsetsGroupOf(group))).toBe(4);
    expect(keys.get(sessionsGroupOf(clientId))).toBe(2);

    await stop(b, 'SIGKILL');
    b = await start(dataDir);
    expect(await fetchOffsets(b.listeners().kafka as string, group, topic, 3)).toEqual([5n, 7n, 11n]);
    await checkSession(b, clientId, base);
    // A commit after the restart goes through the group as well.
    expect(await commitOffsets(b.listeners().kafka as string, group, topic, [6n, 7n, 12n])).toEqual([
      0, 0, 0,
    ]);
    await stop(b, 'SIGKILL');
    b = await start(dataDir);
    expect(await fetchOffsets(b.listeners().kafka as string, group, topic, 3)).toEqual([6n, 7n, 12n]);
    await stop(b);
  });

  it('clean sessions propose nothing: the sessions groups commit no entry for them', async () => {
    const b = await start(await tempDir('ferrymq-datagroups-'));
    const commits = async () =>
      [...(await groupKeyCounts(b, 'ferrymq_meta_commit_index')).entries()].filter(([g]) =>
        g.startsWith('sessions-'),
      );
    const before = await commits();
    const base = `clean/${randomUUID()}`;
    for (const protocolVersion of [4, 5] as const) {
      const c = await mqtt.connectAsync(`mqtt://${b.listeners().mqtt}`, {
        clientId: `clean-${protocolVersion}-${randomUUID()}`,
        protocolVersion,
        clean: true,
        reconnectPeriod: 0,
      });
      await c.subscribeAsync(`${base}/+`, { qos: 1 });
      await c.publishAsync(`${base}/x`, 'm', { qos: 1 });
      await c.endAsync();
    }
    expect(before.length).toBe(SHARDS);
    expect(await commits()).toEqual(before);
    await stop(b);
  });

  it('a data dir written without meta is migrated into the groups once, and the KV copies are removed', async () => {
    const dataDir = await tempDir('ferrymq-datagroups-');
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const clientId = `c-${randomUUID()}`;
    const base = `dg/${randomUUID()}`;
    // Written by a node without the meta role: the local KV store only.
    let b = await start(dataDir, NO_META);
    await createTopic(b.listeners().kafka as string, topic, 2);
    expect(await commitOffsets(b.listeners().kafka as string, group, topic, [3n, 9n])).toEqual([0, 0]);
    await prepareSession(b, clientId, base);
    await stop(b);

    // Upgraded: meta on. The offsets and the session record move into their groups.
    b = await start(dataDir);
    expect(await fetchOffsets(b.listeners().kafka as string, group, topic, 2)).toEqual([3n, 9n]);
    const keys = await groupKeyCounts(b);
    expect(keys.get(offsetsGroupOf(group))).toBe(3);
    expect(keys.get(sessionsGroupOf(clientId))).toBe(2);
    expect(b.logs.some((l) => /committed offsets moved/.test(l.msg))).toBe(true);
    await checkSession(b, clientId, base);
    await stop(b, 'SIGKILL');

    // Migrated once: a second start finds them in the groups only (SIGKILL above: nothing flushed on close).
    b = await start(dataDir);
    expect(await fetchOffsets(b.listeners().kafka as string, group, topic, 2)).toEqual([3n, 9n]);
    expect(b.logs.some((l) => /committed offsets moved/.test(l.msg))).toBe(false);
    expect((await reconnect(b, clientId)).present).toBe(true);
    await stop(b);

    // Meta off again: the local KV store no longer holds them.
    b = await start(dataDir, NO_META);
    expect(await fetchOffsets(b.listeners().kafka as string, group, topic, 2)).toEqual([-1n, -1n]);
    const { present, client } = await reconnect(b, clientId);
    await client.endAsync();
    expect(present).toBe(false);
    await stop(b);
  });
});
