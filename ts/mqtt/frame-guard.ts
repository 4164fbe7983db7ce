/**
 * Watches MQTT frame boundaries in a byte stream before the packet parser
 * buffers anything, so an oversized packet is refused from its fixed header
 * alone ([MQTT-3.2.2-15]: the server's Maximum Packet Size) instead of being
 * buffered first, and a remaining length longer than four bytes (§2.2.3) is
 * a malformed packet. It copies nothing: it only counts.
 */
export type FrameGuardResult = { ok: true } | { ok: false; reason: 'too-large' | 'malformed'; size?: number };

const OK: FrameGuardResult = Object.freeze({ ok: true });

export class FrameGuard {
  #remaining = 0;
  /** Bytes of the current fixed header seen so far (0 = at a frame start). */
  #headerBytes = 0;
  #length = 0;
  #shift = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Account for `chunk`; returns an error as soon as a frame header is unacceptable. */
  check(chunk: Uint8Array): FrameGuardResult {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, n - i);
        this.#remaining -= take;
        i += take;
        continue;
      }
      const byte = chunk[i++] as number;
      if (this.#headerBytes === 0) {
        // Packet type and flags; the remaining length follows.
        this.#headerBytes = 1;
        this.#length = 0;
        this.#shift = 0;
        continue;
      }
      this.#length += (byte & 0x7f) * 2 ** this.#shift;
      this.#shift += 7;
      this.#headerBytes++;
      if (byte & 0x80) {
        if (this.#headerBytes === 5) return { ok: false, reason: 'malformed' };
        continue;
      }
      const size = this.#headerBytes + this.#length;
      if (size > this.#maxBytes) return { ok: false, reason: 'too-large', size };
      this.#remaining = this.#length;
      this.#headerBytes = 0;
    }
    return OK;
  }
}
