/**
 * The controller inside real meta services: three `MetaService`s in one
 * process over gRPC on 127.0.0.1. A stream is registered through
 * `createStream`, placed by whichever node leads `metadata`; one node is
 * closed and its partitions move; the refusal of RF above the live count.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { FerryError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { Storage } from '../storage/storage.ts';
import { tempDir } from '../test/helpers/broker.ts';
import { freePort } from '../test/helpers/ports.ts';
import { until as untilValue } from '../test/helpers/until.ts';
import { PartitionDirectory } from './controller-directory.ts';
import { assignmentKey } from './controller-records.ts';
import { createStream, localLiveness, readStreams } from './controller-streams.ts';
import { METADATA_GROUP, MetaService } from './service.ts';

const config = resolveConfig(undefined, '(test)', {});
const NODE_TIMEOUT_MS = 600;
const meta = {
  ...config.meta,
  tick_ms: 10,
  election_tick_count: 10,
  heartbeat_tick_count: 2,
  request_timeout_ms: 3000,
  shard_group_count: 1,
  node_timeout_ms: NODE_TIMEOUT_MS,
};
const logger = createLogger({ level: 'silent', format: 'json' });

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

async function cluster(
  n: number,
  overrides: Partial<typeof meta> = {},
): Promise<{ nodes: MetaService[]; stop: (s: MetaService) => Promise<void> }> {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const members = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const stops = new Map<MetaService, () => Promise<void>>();
  const nodes = await Promise.all(
    members.map(async (m, i) => {
      const storage = await Storage.open(await tempDir('ferrymq-ctl-'), config.storage);
      const s = await MetaService.start({
        nodeId: m.id,
        config: { ...meta, ...overrides },
        members,
        listen: { host: '127.0.0.1', port: ports[i] as number },
        kv: storage.kv,
        logger,
      });
      let done = false;
      const stop = async () => {
        if (done) return;
        done = true;
        await s.close();
        await storage.close();
      };
      stops.set(s, stop);
      cleanup.push(stop);
      return s;
    }),
  );
  return { nodes, stop: (s) => stops.get(s)?.() ?? Promise.resolve() };
}

/** Polls every 20 ms; `false` counts as "not yet", like undefined. */
const until = <T>(f: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> =>
  untilValue(
    'condition',
    async () => {
      const v = await f();
      return v === false ? undefined : v;
    },
    ms,
    20,
  );

describe('controller in three meta services', () => {
  it('places a stream, fails over off a closed node with bumped epochs, refuses RF above the live count', async () => {
    const { nodes, stop } = await cluster(3);
    const leaderOf = () => nodes.find((n) => n.groups()[METADATA_GROUP]?.role === 'leader');
    await until(() => leaderOf());
    const [any] = nodes as [MetaService];
    await until(() => localLiveness(any).size === 3);

    await expect(
      createStream(any, 'too-wide', { partitions: 1, replication_factor: 4 }),
    ).rejects.toMatchObject({
      code: 'FERRY_ERR_REPLICATION_FACTOR',
    });
    await createStream(any, 'orders', { partitions: 6, replication_factor: 2 });
    await expect(
      createStream(any, 'orders', { partitions: 6, replication_factor: 2 }),
    ).rejects.toBeInstanceOf(FerryError);
    const placed = await until(async () => {
      const [v] = await readStreams(any, 'orders');
      return v && v.unplaced.length === 0 ? v : undefined;
    });
    expect(new Set(placed.assignments.map((a) => a.leader)).size).toBe(3);

    // Close a node that is not the metadata leader: the controller stays where it is.
    const victim = nodes.find((n) => n !== leaderOf()) as MetaService;
    const survivor = nodes.find((n) => n !== victim) as MetaService;
    await stop(victim);
    const moved = await until(async () => {
      const [v] = await readStreams(survivor, 'orders');
      return v?.assignments.every((a) => a.leader !== victim.nodeId) ? v : undefined;
    });
    for (const a of moved.assignments) {
      const before = placed.assignments[a.partition];
      if (before?.leader === victim.nodeId) {
        expect(a.leader_epoch).toBe(before.leader_epoch + 1);
        expect(before.replicas).toContain(a.leader);
      } else {
        expect(a.leader_epoch).toBe(before?.leader_epoch);
      }
      expect(a.leader_alive).toBe(true);
    }
    // readStreams reads through the leader; the survivor's own applied copy may be a commit behind.
    await until(() => localLiveness(survivor).get(victim.nodeId)?.alive === false);
    expect(localLiveness(survivor).get(victim.nodeId)?.alive).toBe(false);
    // Two live nodes now: RF 3 is refused.
    await expect(
      createStream(survivor, 'wide', { partitions: 1, replication_factor: 3 }),
    ).rejects.toMatchObject({
      code: 'FERRY_ERR_REPLICATION_FACTOR',
    });

    // The dead node leaves the cluster: it is dropped from every replica list, which is topped up to RF 2.
    await survivor.removeMember(victim.nodeId);
    const left = await until(async () => {
      const [v] = await readStreams(survivor, 'orders');
      return v?.assignments.every((a) => !a.replicas.includes(victim.nodeId) && a.replicas.length === 2)
        ? v
        : undefined;
    });
    for (const a of left.assignments) {
      expect(a.leader).toBe(moved.assignments[a.partition]?.leader);
      expect(a.leader_epoch).toBe(moved.assignments[a.partition]?.leader_epoch);
    }
    await until(() => !localLiveness(survivor).has(victim.nodeId));
  }, 30_000);

  it('PartitionDirectory: follows assignments by watch, re-reads after falling behind, answers ledElsewhere', async () => {
    // A watch queue of 4: a burst of 40 writes ends every watcher, which must re-read to catch up.
    const { nodes } = await cluster(3, { watch_queue_max: 4 });
    await until(() => nodes.find((n) => n.groups()[METADATA_GROUP]?.role === 'leader'));
    const [a, b] = nodes as [MetaService, MetaService];
    const dir = new PartitionDirectory(b, logger);
    cleanup.push(async () => dir.close());
    expect(dir.clustered).toBe(true);
    // The stream must exist, or the controller deletes its assignments as orphans; the writes
    // below are unconditional, so they win over any placement the controller makes meanwhile.
    await a.propose(METADATA_GROUP, {
      op: 'put',
      key: 'streams/burst',
      value: JSON.stringify({ partitions: 40, replication_factor: 1 }),
    });
    await Promise.all(
      Array.from({ length: 40 }, (_, p) =>
        a.propose(METADATA_GROUP, {
          op: 'put',
          key: assignmentKey('burst', p),
          value: JSON.stringify({ leader: 1 + (p % 3), replicas: [1 + (p % 3)], leader_epoch: p }),
        }),
      ),
    );
    // Forwarded proposals may commit in any order: wait for all 40, not for the last one sent.
    await until(() =>
      Array.from({ length: 40 }, (_, p) => p).every((p) => dir.assignment('burst', p)?.leader_epoch === p),
    );
    for (let p = 0; p < 40; p++) {
      expect(dir.assignment('burst', p)?.leader).toBe(1 + (p % 3));
      expect(dir.ledElsewhere('burst', p)).toBe(1 + (p % 3) !== b.nodeId);
    }
    expect(dir.assignment('burst', 40)).toBeUndefined();
    expect(dir.ledElsewhere('not-a-stream', 0)).toBe(false);
    await a.propose(METADATA_GROUP, { op: 'delete', key: 'streams/burst' });
    await until(
      () => dir.assignment('burst', 7) === undefined && dir.streamPartitions('burst') === undefined,
    );
    dir.advertise('127.0.0.1', 19092);
    await until(() => dir.brokers().some((x) => x.nodeId === b.nodeId && x.port === 19092));
  }, 30_000);

  it('refuses a node timeout shorter than twice the election timeout at start', async () => {
    const storage = await Storage.open(await tempDir('ferrymq-ctl-cfg-'), config.storage);
    cleanup.push(() => storage.close());
    await expect(
      MetaService.start({
        nodeId: 1,
        config: { ...meta, node_timeout_ms: 199 },
        members: [],
        listen: { host: '127.0.0.1', port: await freePort() },
        kv: storage.kv,
        logger,
      }),
    ).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG_INVALID', message: /meta.node_timeout_ms \(199\)/ });
  });
});
