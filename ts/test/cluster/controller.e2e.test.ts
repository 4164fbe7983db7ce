/**
 * The controller across real processes: three `ferrymq start` nodes (role
 * meta) on 127.0.0.1, the stream registered through the admin API
 * (POST /api/v1/cluster/streams) and its assignments read back through it.
 *
 * Checks: 6 partitions with RF 2 are placed two leaders per node on distinct
 * replicas; RF 4 on 3 nodes is refused; SIGKILL of the node that leads the
 * metadata group (so the controller itself moves) leaves, within a few node
 * timeouts, every partition led by a live replica with its leader epoch
 * bumped exactly where the leader moved, and the killed node reported dead
 * in GET /api/v1/cluster; after a restart it is alive again and a replica
 * (not a leader) of the partitions it held; deleting the stream deletes its
 * assignments.
 *
 * The Kafka layer on it (nodes with every role): Metadata from any node names
 * each partition's assigned leader, epoch and replicas and every broker's
 * Kafka address; kafkajs, given one bootstrap node, produces to every
 * partition on its leader; Produce and Fetch on a node that does not lead the
 * partition get NOT_LEADER_OR_FOLLOWER; after a SIGKILL of a leader, kafkajs
 * produces to the partition's new leader.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiKey, Fetch, Metadata, Produce } from '../../kafka/protocol/generated/index.ts';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { freePort } from '../helpers/ports.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';
import { until } from '../helpers/until.ts';

const TICK_MS = 20;
const ELECTION_TICKS = 10;
const NODE_TIMEOUT_MS = 1000;

interface Node {
  id: number;
  dataDir: string;
  proc: BrokerProcess;
}

const all: BrokerProcess[] = [];
afterAll(async () => {
  for (const p of all) p.signal('SIGKILL');
});

async function startNode(
  id: number,
  ports: number[],
  dataDir: string,
  roles = 'meta',
): Promise<BrokerProcess> {
  const proc = await spawnBroker({
    dataDir,
    env: {
      FERRYMQ_NODE_ID: String(id),
      FERRYMQ_ROLES: roles,
      FERRYMQ_CLUSTER__MEMBERS: ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(','),
      FERRYMQ_LISTENERS__CLUSTER: `127.0.0.1:${ports[id - 1]}`,
      FERRYMQ_META__TICK_MS: String(TICK_MS),
      FERRYMQ_META__ELECTION_TICK_COUNT: String(ELECTION_TICKS),
      FERRYMQ_META__REQUEST_TIMEOUT_MS: '2000',
      FERRYMQ_META__SHARD_GROUP_COUNT: '1',
      FERRYMQ_META__NODE_TIMEOUT_MS: String(NODE_TIMEOUT_MS),
    },
  });
  all.push(proc);
  await proc.ready;
  return proc;
}

interface ClusterView {
  groups: { name: string; role: string; leader: number }[];
  nodes: { id: number; alive: boolean | null; alive_changed_at: string | null }[];
}

interface PartitionView {
  partition: number;
  leader: number;
  replicas: number[];
  leader_epoch: number;
  leader_alive: boolean;
  data_loss_possible?: boolean;
}

interface StreamView {
  topic: string;
  partitions: number;
  replication_factor: number;
  assignments: PartitionView[];
  unplaced: number[];
}

async function http<T>(
  n: Node,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: T }> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster${path}`, {
    method: init.method ?? 'GET',
    ...(init.body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(5000),
  });
  return { status: r.status, body: (await r.json()) as T };
}

const metadataLeader = (v: ClusterView): number => v.groups.find((g) => g.name === 'metadata')?.leader ?? 0;

describe('controller in a 3-node cluster (real processes)', () => {
  it('places 6 partitions RF 2, fails over off a SIGKILLed metadata leader, takes the node back as a replica', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const nodes: Node[] = await Promise.all(
      ports.map(async (_p, i) => {
        const dataDir = await tempDir('ferrymq-ctl-e2e-');
        return { id: i + 1, dataDir, proc: await startNode(i + 1, ports, dataDir) };
      }),
    );
    const [n1] = nodes as [Node];

    // Every node learns the controller's verdict: all three alive.
    for (const n of nodes) {
      await until(`node ${n.id} seeing three live nodes`, async () => {
        const v = (await http<ClusterView>(n, '/')).body;
        return v.nodes.length === 3 && v.nodes.every((x) => x.alive === true && x.alive_changed_at)
          ? v
          : undefined;
      });
    }

    const tooWide = await http<{ error: string; message: string }>(n1, '/streams', {
      method: 'POST',
      body: { name: 'orders', partitions: 6, replication_factor: 4 },
    });
    expect(tooWide.status).toBe(400);
    expect(tooWide.body.error).toBe('FERRY_ERR_REPLICATION_FACTOR');
    expect(tooWide.body.message).toMatch(/replication factor 4 is above the 3 live node/);
    const bad = await http<{ error: string }>(n1, '/streams', {
      method: 'POST',
      body: { name: 'a/b', partitions: 1, replication_factor: 1 },
    });
    expect(bad.status).toBe(400);

    const created = await http(nodes[1] as Node, '/streams', {
      method: 'POST',
      body: { name: 'orders', partitions: 6, replication_factor: 2 },
    });
    expect(created.status).toBe(201);
    const again = await http(n1, '/streams', {
      method: 'POST',
      body: { name: 'orders', partitions: 6, replication_factor: 2 },
    });
    expect(again.status).toBe(409);

    const placed = await until('orders placed', async () => {
      const r = await http<StreamView>(n1, '/assignments/orders');
      return r.status === 200 && r.body.unplaced.length === 0 ? r.body : undefined;
    });
    expect(placed.assignments).toHaveLength(6);
    const leaders = new Map<number, number>();
    for (const a of placed.assignments) {
      expect(a.replicas).toHaveLength(2);
      expect(new Set(a.replicas).size).toBe(2);
      expect(a.replicas).toContain(a.leader);
      expect(a.leader_epoch).toBe(0);
      leaders.set(a.leader, (leaders.get(a.leader) ?? 0) + 1);
    }
    expect([...leaders.values()]).toEqual([2, 2, 2]);
    const listed = (await http<{ streams: StreamView[] }>(nodes[2] as Node, '/assignments')).body;
    expect(listed.streams.map((s) => s.topic)).toEqual(['orders']);
    expect((await http(n1, '/assignments/nope')).status).toBe(404);

    // SIGKILL the metadata leader: the controller moves with it.
    const leaderId = metadataLeader((await http<ClusterView>(n1, '/')).body);
    const victim = nodes.find((n) => n.id === leaderId) as Node;
    const rest = nodes.filter((n) => n !== victim);
    victim.proc.signal('SIGKILL');
    const killedAt = performance.now();
    await victim.proc.exited;

    const moved = await until('every partition led by a live node', async () => {
      const r = await http<StreamView>(rest[0] as Node, '/assignments/orders');
      return r.status === 200 && r.body.assignments.every((a) => a.leader !== victim.id && a.leader_alive)
        ? r.body
        : undefined;
    });
    const failoverMs = performance.now() - killedAt;
    // Election (a few hundred ms) + one node timeout + a controller round or two.
    expect(failoverMs).toBeLessThan(4 * NODE_TIMEOUT_MS + 2000);
    for (const a of moved.assignments) {
      const before = placed.assignments[a.partition] as PartitionView;
      expect(a.replicas).toEqual(before.replicas);
      if (before.leader === victim.id) {
        expect(a.leader_epoch).toBe(before.leader_epoch + 1);
        expect(before.replicas).toContain(a.leader);
        expect(a.data_loss_possible).toBeUndefined();
      } else {
        expect(a.leader).toBe(before.leader);
        expect(a.leader_epoch).toBe(before.leader_epoch);
      }
    }
    for (const n of rest) {
      await until(`node ${n.id} reporting node ${victim.id} dead`, async () =>
        (await http<ClusterView>(n, '/')).body.nodes.find((x) => x.id === victim.id)?.alive === false
          ? true
          : undefined,
      );
    }
    console.log(
      `controller failover: node ${victim.id} (metadata leader) SIGKILLed, every partition led by a live node after ${Math.round(failoverMs)} ms (node_timeout_ms ${NODE_TIMEOUT_MS})`,
    );

    // The killed node restarts: alive again, a replica of what it held, leading nothing (no rebalance).
    victim.proc = await startNode(victim.id, ports, victim.dataDir);
    await until(`node ${victim.id} alive again`, async () => {
      const v = (await http<ClusterView>(victim, '/')).body;
      return v.nodes.find((x) => x.id === victim.id)?.alive === true ? true : undefined;
    });
    const back = (await http<StreamView>(victim, '/assignments/orders')).body;
    expect(back.assignments).toEqual(moved.assignments.map((a) => ({ ...a, leader_alive: true })));
    const held = placed.assignments.filter((a) => a.replicas.includes(victim.id)).map((a) => a.partition);
    expect(back.assignments.filter((a) => a.replicas.includes(victim.id)).map((a) => a.partition)).toEqual(
      held,
    );
    expect(back.assignments.some((a) => a.leader === victim.id)).toBe(false);

    // Deleting the stream deletes its assignments.
    expect((await http(victim, '/streams/orders', { method: 'DELETE' })).status).toBe(200);
    await until('assignments of orders deleted', async () => {
      const r = await http<{ items: unknown[] }>(n1, '/kv?prefix=assignments/');
      return r.body.items.length === 0 ? true : undefined;
    });
    expect((await http(n1, '/assignments/orders')).status).toBe(404);
  }, 90_000);

  it('Kafka: Metadata reports assigned leaders; kafkajs produces to each leader; other nodes answer NOT_LEADER_OR_FOLLOWER', async () => {
    const roles = 'meta,engine,broker';
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const nodes: Node[] = await Promise.all(
      ports.map(async (_p, i) => {
        const dataDir = await tempDir('ferrymq-ctl-kafka-');
        return { id: i + 1, dataDir, proc: await startNode(i + 1, ports, dataDir, roles) };
      }),
    );
    const [n1] = nodes as [Node];
    const kafkaAddr = (n: Node) => n.proc.listeners().kafka as string;
    const byId = (id: number) => nodes.find((n) => n.id === id) as Node;

    await until('three live nodes', async () => {
      const v = (await http<ClusterView>(n1, '/')).body;
      return v.nodes.length === 3 && v.nodes.every((x) => x.alive === true) ? v : undefined;
    });
    const created = await http(n1, '/streams', {
      method: 'POST',
      body: { name: 'events', partitions: 3, replication_factor: 2 },
    });
    expect(created.status).toBe(201);
    const placed = await until('events placed', async () => {
      const r = await http<StreamView>(n1, '/assignments/events');
      return r.status === 200 && r.body.unplaced.length === 0 ? r.body : undefined;
    });
    // Every broker records its Kafka address; every node sees all three.
    await until('three broker addresses', async () => {
      const r = await http<{ items: unknown[] }>(n1, '/kv?prefix=brokers/');
      return r.body.items.length === 3 ? true : undefined;
    });

    const metadata = async (n: Node): Promise<Metadata.MetadataResponse> => {
      const raw = await RawKafka.open(kafkaAddr(n));
      try {
        const req = {
          ...Metadata.defaultMetadataRequest(),
          topics: [{ ...Metadata.defaultMetadataRequestTopic(), name: 'events' }],
          allowAutoTopicCreation: true,
        };
        const r = await raw.request(ApiKey.Metadata, 12, Metadata.encodeMetadataRequest(12, req));
        return Metadata.decodeMetadataResponse(12, r);
      } finally {
        raw.close();
      }
    };
    for (const n of nodes) {
      const md = await until(`node ${n.id} answering Metadata with the assignments`, async () => {
        const m = await metadata(n);
        return m.brokers.length === 3 && m.topics[0]?.partitions.every((p) => p.leaderId > 0) ? m : undefined;
      });
      expect(md.brokers.map((b) => `${b.host}:${b.port}`).sort()).toEqual(nodes.map(kafkaAddr).sort());
      const parts = [...(md.topics[0]?.partitions ?? [])].sort((a, b) => a.partitionIndex - b.partitionIndex);
      expect(parts).toHaveLength(3);
      for (const p of parts) {
        const a = placed.assignments[p.partitionIndex] as PartitionView;
        expect(p.errorCode).toBe(0);
        expect(p.leaderId).toBe(a.leader);
        expect(p.leaderEpoch).toBe(a.leader_epoch);
        expect(p.replicaNodes).toEqual(a.replicas);
      }
    }

    const fetchFrom = async (n: Node, partition: number): Promise<Fetch.PartitionData> => {
      const raw = await RawKafka.open(kafkaAddr(n));
      try {
        const req: Fetch.FetchRequest = {
          ...Fetch.defaultFetchRequest(),
          maxWaitMs: 0,
          minBytes: 1,
          maxBytes: 1 << 20,
          topics: [
            {
              ...Fetch.defaultFetchTopic(),
              topic: 'events',
              partitions: [
                { ...Fetch.defaultFetchPartition(), partition, fetchOffset: 0n, partitionMaxBytes: 1 << 20 },
              ],
            },
          ],
        };
        const r = await raw.request(ApiKey.Fetch, 11, Fetch.encodeFetchRequest(11, req));
        return Fetch.decodeFetchResponse(11, r).responses[0]?.partitions[0] as Fetch.PartitionData;
      } finally {
        raw.close();
      }
    };
    const produceTo = async (n: Node, partition: number, records: Buffer): Promise<number | undefined> => {
      const raw = await RawKafka.open(kafkaAddr(n));
      try {
        const req: Produce.ProduceRequest = {
          ...Produce.defaultProduceRequest(),
          acks: 1,
          timeoutMs: 5000,
          topicData: [{ name: 'events', partitionData: [{ index: partition, records }] }],
        };
        const r = await raw.request(ApiKey.Produce, 7, Produce.encodeProduceRequest(7, req));
        return Produce.decodeProduceResponse(7, r).responses[0]?.partitionResponses[0]?.errorCode;
      } finally {
        raw.close();
      }
    };

    // A real client with one bootstrap node reaches every partition's leader.
    const kafka = new Kafka({
      brokers: [kafkaAddr(n1)],
      clientId: 'ctl-e2e',
      logLevel: logLevel.NOTHING,
      retry: { retries: 8, initialRetryTime: 100 },
    });
    const producer = kafka.producer();
    await producer.connect();
    try {
      for (let p = 0; p < 3; p++) {
        await producer.send({
          topic: 'events',
          acks: -1,
          messages: [{ partition: p, value: `to partition ${p}` }],
        });
      }
      for (const a of placed.assignments) {
        const onLeader = await fetchFrom(byId(a.leader), a.partition);
        expect(onLeader.errorCode).toBe(0);
        expect(onLeader.highWatermark).toBe(1n);
        expect((onLeader.records as Buffer).includes(Buffer.from(`to partition ${a.partition}`))).toBe(true);
        for (const other of nodes.filter((n) => n.id !== a.leader)) {
          expect((await fetchFrom(other, a.partition)).errorCode).toBe(6);
          expect(await produceTo(other, a.partition, onLeader.records as Buffer)).toBe(6);
        }
        expect(await produceTo(byId(a.leader), a.partition, onLeader.records as Buffer)).toBe(0);
      }

      // The leader of partition 0 dies: the controller moves it, and kafkajs follows.
      const first = placed.assignments[0] as PartitionView;
      const victim = byId(first.leader);
      const survivors = nodes.filter((n) => n !== victim);
      victim.proc.signal('SIGKILL');
      await victim.proc.exited;
      const moved = await until('partition 0 moved', async () => {
        const r = await http<StreamView>(survivors[0] as Node, '/assignments/events');
        const a = r.body.assignments?.[0];
        return a && a.leader !== victim.id && a.leader_alive ? a : undefined;
      });
      expect(moved.leader_epoch).toBe(first.leader_epoch + 1);
      await until('Metadata naming the new leader', async () => {
        const m = await metadata(survivors[0] as Node);
        const p0 = m.topics[0]?.partitions.find((p) => p.partitionIndex === 0);
        return p0?.leaderId === moved.leader && p0.leaderEpoch === moved.leader_epoch ? true : undefined;
      });
      await producer.send({
        topic: 'events',
        acks: -1,
        messages: [{ partition: 0, value: 'after failover' }],
      });
      const after = await fetchFrom(byId(moved.leader), 0);
      expect(after.errorCode).toBe(0);
      expect((after.records as Buffer).includes(Buffer.from('after failover'))).toBe(true);
    } finally {
      await producer.disconnect().catch(() => {});
    }
  }, 90_000);
});
