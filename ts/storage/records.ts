/**
 * Records as the rest of FerryMQ sees them, and their two byte forms:
 *
 * - the **packed** form, which JavaScript writes in one pass into one Buffer
 *   and the native core encodes into a Kafka magic-2 batch (format owned by
 *   `crates/ferry-frame/src/records.rs`, all little-endian):
 *   `ts i64 | keyLen i32 (-1 null) | key | valLen i32 (-1 null) | value |
 *    hdrCount u32 | { hkLen u32 | hk | hvLen i32 (-1 null) | hv }*`;
 *   when the packer is given a `values` list, a value of at least
 *   OUT_OF_LINE_VALUE_BYTES is not copied: `valLen -2 | index u32` names it
 *   in that list, and the native encoder reads it from the caller's Buffer
 * - the **stored** form, whole magic-2 record batches, which `decodeBatches`
 *   reads back for uncompressed batches (reads were CRC-checked natively).
 */
import { FerryError } from '../errors.ts';

export interface RecordHeader {
  key: string | Buffer;
  value: Buffer | null;
}

export interface Record {
  /** Milliseconds since the epoch; defaults to now. */
  timestampMs?: number;
  key?: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeader[];
}

export interface StoredRecord {
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: Buffer; value: Buffer | null }[];
}

function headerKeyBytes(h: RecordHeader): number {
  return typeof h.key === 'string' ? Buffer.byteLength(h.key) : h.key.length;
}

/**
 * Values this large are passed to the native encoder as they are (out of
 * line) instead of being copied into the packed Buffer: for big payloads
 * that copy, and the fresh Buffer it needs, were a large share of the JS
 * thread's work per append. Smaller values are cheaper to copy than to hand
 * over as one more Buffer.
 */
export const OUT_OF_LINE_VALUE_BYTES = 16 * 1024;

function outOfLine(v: Buffer | null): v is Buffer {
  return v !== null && v.length >= OUT_OF_LINE_VALUE_BYTES;
}

/** Bytes `packInto` writes for these records when given a `values` list. */
export function packedInlineSize(records: readonly Record[]): number {
  let n = packedSize(records);
  for (const r of records) if (outOfLine(r.value)) n -= r.value.length - 4;
  return n;
}

/** Bytes `packRecords` will write for these records (every value inline). */
export function packedSize(records: readonly Record[]): number {
  let n = 0;
  for (const r of records) {
    n += 8 + 4 + (r.key?.length ?? 0) + 4 + (r.value?.length ?? 0) + 4;
    for (const h of r.headers ?? []) n += 4 + headerKeyBytes(h) + 4 + (h.value?.length ?? 0);
  }
  return n;
}

/**
 * Write `records` in the packed form into `out` at `at`; returns the end
 * position. With `values`, large values are appended to it and named by
 * index instead of copied (`out` must then be `packedInlineSize` long).
 */
export function packInto(
  records: readonly Record[],
  out: Buffer,
  at: number,
  nowMs: number,
  values?: Buffer[],
): number {
  let p = at;
  for (const r of records) {
    p = out.writeBigInt64LE(BigInt(Math.trunc(r.timestampMs ?? nowMs)), p);
    p = writeBytes(out, p, r.key ?? null);
    if (values !== undefined && outOfLine(r.value)) {
      p = out.writeInt32LE(-2, p);
      p = out.writeUInt32LE(values.length, p);
      values.push(r.value);
    } else p = writeBytes(out, p, r.value);
    const headers = r.headers ?? [];
    p = out.writeUInt32LE(headers.length, p);
    for (const h of headers) {
      if (typeof h.key === 'string') {
        const len = out.write(h.key, p + 4);
        p = out.writeUInt32LE(len, p) + len;
      } else {
        p = out.writeUInt32LE(h.key.length, p);
        p += h.key.copy(out, p);
      }
      p = writeBytes(out, p, h.value);
    }
  }
  return p;
}

function writeBytes(out: Buffer, p: number, b: Buffer | null): number {
  if (b === null) return out.writeInt32LE(-1, p);
  const q = out.writeInt32LE(b.length, p);
  return q + b.copy(out, q);
}

export function packRecords(records: readonly Record[], nowMs: number = Date.now()): Buffer {
  const out = Buffer.allocUnsafe(packedSize(records));
  packInto(records, out, 0, nowMs);
  return out;
}

// --- stored form ------------------------------------------------------------

const BATCH_HEADER_LEN = 61;

/** Records in one batch (lastOffsetDelta + 1), read from its header. */
export function batchOffsetCount(buf: Buffer, at = 0): number {
  return buf.readInt32BE(at + 23) + 1;
}

/** Walk back-to-back batches, yielding [start, end) of each. */
export function* batchSpans(buf: Buffer): Generator<[number, number]> {
  let at = 0;
  while (at + 12 <= buf.length) {
    const end = at + 12 + buf.readInt32BE(at + 8);
    if (end > buf.length || end < at + BATCH_HEADER_LEN) {
      throw new FerryError('FERRY_ERR_FRAME_MALFORMED', `record batch at byte ${at} overruns its buffer`);
    }
    yield [at, end];
    at = end;
  }
  if (at !== buf.length) {
    throw new FerryError(
      'FERRY_ERR_FRAME_MALFORMED',
      `${buf.length - at} trailing bytes after the last batch`,
    );
  }
}

class Cursor {
  p: number;
  readonly b: Buffer;
  readonly end: number;
  constructor(b: Buffer, p: number, end: number) {
    this.b = b;
    this.p = p;
    this.end = end;
  }
  need(n: number): void {
    if (this.p + n > this.end) throw new FerryError('FERRY_ERR_FRAME_MALFORMED', 'record overruns its batch');
  }
  varlong(): number {
    // Zigzag varint, at most 10 bytes; values here fit in a double.
    let shift = 0n;
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      this.need(1);
      const byte = this.b[this.p++] as number;
      v |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return Number((v >> 1n) ^ -(v & 1n));
      shift += 7n;
    }
    throw new FerryError('FERRY_ERR_FRAME_MALFORMED', 'varint longer than 10 bytes');
  }
  bytes(): Buffer | null {
    const len = this.varlong();
    if (len < 0) return null;
    this.need(len);
    const out = this.b.subarray(this.p, this.p + len);
    this.p += len;
    return out;
  }
}

/**
 * Decode the records of uncompressed magic-2 batches, skipping offsets
 * below `fromOffset` (a read starts at the batch containing it). Values are
 * views into `buf`, not copies. Compressed batches (Kafka producers' gzip,
 * snappy, lz4, zstd) are refused with FERRY_ERR_FRAME_UNSUPPORTED.
 */
export function decodeBatches(buf: Buffer, fromOffset = 0): StoredRecord[] {
  const out: StoredRecord[] = [];
  for (const [start, end] of batchSpans(buf)) {
    const baseOffset = Number(buf.readBigInt64BE(start));
    const attributes = buf.readInt16BE(start + 21);
    if ((attributes & 0x07) !== 0) {
      throw new FerryError(
        'FERRY_ERR_FRAME_UNSUPPORTED',
        `compressed batch (codec ${attributes & 0x07}) cannot be decoded here`,
      );
    }
    if ((attributes & 0x20) !== 0) continue; // control batch (transaction markers): no user records
    const baseTimestamp = Number(buf.readBigInt64BE(start + 27));
    const count = buf.readInt32BE(start + 57);
    const c = new Cursor(buf, start + BATCH_HEADER_LEN, end);
    for (let i = 0; i < count; i++) {
      const len = c.varlong();
      const recordEnd = c.p + len;
      c.need(len);
      c.p += 1; // attributes
      const timestampDelta = c.varlong();
      const offsetDelta = c.varlong();
      const key = c.bytes();
      const value = c.bytes();
      const headerCount = c.varlong();
      const headers: StoredRecord['headers'] = [];
      for (let h = 0; h < headerCount; h++) {
        const hk = c.bytes() ?? Buffer.alloc(0);
        headers.push({ key: hk, value: c.bytes() });
      }
      c.p = recordEnd;
      const offset = baseOffset + offsetDelta;
      if (offset >= fromOffset)
        out.push({ offset, timestampMs: baseTimestamp + timestampDelta, key, value, headers });
    }
  }
  return out;
}
