import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { Storage } from '../storage/storage.ts';
import { tempDir } from '../test/helpers/broker.ts';
import { freePort } from '../test/helpers/ports.ts';
import { groupForKey } from './groups.ts';
import { METADATA_GROUP, MetaService } from './service.ts';

const config = resolveConfig(undefined, '(test)', {});
const meta = {
  ...config.meta,
  tick_ms: 10,
  election_tick_count: 10,
  heartbeat_tick_count: 2,
  request_timeout_ms: 3000,
};
const logger = createLogger({ level: 'silent', format: 'json' });

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

async function cluster(n: number): Promise<MetaService[]> {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const members = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  return Promise.all(
    members.map(async (m, i) => {
      const storage = await Storage.open(await tempDir('ferrymq-meta-'), config.storage);
      const s = await MetaService.start({
        nodeId: m.id,
        config: meta,
        members,
        listen: { host: '127.0.0.1', port: ports[i] as number },
        kv: storage.kv,
        logger,
      });
      cleanup.push(async () => {
        await s.close();
        await storage.close();
      });
      return s;
    }),
  );
}

async function until<T>(f: () => T | undefined | false, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function rawCall(
  address: string,
  method: string,
  body: Buffer,
  node?: string,
): Promise<grpc.ServiceError | null> {
  const Client = grpc.makeGenericClientConstructor({}, 'Raw');
  const client = new Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (node !== undefined) md.set('x-ferrymq-node', node);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/ferrymq.raft.v1.Raft/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      md,
      { deadline: Date.now() + 3000 },
      (err) => {
        client.close();
        resolve(err);
      },
    );
  });
}

/** StepBatch{from=1 (field 1), to=2 (field 2)} as protobuf bytes. */
function stepBatch(from: number, to: number, extra: number[] = []): Buffer {
  return Buffer.from([0x08, from, 0x10, to, ...extra]);
}

describe('MetaService over gRPC', () => {
  it('three nodes: every group elects a leader; any node proposes and reads (forwarded to the leader)', async () => {
    const nodes = await cluster(3);
    await until(() => nodes[0]?.groups().every((g) => g.leader !== 0));
    const groups = nodes[0]?.groups() ?? [];
    expect(groups.map((g) => g.name)).toEqual([
      'metadata',
      'sessions-0',
      'sessions-1',
      'offsets-0',
      'offsets-1',
    ]);
    for (const [i, n] of nodes.entries()) {
      const r = await n.propose(METADATA_GROUP, { op: 'put', key: `k${i}`, value: `from ${n.nodeId}` });
      expect(r.ok).toBe(true);
    }
    for (const n of nodes) {
      expect((await n.list(METADATA_GROUP, 'k', 10)).map((x) => x.value)).toEqual([
        'from 1',
        'from 2',
        'from 3',
      ]);
    }
    const g = groupForKey('offsets', 'group-a/topic/0', 2);
    await nodes[2]?.propose(g, { op: 'put', key: 'group-a/topic/0', value: '42' });
    expect((await nodes[1]?.get(g, 'group-a/topic/0'))?.value).toBe('42');
    // A watcher on one node sees a write made through another, in order.
    const w = nodes[2]?.watch(METADATA_GROUP, 'cfg/');
    await nodes[0]?.propose(METADATA_GROUP, { op: 'put', key: 'cfg/a', value: '1' });
    await nodes[1]?.propose(METADATA_GROUP, { op: 'delete', key: 'cfg/a' });
    const events = [];
    for await (const e of w ?? []) {
      events.push(e);
      if (events.length === 2) break;
    }
    expect(events.map((e) => e.type)).toEqual(['put', 'delete']);
    // The metadata leader records the initial members under nodes/.
    await until(() => nodes[1]?.status().members.length === 3);
    const st = nodes[1]?.status();
    expect(st?.nodes.filter((x) => x.health === 'up')).toHaveLength(3);
  });

  it('refuses unknown members, itself, batches for another node and malformed bytes with clear statuses', async () => {
    // Calls claim to come from node 2, a real member; node 1 answers.
    const [n1] = await cluster(2);
    const addr = n1?.boundAddress as string;
    const unknown = await rawCall(addr, 'Step', stepBatch(99, 1), '99');
    expect(unknown?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(unknown?.details).toMatch(/not a member/);
    const asSelf = await rawCall(addr, 'Step', stepBatch(1, 1), '1');
    expect(asSelf?.code).toBe(grpc.status.PERMISSION_DENIED);
    const noHeader = await rawCall(addr, 'Step', stepBatch(2, 1));
    expect(noHeader?.code).toBe(grpc.status.PERMISSION_DENIED);
    const headerMismatch = await rawCall(addr, 'Step', stepBatch(2, 1), '3');
    expect(headerMismatch?.code).toBe(grpc.status.PERMISSION_DENIED);
    const wrongNode = await rawCall(addr, 'Step', stepBatch(2, 7), '2');
    expect(wrongNode?.code).toBe(grpc.status.FAILED_PRECONDITION);
    const garbage = await rawCall(addr, 'Step', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), '2');
    expect(garbage?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // messages[0] = RaftMessage{ type = 99 (unknown enum) }
    const badType = await rawCall(addr, 'Step', stepBatch(2, 1, [0x1a, 0x02, 0x10, 99]), '2');
    expect(badType?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // messages[0] = RaftMessage{ group = 77, type = TIMEOUT_NOW }: no such group here.
    const noGroup = await rawCall(addr, 'Step', stepBatch(2, 1, [0x1a, 0x04, 0x08, 77, 0x10, 8]), '2');
    expect(noGroup?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noGroup?.details).toMatch(/no raft group 77/);
    const badForward = await rawCall(addr, 'Forward', Buffer.from([0x08, 2, 0x18, 42]), '2');
    expect(badForward?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const ok = await rawCall(addr, 'Step', stepBatch(2, 1), '2');
    expect(ok).toBeNull();
    // The node is unharmed.
    await until(() => n1?.groups().every((g) => g.leader !== 0));
    expect((await n1?.propose(METADATA_GROUP, { op: 'put', key: 'a', value: 'b' }))?.ok).toBe(true);
  });
});
