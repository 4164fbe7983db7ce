/**
 * Kafka magic-2 record batches for the load generator, built and read by
 * hand: a producer appends records straight into one preallocated batch
 * buffer (no object per record) and a consumer walks fetched batches without
 * materialising records. Values of 12 bytes or more start with the magic
 * "FQMB" and the send time (float64 µs, CLOCK_MONOTONIC), as MQTT payloads
 * do (mqtt-codec.ts), so end-to-end latency can be read on the other side.
 */
import { STAMP_BYTES } from './mqtt-codec.ts';

const MAGIC = 0x424d5146;
/** Bytes of a batch before its first record. */
export const BATCH_HEADER_BYTES = 61;

// CRC-32C (Castagnoli), slicing-by-8: fast enough that checksumming stays a small part of producing.
const CRC_TABLES: Uint32Array[] = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = t[0] as Uint32Array;
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t0[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) {
      const prev = (t[k - 1] as Uint32Array)[i] as number;
      (t[k] as Uint32Array)[i] = ((prev >>> 8) ^ (t0[prev & 0xff] as number)) >>> 0;
    }
  }
  return t;
})();

export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let c = 0xffffffff;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a =
      c ^
      ((buf[i] as number) |
        ((buf[i + 1] as number) << 8) |
        ((buf[i + 2] as number) << 16) |
        ((buf[i + 3] as number) << 24));
    c =
      (t7[a & 0xff] as number) ^
      (t6[(a >>> 8) & 0xff] as number) ^
      (t5[(a >>> 16) & 0xff] as number) ^
      (t4[a >>> 24] as number) ^
      (t3[buf[i + 4] as number] as number) ^
      (t2[buf[i + 5] as number] as number) ^
      (t1[buf[i + 6] as number] as number) ^
      (t0[buf[i + 7] as number] as number);
  }
  for (; i < end; i++) c = (t0[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  let v = zigzag(n);
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

function varintBytes(n: number): number {
  let v = zigzag(n);
  let k = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    k++;
  }
  return k;
}

/** Reads a zigzag varint at `at`; returns [value, next offset], next = -1 when truncated. */
function readVarint(buf: Buffer, at: number, end: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    const b = buf[i] as number;
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [v % 2 === 0 ? v / 2 : -(v + 1) / 2, i + 1];
    mul *= 128;
  }
  return [0, -1];
}

/** Appends fixed-size records (null key, no headers, stamped value) into one uncompressed batch. */
export class BatchBuilder {
  readonly #valueBytes: number;
  readonly #capacity: number;
  #buf: Buffer;
  #at = BATCH_HEADER_BYTES;
  #count = 0;
  /** Send time (µs) of the first record: the batch's creation. */
  firstUs = 0;
  /** Wall-clock ms of the first record (the batch's base timestamp). */
  #firstMs = 0;

  /** `batchBytes`: records are added until their bytes reach it (at least one record per batch). */
  constructor(valueBytes: number, batchBytes: number) {
    this.#valueBytes = valueBytes;
    this.#capacity = Math.max(batchBytes, BATCH_HEADER_BYTES + this.recordBytes(0));
    this.#buf = Buffer.alloc(this.#capacity + 64);
  }

  /** Encoded size of record number `delta` in the batch. */
  recordBytes(delta: number): number {
    const body = bodyLength(delta, this.#valueBytes);
    return varintBytes(body) + body;
  }

  get count(): number {
    return this.#count;
  }

  get full(): boolean {
    return this.#at + this.recordBytes(this.#count) > this.#capacity;
  }

  add(sentUs: number): void {
    if (this.#count === 0) {
      this.firstUs = sentUs;
      this.#firstMs = Date.now();
    }
    const need = this.recordBytes(this.#count);
    if (this.#at + need > this.#buf.length) {
      const bigger = Buffer.alloc(Math.max(this.#buf.length * 2, this.#at + need));
      this.#buf.copy(bigger, 0, 0, this.#at);
      this.#buf = bigger;
    }
    const v = this.#valueBytes;
    const b = this.#buf;
    let o = this.#at;
    o = writeVarint(b, o, bodyLength(this.#count, v));
    b[o++] = 0; // attributes
    b[o++] = 0; // timestamp delta (varlong 0)
    o = writeVarint(b, o, this.#count);
    b[o++] = 1; // key length -1 (null)
    o = writeVarint(b, o, v);
    if (v >= STAMP_BYTES) {
      b.writeUInt32LE(MAGIC, o);
      b.writeDoubleLE(sentUs, o + 4);
      b.fill(0x61, o + STAMP_BYTES, o + v);
    } else b.fill(0x61, o, o + v);
    o += v;
    b[o++] = 0; // headers
    this.#at = o;
    this.#count++;
  }

  /** The finished batch (a copy: the builder is reset for the next one). */
  take(): Buffer {
    const b = this.#buf;
    const n = this.#count;
    b.writeBigInt64BE(0n, 0);
    b.writeInt32BE(this.#at - 12, 8);
    b.writeInt32BE(-1, 12); // partition leader epoch
    b[16] = 2; // magic
    b.writeInt16BE(0, 21); // attributes: no compression, create time
    b.writeInt32BE(n - 1, 23);
    b.writeBigInt64BE(BigInt(this.#firstMs), 27);
    b.writeBigInt64BE(BigInt(this.#firstMs), 35);
    b.writeBigInt64BE(-1n, 43); // producer id
    b.writeInt16BE(-1, 51); // producer epoch
    b.writeInt32BE(-1, 53); // base sequence
    b.writeInt32BE(n, 57);
    b.writeUInt32BE(crc32c(b, 21, this.#at), 17);
    const out = Buffer.from(b.subarray(0, this.#at));
    this.#at = BATCH_HEADER_BYTES;
    this.#count = 0;
    return out;
  }
}

function bodyLength(delta: number, v: number): number {
  return 1 + 1 + varintBytes(delta) + 1 + varintBytes(v) + v + 1;
}

export interface ReadStats {
  /** Records at or after `from`. */
  records: number;
  /** Value bytes of those records (uncompressed batches only; else the batch bytes). */
  bytes: number;
  /** Offset to fetch next. */
  next: number;
}

/**
 * Walk the batches of a fetched `records` field: count the records at or
 * after `from`, call `stamp(µs)` for each stamped value (uncompressed
 * batches), and say where to fetch next. A partial batch at the end (the
 * broker cut it at max bytes) is left for the next fetch.
 */
export function readBatches(
  buf: Buffer,
  from: number,
  stamp: ((sentUs: number) => void) | undefined,
): ReadStats {
  let o = 0;
  let next = from;
  let records = 0;
  let bytes = 0;
  while (o + BATCH_HEADER_BYTES <= buf.length) {
    const base = Number(buf.readBigInt64BE(o));
    const len = buf.readInt32BE(o + 8);
    const end = o + 12 + len;
    if (len < BATCH_HEADER_BYTES - 12 || end > buf.length) break;
    const attributes = buf.readInt16BE(o + 21);
    const last = base + buf.readInt32BE(o + 23);
    const count = buf.readInt32BE(o + 57);
    const control = (attributes & 0x20) !== 0;
    if (last >= next && !control) {
      if ((attributes & 7) === 0) {
        let p = o + BATCH_HEADER_BYTES;
        for (let k = 0; k < count && p < end; k++) {
          const [rlen, q] = readVarint(buf, p, end);
          if (q < 0) break;
          const rend = q + rlen;
          if (rlen < 0 || rend > end) break; // a record that claims more than its batch holds
          const [, r1] = readVarint(buf, q + 1, rend); // after attributes: the timestamp delta
          const [delta, r2] = readVarint(buf, r1, rend);
          const [klen, r3] = readVarint(buf, r2, rend);
          const [vlen, r4] = readVarint(buf, r3 + Math.max(0, klen), rend);
          if (r1 < 0 || r2 < 0 || r3 < 0 || r4 < 0) break;
          if (base + delta >= next) {
            records++;
            bytes += Math.max(0, vlen);
            if (stamp && vlen >= STAMP_BYTES && r4 + vlen <= rend && buf.readUInt32LE(r4) === MAGIC) {
              stamp(buf.readDoubleLE(r4 + 4));
            }
          }
          p = rend;
        }
      } else {
        records += last - Math.max(base, next) + 1;
        bytes += len;
      }
    }
    if (last + 1 > next) next = last + 1;
    o = end;
  }
  return { records, bytes, next };
}
