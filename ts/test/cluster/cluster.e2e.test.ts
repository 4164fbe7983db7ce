/**
 * The meta service across real processes: three `ferrymq start` nodes
 * (role meta only) on 127.0.0.1 with their own data dirs and pre-picked
 * cluster ports, talking gRPC. Writes go through the admin API's cluster
 * KV (PUT /api/v1/cluster/kv/...) to any node, which forwards to the leader.
 *
 * Checks: a leader is elected and agreed on; writes keep flowing while the
 * leader is SIGKILLed, a new leader comes within a few election timeouts,
 * no acknowledged write is lost, and the killed node rejoins and catches
 * up; a node cut off from the other two (SIGSTOP) cannot commit; a fourth
 * node joins and leaves through the admin API; a duplicate member list is
 * refused at start; an RPC from an unknown member is refused.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { freePort } from '../helpers/ports.ts';
import { until as untilValue } from '../helpers/until.ts';

const TICK_MS = 20;
const ELECTION_TICKS = 10;
/** The longest election timeout: [n, 2n) ticks. */
const ELECTION_MS_MAX = 2 * ELECTION_TICKS * TICK_MS;

interface Node {
  id: number;
  clusterPort: number;
  dataDir: string;
  proc: BrokerProcess;
}

const all: BrokerProcess[] = [];
afterAll(async () => {
  for (const p of all) {
    p.signal('SIGCONT');
    p.signal('SIGKILL');
  }
});

function membersOf(ports: number[]): string {
  return ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',');
}

async function startNode(id: number, ports: number[], dataDir: string, extra: Record<string, string> = {}) {
  const proc = await spawnBroker({
    dataDir,
    env: {
      FERRYMQ_NODE_ID: String(id),
      FERRYMQ_ROLES: 'meta',
      FERRYMQ_CLUSTER__MEMBERS: membersOf(ports),
      FERRYMQ_LISTENERS__CLUSTER: `127.0.0.1:${ports[id - 1]}`,
      FERRYMQ_META__TICK_MS: String(TICK_MS),
      FERRYMQ_META__ELECTION_TICK_COUNT: String(ELECTION_TICKS),
      FERRYMQ_META__REQUEST_TIMEOUT_MS: '2000',
      FERRYMQ_META__SHARD_GROUP_COUNT: '1',
      FERRYMQ_META__SNAPSHOT_ENTRY_COUNT: '50',
      ...extra,
    },
  });
  all.push(proc);
  await proc.ready;
  return proc;
}

async function startCluster(n: number): Promise<{ nodes: Node[]; ports: number[] }> {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const nodes = await Promise.all(
    ports.map(async (clusterPort, i) => {
      const dataDir = await tempDir('ferrymq-cluster-');
      return { id: i + 1, clusterPort, dataDir, proc: await startNode(i + 1, ports, dataDir) };
    }),
  );
  return { nodes, ports };
}

interface GroupView {
  name: string;
  role: string;
  leader: number;
  term: number;
  commit_index: number;
  applied_index: number;
  snapshots_installed: number;
  voters: number[];
}
interface Status {
  node_id: number;
  groups: GroupView[];
  nodes: { id: number; health: string }[];
  members: { id: number; voter_in: string[] }[];
}

async function status(n: Node): Promise<Status> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster`, { signal: AbortSignal.timeout(2000) });
  return (await r.json()) as Status;
}

const meta = (s: Status): GroupView => s.groups.find((g) => g.name === 'metadata') as GroupView;

/** Polls every 25 ms: some tests here time an election by it. */
const until = <T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> =>
  untilValue(what, f, ms, 25);

/** The metadata leader all given nodes agree on, with every group led. */
async function agreedLeader(nodes: Node[], exclude = 0): Promise<{ id: number; term: number }> {
  return until('an agreed leader', async () => {
    const views = await Promise.all(nodes.map(status));
    const m = views.map(meta);
    const leader = m[0]?.leader ?? 0;
    if (leader === 0 || leader === exclude) return undefined;
    if (!m.every((g) => g.leader === leader && g.term === m[0]?.term)) return undefined;
    if (!views.every((v) => v.groups.every((g) => g.leader !== 0 && g.leader !== exclude))) return undefined;
    return { id: leader, term: m[0]?.term ?? 0 };
  });
}

async function put(n: Node, key: string, value: string): Promise<{ status: number; version?: number }> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster/kv/${key}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await r.json()) as { version?: number };
  return { status: r.status, ...(body.version === undefined ? {} : { version: body.version }) };
}

async function list(n: Node, prefix: string): Promise<Map<string, string>> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster/kv?prefix=${prefix}&limit=10000`, {
    signal: AbortSignal.timeout(5000),
  });
  if (r.status !== 200) throw new Error(`list: ${r.status} ${await r.text()}`);
  const { items } = (await r.json()) as { items: { key: string; value: string }[] };
  return new Map(items.map((i) => [i.key, i.value]));
}

describe('3-node meta cluster (real processes)', () => {
  it('elects a leader; keeps writing through a SIGKILL of the leader; loses no acknowledged write; the old leader catches up', async () => {
    const { nodes, ports } = await startCluster(3);
    const first = await agreedLeader(nodes);
    const acked = new Map<string, string>();
    let stop = false;
    let killedAt = 0;
    const errors: number[] = [];
    const live = (): Node[] =>
      nodes.filter((n) => n.proc.proc.exitCode === null && n.proc.proc.signalCode === null);
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const targets = live();
        const n = targets[(w + i) % targets.length] as Node;
        const key = `w/${w}/${i}`;
        try {
          const r = await put(n, key, `v${i}`);
          if (r.status === 200) acked.set(key, `v${i}`);
          else errors.push(r.status);
        } catch {
          errors.push(0);
        }
      }
    };
    const writers = Array.from({ length: 4 }, (_, w) => writer(w));
    await until('some writes', async () => (acked.size >= 40 ? true : undefined));
    const old = nodes[first.id - 1] as Node;
    const before = acked.size;
    old.proc.signal('SIGKILL');
    killedAt = performance.now();
    await old.proc.exited;
    const rest = nodes.filter((n) => n !== old);
    const next = await agreedLeader(rest, old.id);
    const failoverMs = performance.now() - killedAt;
    expect(next.id).not.toBe(old.id);
    expect(next.term).toBeGreaterThan(first.term);
    // Detection takes one election timeout, then a pre-vote and a vote round.
    expect(failoverMs).toBeLessThan(6 * ELECTION_MS_MAX);
    // Past a compaction (every 50 entries): the old node must catch up by snapshot.
    await until('writes after the failover', async () => (acked.size >= before + 120 ? true : undefined));
    stop = true;
    await Promise.all(writers);
    console.log(
      `failover: new leader ${next.id} (term ${next.term}) ${Math.round(failoverMs)} ms after SIGKILL; ${acked.size} writes acknowledged, ${errors.length} refused or failed`,
    );

    for (const n of rest) {
      const seen = await list(n, 'w/');
      for (const [k, v] of acked) expect(seen.get(k), `${k} on node ${n.id}`).toBe(v);
    }

    // Every survivor, leader or not, sees the killed node as down.
    for (const n of rest) {
      await until(`node ${n.id} reporting node ${old.id} down`, async () =>
        (await status(n)).nodes.find((x) => x.id === old.id)?.health === 'down' ? true : undefined,
      );
    }

    // The old leader restarts on its data dir and catches up.
    old.proc = await startNode(old.id, ports, old.dataDir);
    const target = meta(await status(rest[0] as Node)).commit_index;
    await until('the restarted node catching up', async () => {
      const g = meta(await status(old));
      return g.applied_index >= target && g.leader !== 0 ? true : undefined;
    });
    expect(meta(await status(old)).snapshots_installed).toBeGreaterThanOrEqual(1);
    const seen = await list(old, 'w/');
    for (const [k, v] of acked) expect(seen.get(k)).toBe(v);
    const view = await status(rest[0] as Node);
    for (const n of nodes) {
      await until(`node ${n.id} seeing every node up`, async () =>
        (await status(n)).nodes.every((x) => x.health === 'up') ? true : undefined,
      );
    }
    expect(view.members.map((m) => m.id)).toEqual([1, 2, 3]);
  }, 90_000);

  it('a node cut off from the other two cannot commit; it commits again once they are back', async () => {
    const { nodes } = await startCluster(3);
    const leader = await agreedLeader(nodes);
    expect((await put(nodes[0] as Node, 'p/before', 'x')).status).toBe(200);
    // The leader itself is the one cut off: it still believes it leads when the write arrives.
    const lone = nodes[leader.id - 1] as Node;
    const others = nodes.filter((n) => n !== lone);
    for (const n of others) n.proc.signal('SIGSTOP');
    const commitBefore = meta(await status(lone)).commit_index;
    const r = await put(lone, 'p/during', 'y');
    expect([503, 504]).toContain(r.status);
    expect(meta(await status(lone)).commit_index).toBe(commitBefore);
    for (const n of others) n.proc.signal('SIGCONT');
    await until('a commit after the partition heals', async () =>
      (await put(lone, 'p/after', 'z')).status === 200 ? true : undefined,
    );
    const seen = await list(others[0] as Node, 'p/');
    expect(seen.get('p/before')).toBe('x');
    expect(seen.get('p/after')).toBe('z');
  }, 60_000);

  it('leadership moves on request; a fourth node joins through the admin API, receives the log, and leaves again', async () => {
    const { nodes, ports } = await startCluster(3);
    const before = await agreedLeader(nodes);
    // Leader transfer through any node: the metadata group moves to a follower.
    const target = nodes.find((n) => n.id !== before.id) as Node;
    const asker = nodes.find((n) => n.id !== before.id && n !== target) as Node;
    const moved = await fetch(`${asker.proc.adminUrl()}/api/v1/cluster/groups/metadata/leader`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ node: target.id }),
    });
    expect(moved.status, await moved.clone().text()).toBe(200);
    expect(meta(await status(target))).toMatchObject({ role: 'leader', leader: target.id });
    expect(meta(await status(target)).term).toBeGreaterThan(before.term);
    for (let i = 0; i < 20; i++) expect((await put(nodes[1] as Node, `j/${i}`, String(i))).status).toBe(200);
    const port4 = await freePort();
    const all4 = [...ports, port4];
    const joinDir = await tempDir('ferrymq-cluster-');
    const joiner: Node = {
      id: 4,
      clusterPort: port4,
      dataDir: joinDir,
      proc: await startNode(4, all4, joinDir, { FERRYMQ_META__JOIN: 'true' }),
    };
    expect(meta(await status(joiner)).voters).toEqual([]);
    const add = await fetch(`${nodes[2]?.proc.adminUrl()}/api/v1/cluster/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 4, address: `127.0.0.1:${port4}` }),
    });
    expect(add.status, await add.clone().text()).toBe(200);
    await until('the joiner voting in every group with the log applied', async () => {
      const s = await status(joiner);
      return s.groups.every((g) => g.voters.includes(4) && g.leader !== 0) &&
        (await list(joiner, 'j/')).size === 20
        ? true
        : undefined;
    });
    const bad = await fetch(`${nodes[0]?.proc.adminUrl()}/api/v1/cluster/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 0, address: 'nowhere' }),
    });
    expect(bad.status).toBe(400);
    const del = await fetch(`${nodes[0]?.proc.adminUrl()}/api/v1/cluster/members/4`, { method: 'DELETE' });
    expect(del.status, await del.clone().text()).toBe(200);
    const s = await status(nodes[0] as Node);
    expect(s.groups.every((g) => !g.voters.includes(4))).toBe(true);
    expect((await put(nodes[0] as Node, 'j/after', 'x')).status).toBe(200);
  }, 60_000);
});

describe('meta cluster: bad input', () => {
  it('refuses a member list that names a node twice, with a one-line config error', async () => {
    const proc = await spawnBroker({
      env: { FERRYMQ_ROLES: 'meta', FERRYMQ_CLUSTER__MEMBERS: '1@127.0.0.1:19001,1@127.0.0.1:19002' },
    });
    all.push(proc);
    const { code } = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.stderr()).toMatch(/cluster\.members.*node id 1 is listed twice/);
    const proc2 = await spawnBroker({
      env: { FERRYMQ_ROLES: 'meta', FERRYMQ_CLUSTER__MEMBERS: '1@127.0.0.1:19001,2@127.0.0.1:19001' },
    });
    all.push(proc2);
    expect((await proc2.exited).code).not.toBe(0);
    expect(proc2.stderr()).toMatch(/address 127\.0\.0\.1:19001 is listed twice/);
  });

  it('refuses an RPC from a node that is not a member (PERMISSION_DENIED) and keeps serving', async () => {
    const { nodes } = await startCluster(1);
    const n = nodes[0] as Node;
    const Client = grpc.makeGenericClientConstructor({}, 'Raw');
    const client = new Client(`127.0.0.1:${n.clusterPort}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('x-ferrymq-node', '99');
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        '/ferrymq.raft.v1.Raft/Step',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x08, 99, 0x10, 1]),
        md,
        { deadline: Date.now() + 3000 },
        (e) => resolve(e),
      );
    });
    client.close();
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/node 99 is not a member/);
    expect((await put(n, 'still', 'ok')).status).toBe(200);
  });
});
