/**
 * Chunked snapshots across real processes: three `ferrymq start` nodes
 * (role meta) with a 4 KiB `meta.snapshot_chunk_bytes` and a snapshot every
 * 50 entries. A follower is stopped, the others write a state many chunks
 * large and compact past it; the follower restarts on its data dir and must
 * catch up by a snapshot sent in several chunks (the leader's
 * `ferrymq_meta_snapshot_chunks_sent_total` for it), then hold every write:
 * leadership is moved to it and the keys are listed from its own state.
 * `meta.rpc_bytes_max` is 64 KiB and the state about twice that: one message
 * could not carry it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { freePort } from '../helpers/ports.ts';
import { until } from '../helpers/until.ts';

const CHUNK_BYTES = 4096;
const RPC_BYTES_MAX = 64 * 1024;

const all: BrokerProcess[] = [];
afterAll(() => {
  for (const p of all) p.signal('SIGKILL');
});

interface Node {
  id: number;
  dataDir: string;
  proc: BrokerProcess;
}

async function startNode(id: number, ports: number[], dataDir: string): Promise<BrokerProcess> {
  const proc = await spawnBroker({
    dataDir,
    env: {
      FERRYMQ_NODE_ID: String(id),
      FERRYMQ_ROLES: 'meta',
      FERRYMQ_CLUSTER__MEMBERS: ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(','),
      FERRYMQ_LISTENERS__CLUSTER: `127.0.0.1:${ports[id - 1]}`,
      FERRYMQ_META__TICK_MS: '20',
      FERRYMQ_META__ELECTION_TICK_COUNT: '10',
      FERRYMQ_META__REQUEST_TIMEOUT_MS: '2000',
      FERRYMQ_META__SHARD_GROUP_COUNT: '1',
      FERRYMQ_META__SNAPSHOT_ENTRY_COUNT: '50',
      FERRYMQ_META__SNAPSHOT_CHUNK_BYTES: String(CHUNK_BYTES),
      // The smallest message limit allowed: the state below is about twice that, so it can only travel in chunks.
      FERRYMQ_META__RPC_BYTES_MAX: String(RPC_BYTES_MAX),
    },
  });
  all.push(proc);
  await proc.ready;
  return proc;
}

interface GroupView {
  name: string;
  role: string;
  leader: number;
  term: number;
  commit_index: number;
  applied_index: number;
  snapshot_index: number;
  snapshots_installed: number;
}

async function metaGroup(n: Node): Promise<GroupView> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster`, { signal: AbortSignal.timeout(2000) });
  const s = (await r.json()) as { groups: GroupView[] };
  return s.groups.find((g) => g.name === 'metadata') as GroupView;
}

async function put(n: Node, key: string, value: string): Promise<number> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster/kv/${key}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
    signal: AbortSignal.timeout(5000),
  });
  await r.arrayBuffer();
  return r.status;
}

async function list(n: Node, prefix: string): Promise<Map<string, string>> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster/kv?prefix=${prefix}&limit=10000`, {
    signal: AbortSignal.timeout(5000),
  });
  if (!r.ok) throw new Error(`list: ${r.status} ${await r.text()}`);
  const body = (await r.json()) as { items: { key: string; value: string }[] };
  return new Map(body.items.map((i) => [i.key, i.value]));
}

/** The value of one sample of a Prometheus metric, 0 when absent. */
async function metric(n: Node, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${n.proc.adminUrl()}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return 0;
}

describe('chunked snapshots between 3 processes', () => {
  it('a follower stopped past a compaction catches up by a snapshot sent in several chunks', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const nodes: Node[] = await Promise.all(
      ports.map(async (_p, i) => {
        const dataDir = await tempDir('ferrymq-snap-');
        return { id: i + 1, dataDir, proc: await startNode(i + 1, ports, dataDir) };
      }),
    );
    const leaderId = await until('a leader', async () => {
      const views = await Promise.all(nodes.map(metaGroup));
      const l = views[0]?.leader ?? 0;
      return l !== 0 && views.every((v) => v.leader === l) ? l : undefined;
    });
    const leader = nodes[leaderId - 1] as Node;
    const lagging = nodes.find((n) => n !== leader) as Node;
    expect(await put(leader, 'k/first', 'before the stop')).toBe(200);
    lagging.proc.signal('SIGKILL');
    await lagging.proc.exited;

    // 300 keys of ~400 bytes: a state of > 120 KiB, 30+ chunks, compacted 6 times past the stopped node.
    const written = new Map<string, string>([['k/first', 'before the stop']]);
    for (let i = 0; i < 300; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, async (_x, j) => {
          const key = `k/${String(i + j).padStart(4, '0')}`;
          const value = `${i + j}:${'v'.repeat(400)}`;
          expect(await put(leader, key, value)).toBe(200);
          written.set(key, value);
        }),
      );
    }
    const leaderView = await metaGroup(leader);
    expect(leaderView.snapshot_index).toBeGreaterThan(50);

    const restartedAt = performance.now();
    lagging.proc = await startNode(lagging.id, ports, lagging.dataDir);
    await until('the restarted follower catching up', async () => {
      const g = await metaGroup(lagging);
      return g.applied_index >= leaderView.commit_index && g.snapshots_installed >= 1 ? true : undefined;
    });
    const catchUpMs = Math.round(performance.now() - restartedAt);
    const peer = String(lagging.id);
    const chunks = await metric(leader, 'ferrymq_meta_snapshot_chunks_sent_total', { peer });
    const done = await metric(leader, 'ferrymq_meta_snapshot_transfers_total', { peer, result: 'done' });
    const received = await metric(lagging, 'ferrymq_meta_snapshot_chunks_received_total', {});
    console.log(
      `snapshot catch-up: ${chunks} chunks of ${CHUNK_BYTES} B sent to node ${peer} (${done} transfer(s) done), ${received} received; snapshot index ${leaderView.snapshot_index}; caught up ${catchUpMs} ms after the restart began`,
    );
    expect(chunks).toBeGreaterThan(20);
    expect(chunks * CHUNK_BYTES).toBeGreaterThan(RPC_BYTES_MAX);
    expect(done).toBeGreaterThanOrEqual(1);
    expect(received).toBeGreaterThanOrEqual(chunks);
    // Nothing left staged on the follower once installed.
    await until('nothing staged on the follower', async () =>
      (await metric(lagging, 'ferrymq_meta_snapshot_staged_bytes', {})) === 0 ? true : undefined,
    );

    // Its own state machine, not the leader's: move leadership there and read while it leads
    // (a read on a node that does not lead is forwarded, so the role is checked around it).
    const seen = await until('a read served by the caught-up node as leader', async () => {
      if ((await metaGroup(lagging)).role !== 'leader') {
        const moved = await fetch(`${leader.proc.adminUrl()}/api/v1/cluster/groups/metadata/leader`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ node: lagging.id }),
          signal: AbortSignal.timeout(5000),
        });
        await moved.arrayBuffer();
        return undefined;
      }
      const items = await list(lagging, 'k/');
      return (await metaGroup(lagging)).role === 'leader' ? items : undefined;
    });
    expect(seen.size).toBe(written.size);
    for (const [k, v] of written) expect(seen.get(k), k).toBe(v);
  }, 120_000);

  it('refuses a chunk size the message limit cannot carry, at start, exit code 2', async () => {
    const proc = await spawnBroker({
      env: {
        FERRYMQ_ROLES: 'meta',
        FERRYMQ_META__RPC_BYTES_MAX: String(RPC_BYTES_MAX),
        FERRYMQ_META__SNAPSHOT_CHUNK_BYTES: String(RPC_BYTES_MAX),
      },
    });
    all.push(proc);
    expect((await proc.exited).code).toBe(2);
    expect(proc.stderr().trim()).toMatch(
      /^[^\n]*meta\.snapshot_chunk_bytes \(65536\) must be at most meta\.rpc_bytes_max - 4096 \(61440\)[^\n]*$/,
    );
  });
});
