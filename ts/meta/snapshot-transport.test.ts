/**
 * The `InstallSnapshotChunk` RPC on a real node (MetaService over gRPC, in
 * one process): what the server answers to chunks from strangers, for
 * other nodes, out of order, of a stale term, and to bytes that do not
 * decode; the node keeps serving.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { Storage } from '../storage/storage.ts';
import { tempDir } from '../test/helpers/broker.ts';
import { freePort } from '../test/helpers/ports.ts';
import { loadService } from './raft-rpc.ts';
import { METADATA_GROUP, MetaService } from './service.ts';
import type { PbSnapshotChunk } from './snapshot-wire.ts';

const config = resolveConfig(undefined, '(test)', {});
const logger = createLogger({ level: 'silent', format: 'json' });

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

type ChunkClient = grpc.Client & {
  InstallSnapshotChunk(
    req: PbSnapshotChunk,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { next_offset: string }) => void,
  ): void;
};

function client(port: number): ChunkClient {
  const Ctor = grpc.makeGenericClientConstructor(loadService(), 'Raft');
  const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as ChunkClient;
  cleanup.push(async () => c.close());
  return c;
}

function call(
  c: ChunkClient,
  claim: number,
  chunk: Partial<PbSnapshotChunk>,
): Promise<grpc.ServiceError | null> {
  const md = new grpc.Metadata();
  md.set('x-ferrymq-node', String(claim));
  const full: PbSnapshotChunk = {
    from: claim,
    to: 1,
    group: METADATA_GROUP,
    term: 50,
    seq: 1,
    index: 10,
    snapshot_term: 50,
    voters: [1, 2],
    total_bytes: 2000,
    crc32: 0,
    offset: 0,
    data: Buffer.alloc(1000, 1),
    done: false,
    ...chunk,
  };
  return new Promise((resolve) => {
    c.InstallSnapshotChunk(full, md, { deadline: Date.now() + 3000 }, (err) => resolve(err));
  });
}

describe('InstallSnapshotChunk on a node', () => {
  it('refuses strangers, other nodes, gaps, stale terms and bad bytes, and keeps serving', async () => {
    const ports = [await freePort(), await freePort()];
    const members = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
    // Node 2 is never started: node 1 stays a candidate, its term grows, and nobody installs anything.
    const storage = await Storage.open(await tempDir('ferrymq-meta-'), config.storage);
    const node = await MetaService.start({
      nodeId: 1,
      config: { ...config.meta, tick_ms: 10, election_tick_count: 10, shard_group_count: 1 },
      members,
      listen: { host: '127.0.0.1', port: ports[0] as number },
      kv: storage.kv,
      logger,
    });
    cleanup.push(async () => {
      await node.close();
      await storage.close();
    });
    const c = client(ports[0] as number);

    expect((await call(c, 99, {}))?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await call(c, 2, { to: 3 }))?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await call(c, 2, { group: 4000 }))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call(c, 2, { term: '18446744073709551615' }))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // A chunk in the middle of a transfer that never started.
    const gap = await call(c, 2, { offset: 1000, done: true });
    expect(gap?.code).toBe(grpc.status.ABORTED);
    expect(gap?.details).toMatch(/start at 0/);
    // Staged, then a chunk past the end of what was staged.
    expect(await call(c, 2, {})).toBeNull();
    const skip = await call(c, 2, { offset: 1500, data: Buffer.alloc(500), done: true });
    expect(skip?.code).toBe(grpc.status.ABORTED);
    expect(skip?.details).toMatch(/expected 1000/);
    // A term below the node's own is stale (the node's term grows as it campaigns alone).
    expect((await call(c, 2, { term: 0 }))?.details).toMatch(/stale|term 0/);
    // A transfer whose bytes do not match its announced CRC-32: the last chunk is refused, nothing installed.
    expect(await call(c, 2, { crc32: 12345 })).toBeNull();
    const bad = await call(c, 2, { offset: 1000, done: true, crc32: 12345 });
    expect(bad?.code).toBe(grpc.status.ABORTED);
    expect(bad?.details).toMatch(/CRC-32/);
    expect(node.status().groups.find((g) => g.id === METADATA_GROUP)?.snapshots_installed).toBe(0);

    // Bytes that are not a SnapshotChunk.
    const raw = await new Promise<grpc.ServiceError | null>((resolve) => {
      const md = new grpc.Metadata();
      md.set('x-ferrymq-node', '2');
      c.makeUnaryRequest(
        '/ferrymq.raft.v1.Raft/InstallSnapshotChunk',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
        md,
        { deadline: Date.now() + 3000 },
        (e) => resolve(e),
      );
    });
    expect(raw?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // Still serving: a valid start is accepted.
    expect(await call(c, 2, { data: Buffer.alloc(10, 2) })).toBeNull();
  });
});
