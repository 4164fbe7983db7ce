/**
 * A bare Kafka connection for tests: frames requests with the generated
 * codec and matches responses by correlation id, so a test can send exactly
 * the bytes (or versions) no ordinary client would.
 */
import { connect, type Socket } from 'node:net';
import {
  ApiKey,
  decodeResponseHeader,
  encodeRequestHeader,
  Fetch,
  requestHeaderVersion,
  responseHeaderVersion,
} from '../../kafka/protocol/generated/index.ts';
import { KafkaReader } from '../../kafka/protocol/reader.ts';

/** A bare Kafka connection: frames requests with the generated codec, matches responses by correlation id. */
export class RawKafka {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  #buf = Buffer.alloc(0);
  #next = 1;
  readonly #pending = new Map<
    number,
    { apiKey: number; version: number; resolve: (r: KafkaReader) => void }
  >();

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 4 && this.#buf.length >= 4 + this.#buf.readInt32BE(0)) {
        const frame = this.#buf.subarray(4, 4 + this.#buf.readInt32BE(0));
        this.#buf = this.#buf.subarray(4 + frame.length);
        const p = this.#pending.get(frame.readInt32BE(0));
        if (!p) continue;
        this.#pending.delete(frame.readInt32BE(0));
        const r = new KafkaReader(frame);
        decodeResponseHeader(responseHeaderVersion(p.apiKey, p.version), r);
        p.resolve(r);
      }
    });
  }

  static open(addr: string): Promise<RawKafka> {
    const [host, port] = [
      addr.slice(0, addr.lastIndexOf(':')),
      Number(addr.slice(addr.lastIndexOf(':') + 1)),
    ];
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(new RawKafka(s)));
      s.once('error', reject);
    });
  }

  request(apiKey: number, version: number, body: Buffer): Promise<KafkaReader> {
    const correlationId = this.#next++;
    const head = encodeRequestHeader(requestHeaderVersion(apiKey, version), {
      requestApiKey: apiKey,
      requestApiVersion: version,
      correlationId,
      clientId: 'raw-test',
    });
    const size = Buffer.alloc(4);
    size.writeInt32BE(head.length + body.length);
    return new Promise((resolve, reject) => {
      this.#pending.set(correlationId, { apiKey, version, resolve });
      this.closed.then(() => reject(new Error('connection closed')));
      this.socket.write(Buffer.concat([size, head, body]));
    });
  }

  async fetch(
    topic: string,
    offset: number,
    opts: { maxWaitMs?: number; version?: number } = {},
  ): Promise<Fetch.PartitionData> {
    const version = opts.version ?? 11;
    const req: Fetch.FetchRequest = {
      ...Fetch.defaultFetchRequest(),
      maxWaitMs: opts.maxWaitMs ?? 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [
        {
          ...Fetch.defaultFetchTopic(),
          topic,
          partitions: [
            {
              ...Fetch.defaultFetchPartition(),
              partition: 0,
              fetchOffset: BigInt(offset),
              partitionMaxBytes: 1 << 20,
            },
          ],
        },
      ],
    };
    const r = await this.request(ApiKey.Fetch, version, Fetch.encodeFetchRequest(version, req));
    const res = Fetch.decodeFetchResponse(version, r);
    if (res.sessionId !== 0) throw new Error(`fetch session ${res.sessionId} was not asked for`);
    const p = res.responses[0]?.partitions[0];
    if (!p) throw new Error('no partition in the fetch response');
    return p;
  }

  close(): void {
    this.socket.destroy();
  }
}
