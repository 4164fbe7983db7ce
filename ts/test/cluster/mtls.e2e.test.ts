/**
 * Mutual TLS between meta nodes across real processes. The test makes two
 * PKIs with the openssl CLI: the cluster's CA with one certificate per node
 * (subjectAltName IP:127.0.0.1, serverAuth + clientAuth), and a foreign CA
 * with a certificate of its own.
 *
 * Checks: three nodes with `meta.tls_*` elect a leader and commit writes
 * made through any node; a node whose certificate comes from the foreign CA
 * gets no connection (its probes and Raft calls fail; the members log and
 * count the refused handshakes) and cannot join even when added, while the
 * cluster keeps committing; a raw gRPC client with the foreign certificate,
 * with no certificate, or in plaintext is refused even when it claims a
 * member's id, and one with a valid certificate still has its claimed id
 * checked against the member list; a config with only some of the three
 * keys is refused at start with exit code 2.
 */
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { freePort } from '../helpers/ports.ts';
import { makeCa } from '../helpers/tls.ts';
import { until } from '../helpers/until.ts';

const all: BrokerProcess[] = [];
afterAll(() => {
  for (const p of all) p.signal('SIGKILL');
});

/** Node certificates: serverAuth and clientAuth, for 127.0.0.1. */
const NODE_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';

interface Ca {
  dir: string;
  ca: string;
  /** Issues a node certificate; returns its cert and key paths. */
  issue(name: string): Promise<{ cert: string; key: string }>;
}

async function nodeCa(label: string): Promise<Ca> {
  const ca = await makeCa(`FerryMQ ${label} CA`, 'ec');
  return { dir: ca.dir, ca: ca.ca, issue: (name) => ca.issue(name, `/CN=${name}`, NODE_EXT) };
}

interface Node {
  id: number;
  port: number;
  proc: BrokerProcess;
}

interface Tls {
  cert: string;
  key: string;
  ca: string;
}

async function startNode(id: number, ports: number[], tls: Tls, extra: Record<string, string> = {}) {
  const proc = await spawnBroker({
    dataDir: await tempDir('ferrymq-mtls-node-'),
    env: {
      FERRYMQ_NODE_ID: String(id),
      FERRYMQ_ROLES: 'meta',
      FERRYMQ_CLUSTER__MEMBERS: ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(','),
      FERRYMQ_LISTENERS__CLUSTER: `127.0.0.1:${ports[id - 1]}`,
      FERRYMQ_META__TICK_MS: '20',
      FERRYMQ_META__ELECTION_TICK_COUNT: '10',
      FERRYMQ_META__REQUEST_TIMEOUT_MS: '2000',
      FERRYMQ_META__SHARD_GROUP_COUNT: '1',
      FERRYMQ_META__TLS_CERT_FILE: tls.cert,
      FERRYMQ_META__TLS_KEY_FILE: tls.key,
      FERRYMQ_META__TLS_CA_FILE: tls.ca,
      ...extra,
    },
  });
  all.push(proc);
  await proc.ready;
  return proc;
}

interface Status {
  groups: { name: string; leader: number; applied_index: number; voters: number[] }[];
  nodes: { id: number; health: string; last_error: string | null }[];
}

async function status(n: Node): Promise<Status> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster`, { signal: AbortSignal.timeout(2000) });
  return (await r.json()) as Status;
}

const metadata = (s: Status) => s.groups.find((g) => g.name === 'metadata');

/** A write; 503 (no leader known, e.g. during an election) is asked again for up to 5 s, as a client would. */
async function put(n: Node, key: string, value: string): Promise<number> {
  const end = Date.now() + 5000;
  for (;;) {
    const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster/kv/${key}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    if (r.status === 503 && Date.now() < end) continue;
    if (r.status !== 200) console.log(`put ${key} on node ${n.id}: ${r.status} ${text}`);
    return r.status;
  }
}

async function get(n: Node, key: string): Promise<string> {
  const r = await fetch(`${n.proc.adminUrl()}/api/v1/cluster/kv/${key}`, {
    signal: AbortSignal.timeout(5000),
  });
  if (r.status !== 200) throw new Error(`get ${key} on node ${n.id}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { value: string }).value;
}

/** One raw Step call claiming to be node `claim`; resolves with the error (null: accepted). */
async function rawStep(port: number, creds: grpc.ChannelCredentials, claim: number) {
  const Client = grpc.makeGenericClientConstructor({}, 'Raw');
  const client = new Client(`127.0.0.1:${port}`, creds);
  const md = new grpc.Metadata();
  md.set('x-ferrymq-node', String(claim));
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    client.makeUnaryRequest(
      '/ferrymq.raft.v1.Raft/Step',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0x08, claim, 0x10, 1]),
      md,
      { deadline: Date.now() + 3000 },
      (e) => resolve(e),
    );
  });
  client.close();
  return err;
}

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

let cluster: Ca;
let foreign: Ca;
beforeAll(async () => {
  [cluster, foreign] = await Promise.all([nodeCa('cluster'), nodeCa('foreign')]);
}, 60_000);

describe('mutual TLS between meta nodes', () => {
  it('three nodes with certificates from the CA commit; a foreign certificate gets no connection', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const members = ports.slice(0, 3);
    const certs = await Promise.all([1, 2, 3].map((i) => cluster.issue(`node${i}`)));
    const nodes: Node[] = await Promise.all(
      certs.map(async (c, i) => ({
        id: i + 1,
        port: members[i] as number,
        proc: await startNode(i + 1, members, { ...c, ca: cluster.ca }),
      })),
    );
    const leader = await until('a leader over TLS', async () => {
      const views = await Promise.all(nodes.map(status));
      const l = metadata(views[0] as Status)?.leader ?? 0;
      return l !== 0 && views.every((v) => metadata(v)?.leader === l) ? l : undefined;
    });
    expect(leader).toBeGreaterThan(0);
    // Writes through every node: the followers forward over TLS to the leader.
    for (const [i, n] of nodes.entries()) expect(await put(n, `t/${i}`, `via ${n.id}`)).toBe(200);
    for (const n of nodes) {
      for (let i = 0; i < 3; i++) expect(await get(n, `t/${i}`)).toBe(`via ${i + 1}`);
    }

    // Raw clients against node 1. A valid certificate gets through TLS and the
    // claimed id is still checked against the member list.
    const n1 = nodes[0] as Node;
    const [key2, cert2] = await Promise.all([readFile(certs[1]?.key ?? ''), readFile(certs[1]?.cert ?? '')]);
    const caPem = await readFile(cluster.ca);
    const valid = grpc.credentials.createSsl(caPem, key2, cert2);
    const stranger = await rawStep(n1.port, valid, 99);
    expect(stranger?.code).toBe(grpc.status.PERMISSION_DENIED);
    // The foreign certificate (trusting the cluster CA for the server) is refused, even claiming member 2.
    const rogue = await foreign.issue('rogue');
    const [rogueKey, rogueCert] = await Promise.all([readFile(rogue.key), readFile(rogue.cert)]);
    const refusedBefore = await metric(n1, 'ferrymq_meta_rpc_refused_total', { reason: 'tls' });
    const foreignErr = await rawStep(n1.port, grpc.credentials.createSsl(caPem, rogueKey, rogueCert), 2);
    expect(foreignErr?.code).toBe(grpc.status.UNAVAILABLE);
    // No client certificate, and plaintext: refused too.
    expect((await rawStep(n1.port, grpc.credentials.createSsl(caPem), 2))?.code).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect((await rawStep(n1.port, grpc.credentials.createInsecure(), 2))?.code).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect(await metric(n1, 'ferrymq_meta_rpc_refused_total', { reason: 'tls' })).toBeGreaterThan(
      refusedBefore,
    );
    expect(
      n1.proc.logs.some((l) => l.msg === 'cluster connection refused: TLS handshake failed'),
      'the refused handshake is logged',
    ).toBe(true);

    // A whole node with the foreign PKI: it joins, is added, and still gets nothing.
    const all4 = [...members, ports[3] as number];
    const rogueNode: Node = {
      id: 4,
      port: ports[3] as number,
      proc: await startNode(4, all4, { ...rogue, ca: foreign.ca }, { FERRYMQ_META__JOIN: 'true' }),
    };
    const added = await fetch(`${n1.proc.adminUrl()}/api/v1/cluster/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 4, address: `127.0.0.1:${ports[3]}` }),
      signal: AbortSignal.timeout(15_000),
    });
    expect(added.status, await added.clone().text()).toBe(200);
    // The cluster keeps committing with the unreachable fourth voter.
    for (let i = 0; i < 10; i++) expect(await put(nodes[i % 3] as Node, `after/${i}`, String(i))).toBe(200);
    // Every node refuses its handshakes, and it never receives the log.
    for (const n of nodes) {
      await until(`node ${n.id} refusing node 4's handshakes`, async () =>
        (await metric(n, 'ferrymq_meta_rpc_refused_total', { reason: 'tls' })) > 0 ? true : undefined,
      );
    }
    const r4 = await status(rogueNode);
    expect(metadata(r4)?.applied_index).toBe(0);
    expect(metadata(r4)?.leader).toBe(0);
    for (const n of nodes) {
      const seen = (await status(n)).nodes.find((x) => x.id === 4);
      expect(seen?.health, `node ${n.id}'s view of node 4`).not.toBe('up');
    }
    expect((await status(rogueNode)).nodes.filter((x) => x.id !== 4).every((x) => x.health !== 'up')).toBe(
      true,
    );
    expect(await get(nodes[2] as Node, 'after/9')).toBe('9');
  }, 120_000);

  it('refuses a config with only some of meta.tls_* at start, exit code 2', async () => {
    const c = await cluster.issue('partial');
    const partial: Record<string, string>[] = [
      { FERRYMQ_META__TLS_CERT_FILE: c.cert },
      { FERRYMQ_META__TLS_CERT_FILE: c.cert, FERRYMQ_META__TLS_KEY_FILE: c.key },
      { FERRYMQ_META__TLS_CA_FILE: cluster.ca },
    ];
    for (const env of partial) {
      const proc = await spawnBroker({ env: { FERRYMQ_ROLES: 'meta', ...env } });
      all.push(proc);
      const { code } = await proc.exited;
      expect(code).toBe(2);
      const lines = proc.stderr().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /meta\.tls_cert_file, meta\.tls_key_file and meta\.tls_ca_file must be set together/,
      );
    }
  });
});
