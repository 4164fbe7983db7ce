import { KafkaProtocolError } from './errors.ts';

/** A tagged field the decoder did not recognise, kept as raw bytes (KIP-482). */
export interface TaggedField {
  tag: number;
  data: Buffer;
}

/**
 * Reads Kafka's primitive types from one Buffer. Every read checks the bytes
 * left first, so a hostile input can only make it throw KafkaProtocolError:
 * it never reads past the end, and every count is checked against the bytes
 * left before anything is allocated for it. Byte fields are views into the
 * input (no copy).
 */
export class KafkaReader {
  readonly buf: Buffer;
  offset: number;
  readonly end: number;

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number, what: string): number {
    const at = this.offset;
    if (n > this.end - at) {
      throw new KafkaProtocolError(
        'truncated',
        `${what}: needs ${n} bytes at offset ${at}, ${this.end - at} left`,
      );
    }
    this.offset = at + n;
    return at;
  }

  int8(): number {
    return this.buf.readInt8(this.need(1, 'int8'));
  }

  int16(): number {
    return this.buf.readInt16BE(this.need(2, 'int16'));
  }

  uint16(): number {
    return this.buf.readUInt16BE(this.need(2, 'uint16'));
  }

  int32(): number {
    return this.buf.readInt32BE(this.need(4, 'int32'));
  }

  uint32(): number {
    return this.buf.readUInt32BE(this.need(4, 'uint32'));
  }

  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8, 'int64'));
  }

  float64(): number {
    return this.buf.readDoubleBE(this.need(8, 'float64'));
  }

  bool(): boolean {
    return this.buf[this.need(1, 'bool')] !== 0;
  }

  /** A 16-byte UUID, returned in Kafka's text form (URL-safe base64, no padding). */
  uuid(): string {
    const at = this.need(16, 'uuid');
    return this.buf.toString('base64url', at, at + 16);
  }

  /** Unsigned LEB128 varint of at most 32 bits (5 bytes). */
  uvarint(): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.buf[this.need(1, 'varint')] as number;
      if (i === 4 && b > 0x0f) throw new KafkaProtocolError('malformed', 'varint longer than 32 bits');
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return value;
    }
    throw new KafkaProtocolError('malformed', 'varint longer than 5 bytes');
  }

  /** Zigzag-encoded signed 32-bit varint. */
  varint(): number {
    const u = this.uvarint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /** Zigzag-encoded signed 64-bit varlong (at most 10 bytes). */
  varlong(): bigint {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.need(1, 'varlong')] as number;
      if (i === 9 && b > 0x01) throw new KafkaProtocolError('malformed', 'varlong longer than 64 bits');
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return (value >> 1n) ^ -(value & 1n);
    }
    throw new KafkaProtocolError('malformed', 'varlong longer than 10 bytes');
  }

  /**
   * A length prefix: int16/int32 (classic) or uvarint N+1 (compact). Returns
   * -1 for null; throws if null is not allowed or the length is impossible.
   */
  private length(compact: boolean, wide: boolean, nullable: boolean, what: string): number {
    const n = compact ? this.uvarint() - 1 : wide ? this.int32() : this.int16();
    if (n < 0) {
      if (n === -1 && nullable) return -1;
      throw new KafkaProtocolError('malformed', `${what}: length ${n}`);
    }
    return n;
  }

  private text(n: number): string {
    const at = this.need(n, 'string');
    return this.buf.toString('utf8', at, at + n);
  }

  string(compact: boolean): string {
    return this.text(this.length(compact, false, false, 'string'));
  }

  nullableString(compact: boolean): string | null {
    const n = this.length(compact, false, true, 'string');
    return n < 0 ? null : this.text(n);
  }

  private raw(n: number): Buffer {
    const at = this.need(n, 'bytes');
    return this.buf.subarray(at, at + n);
  }

  bytes(compact: boolean): Buffer {
    return this.raw(this.length(compact, true, false, 'bytes'));
  }

  nullableBytes(compact: boolean): Buffer | null {
    const n = this.length(compact, true, true, 'bytes');
    return n < 0 ? null : this.raw(n);
  }

  /**
   * An array's element count (-1 for null). `elementBytesMin` is the least an
   * element can take on the wire; the count must fit in the bytes left, so
   * a forged count cannot make the caller loop or allocate beyond the input.
   */
  arrayLength(compact: boolean, nullable: boolean, elementBytesMin: number): number {
    const n = this.length(compact, true, nullable, 'array');
    if (n > 0 && n * Math.max(1, elementBytesMin) > this.remaining()) {
      throw new KafkaProtocolError(
        'truncated',
        `array of ${n} elements cannot fit in ${this.remaining()} bytes`,
      );
    }
    return n;
  }

  /** A nullable struct's presence byte: -1 absent, 1 present. */
  structPresent(): boolean {
    const b = this.int8();
    if (b === -1) return false;
    if (b === 1) return true;
    throw new KafkaProtocolError('malformed', `struct presence byte ${b}`);
  }

  /** A reader over the next `n` bytes, which it consumes from this one. */
  sub(n: number): KafkaReader {
    const at = this.need(n, 'tagged field');
    return new KafkaReader(this.buf, at, at + n);
  }

  /** The tagged-field count of a flexible struct, checked against the bytes left. */
  taggedCount(): number {
    const n = this.uvarint();
    if (n * 2 > this.remaining()) {
      throw new KafkaProtocolError('truncated', `${n} tagged fields cannot fit in ${this.remaining()} bytes`);
    }
    return n;
  }

  /** Throws unless every byte was consumed. */
  expectEnd(what: string): void {
    if (this.offset !== this.end) {
      throw new KafkaProtocolError('malformed', `${what}: ${this.end - this.offset} trailing bytes`);
    }
  }
}
