/**
 * One Kafka connection for the load generator: frames requests with the
 * generated codec (ts/kafka/protocol/generated), pipelines them, matches
 * responses by correlation id, and picks for each API the highest version
 * both the broker (ApiVersions) and the load generator speak. Responses are
 * reassembled from a list of chunks (one copy per response), so large
 * fetches are not re-concatenated on every chunk.
 */
import { connect, type Socket } from 'node:net';
import { ByteQueue } from '../kafka/protocol/byte-queue.ts';
import {
  ApiKey,
  ApiVersions,
  apiTable,
  decodeResponseHeader,
  encodeRequestHeader,
  requestHeaderVersion,
  responseHeaderVersion,
} from '../kafka/protocol/generated/index.ts';
import { KafkaReader } from '../kafka/protocol/reader.ts';

/** The highest versions the load generator uses: topic names (not ids) in Produce, Fetch and Metadata. */
const VERSION_CAP: Record<number, number> = {
  [ApiKey.Produce]: 12,
  [ApiKey.Fetch]: 12,
  [ApiKey.Metadata]: 12,
};
/** A response larger than this is refused (the connection is closed): bounds the memory of one answer. */
const RESPONSE_BYTES_MAX = 512 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 15_000;

export class KafkaError extends Error {
  readonly code: number;
  constructor(code: number, what: string) {
    super(`${what}: Kafka error code ${code}`);
    this.code = code;
  }
}

interface Pending {
  apiKey: number;
  version: number;
  resolve: (r: KafkaReader) => void;
  reject: (e: Error) => void;
}

export class KafkaConn {
  readonly socket: Socket;
  readonly address: string;
  #versions = new Map<number, number>();
  #next = 1;
  #pending = new Map<number, Pending>();
  readonly #input = new ByteQueue();
  #need = -1;
  #closed: Error | undefined;
  readonly #clientId: string;
  #onBytes: (n: number) => void = () => {};

  private constructor(socket: Socket, address: string, clientId: string) {
    this.socket = socket;
    this.address = address;
    this.#clientId = clientId;
    socket.on('data', (d: Buffer) => this.#data(d));
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error(`connection to ${address} closed`)));
  }

  static async open(address: string, clientId: string): Promise<KafkaConn> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(i + 1));
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port, noDelay: true });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${address}: timed out`));
      }, CONNECT_TIMEOUT_MS);
      s.once('connect', () => {
        clearTimeout(t);
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(new Error(`connect to ${address}: ${e.message}`));
      });
    });
    const c = new KafkaConn(socket, address, clientId);
    await c.#negotiate();
    return c;
  }

  /** Count response bytes (for MiB/s). */
  onBytes(f: (n: number) => void): void {
    this.#onBytes = f;
  }

  get inflight(): number {
    return this.#pending.size;
  }

  async #negotiate(): Promise<void> {
    // v0 is answered by every broker; its answer lists each API's version range.
    const r = await this.request(
      ApiKey.ApiVersions,
      0,
      ApiVersions.encodeApiVersionsRequest(0, ApiVersions.defaultApiVersionsRequest()),
    );
    const res = ApiVersions.decodeApiVersionsResponse(0, r);
    if (res.errorCode !== 0) throw new KafkaError(res.errorCode, 'ApiVersions');
    for (const a of res.apiKeys) {
      const ours = apiTable.get(a.apiKey);
      if (!ours) continue;
      const max = Math.min(a.maxVersion, ours.maxVersion, VERSION_CAP[a.apiKey] ?? Number.MAX_SAFE_INTEGER);
      if (max >= Math.max(a.minVersion, ours.minVersion)) this.#versions.set(a.apiKey, max);
    }
  }

  /** The version to use for an API; throws when broker and codec have none in common. */
  version(apiKey: number): number {
    const v = this.#versions.get(apiKey);
    if (v === undefined)
      throw new Error(
        `${this.address} does not serve ${apiTable.get(apiKey)?.name ?? apiKey} in a version this tool speaks`,
      );
    return v;
  }

  #frame(apiKey: number, version: number, body: Buffer, correlationId: number): Buffer {
    const head = encodeRequestHeader(requestHeaderVersion(apiKey, version), {
      requestApiKey: apiKey,
      requestApiVersion: version,
      correlationId,
      clientId: this.#clientId,
    });
    const out = Buffer.allocUnsafe(4 + head.length + body.length);
    out.writeInt32BE(head.length + body.length, 0);
    head.copy(out, 4);
    body.copy(out, 4 + head.length);
    return out;
  }

  /** Send a request and resolve with a reader positioned at the response body. */
  request(apiKey: number, version: number, body: Buffer): Promise<KafkaReader> {
    if (this.#closed) return Promise.reject(this.#closed);
    const correlationId = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(correlationId, { apiKey, version, resolve, reject });
      this.socket.write(this.#frame(apiKey, version, body, correlationId));
    });
  }

  /** Send a request that gets no response (Produce with acks=0); false when the socket is backed up. */
  sendOnly(apiKey: number, version: number, body: Buffer): boolean {
    if (this.#closed) throw this.#closed;
    return this.socket.write(this.#frame(apiKey, version, body, this.#next++));
  }

  #data(d: Buffer): void {
    this.#onBytes(d.length);
    this.#input.push(d);
    for (;;) {
      if (this.#need < 0) {
        if (this.#input.length < 4) return;
        const head = this.#input.take(4);
        this.#need = head.readInt32BE(0);
        if (this.#need < 4 || this.#need > RESPONSE_BYTES_MAX) {
          this.socket.destroy();
          this.#fail(new Error(`${this.address}: response frame of ${this.#need} bytes`));
          return;
        }
      }
      if (this.#input.length < this.#need) return;
      const frame = this.#input.take(this.#need);
      this.#need = -1;
      const p = this.#pending.get(frame.readInt32BE(0));
      if (!p) continue;
      this.#pending.delete(frame.readInt32BE(0));
      try {
        const r = new KafkaReader(frame);
        decodeResponseHeader(responseHeaderVersion(p.apiKey, p.version), r);
        p.resolve(r);
      } catch (e) {
        p.reject(e as Error);
      }
    }
  }

  #fail(e: Error): void {
    if (this.#closed) return;
    this.#closed = e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  close(): void {
    this.#closed ??= new Error('closed');
    this.socket.destroy();
  }
}
