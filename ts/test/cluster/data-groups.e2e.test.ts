/**
 * Committed offsets in the offsets-<i> Raft group on a real 3-node cluster
 * (every node runs meta, broker and engine, on 127.0.0.1): an offset
 * committed through a node that does not lead the group (so the proposal is
 * forwarded) reaches the third node's copy, and is fetched after that group's leader is SIGKILLed and the
 * committing node itself is SIGKILLed and restarted: its view is rebuilt
 * from the two survivors' log, not from anything it kept.
 */

import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { fnv1a } from '../../meta/groups.ts';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import {
  commitOffsets,
  createTopic,
  fetchOffsets,
  groupKeyCounts,
  stopBroker,
} from '../helpers/data-groups.ts';
import { freePort } from '../helpers/ports.ts';
import { until } from '../helpers/until.ts';

const SHARDS = 2;

const all = new Set<BrokerProcess>();
afterAll(() => {
  for (const p of all) p.signal('SIGKILL');
});

interface GroupView {
  name: string;
  leader: number;
  term: number;
}

async function groups(b: BrokerProcess): Promise<GroupView[]> {
  const r = await fetch(`${b.adminUrl()}/api/v1/cluster`, { signal: AbortSignal.timeout(2000) });
  return ((await r.json()) as { groups: GroupView[] }).groups;
}

describe('offsets raft group on a 3-node cluster (real processes)', () => {
  it("an offset committed through a follower is fetched after the group's leader is killed and the committing node restarted", async () => {
    const ports = await Promise.all([1, 2, 3].map(freePort));
    const members = ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',');
    const dirs = await Promise.all(ports.map(() => tempDir('ferrymq-dg-cluster-')));
    const start = async (id: number): Promise<BrokerProcess> => {
      const b = await spawnBroker({
        dataDir: dirs[id - 1] as string,
        env: {
          FERRYMQ_NODE_ID: String(id),
          FERRYMQ_CLUSTER__MEMBERS: members,
          FERRYMQ_LISTENERS__CLUSTER: `127.0.0.1:${ports[id - 1]}`,
          FERRYMQ_META__TICK_MS: '20',
          FERRYMQ_META__ELECTION_TICK_COUNT: '10',
          FERRYMQ_META__REQUEST_TIMEOUT_MS: '2000',
          FERRYMQ_META__SHARD_GROUP_COUNT: String(SHARDS),
        },
      });
      all.add(b);
      await b.ready;
      return b;
    };
    // In parallel: each node's start waits for a quorum of its groups.
    const nodes = await Promise.all([1, 2, 3].map(start));

    const group = `g-${randomUUID()}`;
    const topic = `t-${randomUUID()}`;
    const offsetsGroup = `offsets-${fnv1a(group) % SHARDS}`;
    const leader = await until('an agreed leader of every group', async () => {
      const views = await Promise.all(nodes.map(groups));
      const first = views[0] ?? [];
      if (!first.every((g) => g.leader !== 0)) return undefined;
      const agree = views.every((v) =>
        v.every((g) => first.find((f) => f.name === g.name)?.leader === g.leader),
      );
      return agree ? first.find((g) => g.name === offsetsGroup)?.leader : undefined;
    });
    const committer = leader === 1 ? 2 : 1;
    const other = 6 - leader - committer;
    const via = nodes[committer - 1] as BrokerProcess;
    await createTopic(via.listeners().kafka as string, topic, 3);
    expect(await commitOffsets(via.listeners().kafka as string, group, topic, [5n, 7n, 11n])).toEqual([
      0, 0, 0,
    ]);

    // Replicated: the third node's copy holds the 3 offsets and the 3 nodes' barrier markers.
    const third = nodes[other - 1] as BrokerProcess;
    await until('the offsets on the third node', async () =>
      (await groupKeyCounts(third)).get(offsetsGroup) === 6 ? true : undefined,
    );

    // The group's leader goes, then the committing node loses its memory.
    const dead = nodes[leader - 1] as BrokerProcess;
    await stopBroker(dead, 'SIGKILL');
    all.delete(dead);
    await stopBroker(via, 'SIGKILL');
    all.delete(via);
    const restarted = await start(committer);
    expect(await fetchOffsets(restarted.listeners().kafka as string, group, topic, 3)).toEqual([5n, 7n, 11n]);
    const views = await groups(restarted);
    expect(views.find((g) => g.name === offsetsGroup)?.leader).toBeOneOf([committer, other]);

    // And the survivors keep committing through the group's new leader.
    expect(await commitOffsets(restarted.listeners().kafka as string, group, topic, [6n, 8n, 12n])).toEqual([
      0, 0, 0,
    ]);
    expect(await fetchOffsets(restarted.listeners().kafka as string, group, topic, 3)).toEqual([6n, 8n, 12n]);
  });
});
