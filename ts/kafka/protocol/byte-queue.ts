/**
 * Bytes read from a socket, queued as the chunks they arrived in, for
 * cutting size-prefixed Kafka frames out of a stream. Taking a frame that
 * sits in one chunk is a view; one that spans chunks is copied once, and
 * only its own bytes (never the whole backlog).
 */
export class ByteQueue {
  #chunks: Buffer[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The big-endian int32 at the front; the caller checks `length >= 4` first. */
  peekInt32(): number {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= 4) return first.readInt32BE(0);
    let v = 0;
    let i = 0;
    for (const c of this.#chunks) {
      for (let k = 0; k < c.length && i < 4; k++, i++) v = (v << 8) | (c[k] as number);
      if (i === 4) break;
    }
    return v | 0;
  }

  /** The next n bytes (a view when they sit in one chunk); the caller checks `length >= n`. */
  take(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let o = 0;
      while (o < n) {
        const c = this.#chunks[0] as Buffer;
        const k = Math.min(c.length, n - o);
        c.copy(out, o, 0, k);
        o += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#length -= n;
    return out;
  }
}
