/**
 * `SnapshotChunk` (proto/raft.proto) to and from its proto-loader form.
 * Decoding validates like wire.ts: 64-bit fields arrive as strings and must
 * be integers in 0..2^53, voter ids positive; anything else is a
 * `WireError` (INVALID_ARGUMENT). Transfer-level rules (order, terms) are
 * snapshot-assembler.ts's.
 */
import type { NodeId } from '../raft/types.ts';
import type { SnapshotChunk } from './snapshot-assembler.ts';
import { WireError } from './wire.ts';

export interface PbSnapshotChunk {
  from: number;
  to: number;
  group: number;
  term: string | number;
  seq: string | number;
  index: string | number;
  snapshot_term: string | number;
  voters: number[];
  total_bytes: string | number;
  crc32: number;
  offset: string | number;
  data: Buffer | Uint8Array;
  done: boolean;
}

function u64(v: string | number | undefined, field: string): number {
  const n = typeof v === 'number' ? v : Number(v ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw new WireError(`${field} is not an integer in 0..2^53`);
  return n;
}

export function chunkToPb(c: SnapshotChunk): PbSnapshotChunk {
  return {
    from: c.from,
    to: c.to,
    group: c.group,
    term: c.term,
    seq: c.seq,
    index: c.index,
    snapshot_term: c.snapshotTerm,
    voters: [...c.voters],
    total_bytes: c.totalBytes,
    crc32: c.crc32,
    offset: c.offset,
    data: c.data,
    done: c.done,
  };
}

export function chunkFromPb(p: PbSnapshotChunk): SnapshotChunk {
  const voters: NodeId[] = [...(p.voters ?? [])];
  for (const v of voters)
    if (!Number.isInteger(v) || v <= 0) throw new WireError(`voters holds node id ${v}`);
  return {
    from: p.from,
    to: p.to,
    group: p.group,
    term: u64(p.term, 'term'),
    seq: u64(p.seq, 'seq'),
    index: u64(p.index, 'index'),
    snapshotTerm: u64(p.snapshot_term, 'snapshot_term'),
    voters,
    totalBytes: u64(p.total_bytes, 'total_bytes'),
    crc32: p.crc32 >>> 0,
    offset: u64(p.offset, 'offset'),
    data: p.data instanceof Uint8Array ? p.data : new Uint8Array(p.data ?? []),
    done: p.done === true,
  };
}
