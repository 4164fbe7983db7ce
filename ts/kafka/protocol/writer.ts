import { KafkaProtocolError } from './errors.ts';
import type { TaggedField } from './reader.ts';

const INITIAL_BYTES = 256;
/**
 * Byte fields at least this big (a Fetch response's stored record batches)
 * are kept by reference rather than copied into the growing buffer, so a
 * 1 MiB response is not re-copied at every doubling; `finish` joins once.
 */
const BY_REFERENCE_BYTES = 16 * 1024;

/** Writes Kafka's primitive types into a growing Buffer. */
export class KafkaWriter {
  private buf: Buffer;
  private offset = 0;
  /** Finished parts before `buf[start..offset)`: views of old buffers and referenced byte fields. */
  private parts: Uint8Array[] = [];
  private partsBytes = 0;
  private start = 0;

  constructor(initialBytes = INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.partsBytes + this.offset - this.start;
  }

  /** Reserves n bytes and returns where they start. It may replace this.buf: call it before reading this.buf. */
  private room(n: number): number {
    const at = this.offset;
    if (at + n > this.buf.length) {
      const used = at - this.start;
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, used + n));
      this.buf.copy(next, 0, this.start, at);
      this.buf = next;
      this.start = 0;
      this.offset = used + n;
      return used;
    }
    this.offset = at + n;
    return at;
  }

  /** The bytes written so far (a view when nothing was kept by reference; copy it before writing more). */
  finish(): Buffer {
    const tail = this.buf.subarray(this.start, this.offset);
    if (this.parts.length === 0) return tail;
    return Buffer.concat([...this.parts, tail], this.length);
  }

  /**
   * The bytes written so far as parts in order, never joined: referenced
   * byte fields (a Fetch response's stored batches) stay the caller's
   * Buffers, for a writev. Write nothing more after it.
   */
  finishParts(): Buffer[] {
    const out: Buffer[] = [];
    for (const p of this.parts)
      out.push(Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.length));
    if (this.offset > this.start || out.length === 0) out.push(this.buf.subarray(this.start, this.offset));
    return out;
  }

  /** Keeps `v` by reference as the next bytes of the output. */
  private reference(v: Uint8Array): void {
    if (this.offset > this.start) {
      const done = this.buf.subarray(this.start, this.offset);
      this.parts.push(done);
      this.partsBytes += done.length;
      this.start = this.offset;
    }
    this.parts.push(v);
    this.partsBytes += v.length;
  }

  int8(v: number): void {
    const at = this.room(1);
    this.buf.writeInt8(v, at);
  }

  int16(v: number): void {
    const at = this.room(2);
    this.buf.writeInt16BE(v, at);
  }

  uint16(v: number): void {
    const at = this.room(2);
    this.buf.writeUInt16BE(v, at);
  }

  int32(v: number): void {
    const at = this.room(4);
    this.buf.writeInt32BE(v, at);
  }

  uint32(v: number): void {
    const at = this.room(4);
    this.buf.writeUInt32BE(v, at);
  }

  int64(v: bigint): void {
    const at = this.room(8);
    this.buf.writeBigInt64BE(v, at);
  }

  float64(v: number): void {
    const at = this.room(8);
    this.buf.writeDoubleBE(v, at);
  }

  bool(v: boolean): void {
    const at = this.room(1);
    this.buf[at] = v ? 1 : 0;
  }

  uuid(v: string): void {
    const bytes = Buffer.from(v, 'base64url');
    if (bytes.length !== 16) throw new KafkaProtocolError('malformed', `not a UUID: ${JSON.stringify(v)}`);
    const at = this.room(16);
    bytes.copy(this.buf, at);
  }

  uvarint(v: number): void {
    let n = v >>> 0;
    while (n >= 0x80) {
      const at = this.room(1);
      this.buf[at] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    const at = this.room(1);
    this.buf[at] = n;
  }

  varint(v: number): void {
    this.uvarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  varlong(v: bigint): void {
    let n = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    while (n >= 0x80n) {
      const at = this.room(1);
      this.buf[at] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    const at = this.room(1);
    this.buf[at] = Number(n);
  }

  private prefix(n: number, compact: boolean, wide: boolean): void {
    if (compact) this.uvarint(n + 1);
    else if (wide) this.int32(n);
    else this.int16(n);
  }

  string(v: string, compact: boolean): void {
    const n = Buffer.byteLength(v, 'utf8');
    if (!compact && n > 0x7fff) throw new KafkaProtocolError('malformed', `string of ${n} bytes`);
    this.prefix(n, compact, false);
    const at = this.room(n);
    this.buf.write(v, at, n, 'utf8');
  }

  nullableString(v: string | null, compact: boolean): void {
    if (v === null) this.prefix(-1, compact, false);
    else this.string(v, compact);
  }

  bytes(v: Uint8Array, compact: boolean): void {
    this.prefix(v.length, compact, true);
    if (v.length >= BY_REFERENCE_BYTES) {
      this.reference(v);
      return;
    }
    const at = this.room(v.length);
    this.buf.set(v, at);
  }

  nullableBytes(v: Uint8Array | null, compact: boolean): void {
    if (v === null) this.prefix(-1, compact, true);
    else this.bytes(v, compact);
  }

  /** An array's count prefix; null writes -1 (classic) or 0 (compact). */
  arrayLength(n: number | null, compact: boolean): void {
    this.prefix(n ?? -1, compact, true);
  }

  structPresent(present: boolean): void {
    this.int8(present ? 1 : -1);
  }

  /** Encodes `fn`'s output into a separate Buffer (a tagged field's body). */
  static encode(fn: (w: KafkaWriter) => void): Buffer {
    const w = new KafkaWriter(32);
    fn(w);
    return w.finish();
  }

  /** A flexible struct's tagged-field section: known and unknown fields, sorted by tag. */
  taggedFields(known: TaggedField[], unknown: readonly TaggedField[] | undefined): void {
    // Tags go out in ascending order (KIP-482); `known` is the caller's fresh array.
    const all = unknown && unknown.length > 0 ? [...known, ...unknown] : known;
    if (all.length > 1) all.sort((a, b) => a.tag - b.tag);
    this.uvarint(all.length);
    for (const f of all) {
      this.uvarint(f.tag);
      this.uvarint(f.data.length);
      const at = this.room(f.data.length);
      this.buf.set(f.data, at);
    }
  }
}

/** Deep equality over decoded values (for defaults and tagged-field omission). */
export function isSameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b))
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!isSameValue(a[i], b[i])) return false;
    return true;
  }
  // Loops, not Object.keys(...).filter(...): every Produce and Fetch answer
  // runs this per partition (a field against its default), and the key
  // arrays were garbage of each answer.
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let defined = 0;
  for (const k in ra) {
    if (!Object.hasOwn(ra, k) || ra[k] === undefined) continue;
    defined++;
    if (!isSameValue(ra[k], rb[k])) return false;
  }
  for (const k in rb) if (Object.hasOwn(rb, k) && rb[k] !== undefined) defined--;
  return defined === 0;
}

/** A field that this version cannot carry was set to something other than its default. */
export function unsupportedField(field: string, version: number): KafkaProtocolError {
  return new KafkaProtocolError('unsupported-version', `${field} cannot be sent in version ${version}`);
}

/** A field that is not nullable in this version holds null. */
export function nullField(field: string, version: number): KafkaProtocolError {
  return new KafkaProtocolError(
    'unsupported-version',
    `${field} is null but not nullable in version ${version}`,
  );
}
