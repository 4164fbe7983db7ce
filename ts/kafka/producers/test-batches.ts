/**
 * Magic-2 record batches with producer fields, built byte by byte for the
 * idempotence tests (unit and end to end) with the real CRC-32C, so they
 * pass the native checks exactly as a client's batches would.
 */
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { loadNative } from '../../native/load.ts';

export interface TestBatch {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  values: string[];
  /** Attribute bits (transactional 0x10, control 0x20); 0 by default. */
  attributes?: number;
  /** Compress the records (sets the codec bits: gzip 1, zstd 4). */
  codec?: 'gzip' | 'zstd';
  timestampMs?: number;
}

function varint(n: number): Buffer {
  let v = (n << 1) ^ (n >> 31);
  const out: number[] = [];
  v >>>= 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function record(offsetDelta: number, value: string): Buffer {
  const v = Buffer.from(value);
  const body = Buffer.concat([
    Buffer.from([0]), // attributes
    varint(0), // timestamp delta
    varint(offsetDelta),
    varint(-1), // null key
    varint(v.length),
    v,
    varint(0), // no headers
  ]);
  return Buffer.concat([varint(body.length), body]);
}

/** One batch; `values` become its records. */
export function buildBatch(b: TestBatch): Buffer {
  const plain = Buffer.concat(b.values.map((v, i) => record(i, v)));
  const records = b.codec === 'gzip' ? gzipSync(plain) : b.codec === 'zstd' ? zstdCompressSync(plain) : plain;
  const codecBits = b.codec === 'gzip' ? 1 : b.codec === 'zstd' ? 4 : 0;
  const head = Buffer.alloc(61);
  const ts = BigInt(b.timestampMs ?? Date.now());
  head.writeBigInt64BE(0n, 0);
  head.writeInt32BE(61 - 12 + records.length, 8);
  head.writeInt32BE(-1, 12); // partition leader epoch
  head.writeInt8(2, 16);
  head.writeInt16BE((b.attributes ?? 0) | codecBits, 21);
  head.writeInt32BE(b.values.length - 1, 23);
  head.writeBigInt64BE(ts, 27);
  head.writeBigInt64BE(ts, 35);
  head.writeBigInt64BE(b.producerId, 43);
  head.writeInt16BE(b.producerEpoch, 51);
  head.writeInt32BE(b.baseSequence, 53);
  head.writeInt32BE(b.values.length, 57);
  const batch = Buffer.concat([head, records]);
  batch.writeUInt32BE(loadNative().crc32c(batch.subarray(21)) >>> 0, 17);
  return batch;
}
