/**
 * Splits a connection's byte stream into whole MQTT frames. A frame inside
 * one chunk is handed on as a view of it (no copy); only a frame split
 * across chunks is copied, into one buffer of its final size. The fixed
 * header is checked before any of the body is kept: an oversized packet is
 * refused from it ([MQTT-3.2.2-15], the server's Maximum Packet Size), as
 * is a Remaining Length of more than four bytes (§2.2.3).
 */

/** Frames up to this size that arrive in pieces are reassembled in one buffer allocated up front. */
const WHOLE_ALLOC_MAX = 65_536;

/** Where frames go; `frame` returns false to stop (the connection closed). */
export interface FrameSink {
  frame(buf: Buffer, at: number, bodyAt: number, end: number): boolean;
  frameError(reason: 'too-large' | 'malformed'): void;
}

export class FrameReader {
  readonly maxBytes: number;
  /**
   * A frame split across chunks: the bytes so far. While its fixed header
   * is incomplete (#size 0) this holds only those few bytes; once the size
   * is known, a frame of up to WHOLE_ALLOC_MAX bytes is allocated whole and
   * filled up to #filled, a larger one is kept as copies of its chunks
   * (#parts), so a client that announces a large packet and sends little
   * makes us hold only what it sent.
   */
  #partial: Buffer | undefined;
  #parts: Buffer[] | undefined;
  #size = 0;
  #filled = 0;
  #bodyAt = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Bytes of an unfinished frame held (for tests and accounting). */
  get pendingBytes(): number {
    if (this.#parts) return this.#filled;
    return this.#partial ? (this.#size === 0 ? this.#partial.length : this.#filled) : 0;
  }

  /** Drop a partial frame (the connection closed). */
  reset(): void {
    this.#partial = undefined;
    this.#parts = undefined;
  }

  push(chunk: Buffer, sink: FrameSink): void {
    let buf = chunk;
    let at = 0;
    const parts = this.#parts;
    if (parts) {
      const take = Math.min(this.#size - this.#filled, chunk.length);
      // A copy: the chunk may be the shared read buffer, which the next read overwrites.
      parts.push(Buffer.from(chunk.subarray(0, take)));
      this.#filled += take;
      if (this.#filled < this.#size) return;
      this.#parts = undefined;
      at = take;
      const whole = Buffer.concat(parts, this.#size);
      if (!sink.frame(whole, 0, this.#bodyAt, whole.length)) return;
    }
    const partial = this.#partial;
    if (partial) {
      this.#partial = undefined;
      if (this.#size === 0) {
        // Only part of a fixed header so far: at most 4 bytes to prepend.
        buf = Buffer.concat([partial, chunk]);
      } else {
        const take = Math.min(this.#size - this.#filled, chunk.length);
        chunk.copy(partial, this.#filled, 0, take);
        this.#filled += take;
        if (this.#filled < this.#size) {
          this.#partial = partial;
          return;
        }
        at = take;
        if (!sink.frame(partial, 0, this.#bodyAt, partial.length)) return;
      }
    }
    const n = buf.length;
    while (at < n) {
      // Fixed header: type and flags, then the Remaining Length (1–4 bytes).
      let i = at + 1;
      let length = 0;
      let mul = 1;
      let complete = false;
      while (i < n) {
        const b = buf[i++] as number;
        length += (b & 0x7f) * mul;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
        if (i - at === 5) {
          sink.frameError('malformed');
          return;
        }
        mul *= 128;
      }
      if (!complete) {
        this.#partial = Buffer.from(buf.subarray(at));
        this.#size = 0;
        return;
      }
      const end = i + length;
      if (end - at > this.maxBytes) {
        sink.frameError('too-large');
        return;
      }
      if (end > n) {
        this.#size = end - at;
        this.#filled = n - at;
        this.#bodyAt = i - at;
        if (this.#size > WHOLE_ALLOC_MAX) {
          this.#parts = [Buffer.from(buf.subarray(at))];
          return;
        }
        const whole = Buffer.allocUnsafe(this.#size);
        buf.copy(whole, 0, at);
        this.#partial = whole;
        return;
      }
      if (!sink.frame(buf, at, i, end)) return;
      at = end;
    }
  }
}

/**
 * The frame reader not in use. A reader holds state only while a frame
 * split across chunks is pending, so a connection keeps its own only then;
 * an idle one keeps none (72 B each). A reader is taken out while it reads,
 * so a nested receive would get a fresh one. One slot, not a Map keyed by
 * the size limit (which is the same for every connection): a Map's delete
 * and set on every read reallocated its table in the old generation (a
 * hash table per message, ~130-200 B, a major GC every ~8 s at 5,000
 * messages/s).
 */
let spareReader: FrameReader | undefined;

/** A reader for frames of at most `maxBytes`: the spare one if it fits, else a new one. */
export function takeFrameReader(maxBytes: number): FrameReader {
  const r = spareReader;
  if (r === undefined || r.maxBytes !== maxBytes) return new FrameReader(maxBytes);
  spareReader = undefined;
  return r;
}

/** A reader with no partial frame pending, for the next `takeFrameReader`. */
export function giveBackFrameReader(r: FrameReader): void {
  spareReader = r;
}
