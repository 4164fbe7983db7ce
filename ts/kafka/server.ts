/**
 * The Kafka listener: TCP, 4-byte size-prefixed frames (bounded by
 * `kafka.frame_bytes_max`), requests handled concurrently but answered in
 * order per connection. A malformed or truncated request, an unknown API key
 * or an oversized frame closes only that connection; nothing thrown by a
 * handler escapes a socket callback.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { Config } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { PartitionDirectory } from '../meta/controller-directory.ts';
import type { MetaService } from '../meta/service.ts';
import type { Storage } from '../storage/storage.ts';
import { fetchReads } from './apis/fetch-reads.ts';
import { dispatch, type KafkaContext } from './dispatch.ts';
import { GroupCoordinator } from './groups/coordinator.ts';
import { Producers } from './producers/producers.ts';
import { ByteQueue } from './protocol/byte-queue.ts';
import { ApiKey } from './protocol/generated/index.ts';
import type { TopicRegistry } from './topics.ts';

/** Requests in flight on one connection before it stops reading (backpressure). */
const IN_FLIGHT_MAX = 64;
const NOTHING = Buffer.alloc(0);

class Connection {
  readonly #socket: Socket;
  readonly #ctx: KafkaContext;
  readonly #frameMax: number;
  readonly #logger: Logger;
  readonly #abort = new AbortController();
  readonly #input = new ByteQueue();
  #inFlight = 0;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  #corked = false;

  constructor(
    socket: Socket,
    base: Omit<KafkaContext, 'signal' | 'host' | 'port' | 'clientHost'>,
    frameMax: number,
    logger: Logger,
  ) {
    this.#socket = socket;
    this.#frameMax = frameMax;
    this.#logger = logger;
    this.#ctx = {
      ...base,
      host: socket.localAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      port: socket.localPort ?? 0,
      clientHost: `/${socket.remoteAddress?.replace(/^::ffff:/, '') ?? ''}`,
      signal: this.#abort.signal,
      // After the tail (which holds the caller's answer once its handler was
      // called). Nothing left in the socket's buffer: the kernel has it all
      // (the usual case, no syscall); else an empty write's callback runs
      // once the socket took all before it. A closed socket writes no more.
      afterWritten: (fn) => {
        void Promise.resolve()
          .then(() => this.#tail)
          .then(() => {
            if (!this.#socket.writable || this.#socket.writableLength === 0) fn();
            else this.#socket.write(NOTHING, () => fn());
          });
      },
    };
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    if (reason)
      this.#logger.debug(
        { remote: `${this.#socket.remoteAddress}:${this.#socket.remotePort}`, reason },
        'kafka connection closed',
      );
    this.#abort.abort();
    this.#socket.destroy();
  }

  #onData(d: Buffer): void {
    try {
      this.#input.push(d);
      this.#drainFrames();
    } catch (err) {
      this.close(err instanceof Error ? err.message : String(err));
    }
  }

  #drainFrames(): void {
    while (!this.#closed && this.#input.length >= 4) {
      const size = this.#input.peekInt32();
      if (size < 0 || size > this.#frameMax) {
        this.close(`frame of ${size} bytes (kafka.frame_bytes_max ${this.#frameMax})`);
        return;
      }
      if (this.#input.length < 4 + size) return;
      this.#input.take(4);
      const frame = this.#input.take(size);
      // Produce keeps the view: every socket read is a fresh buffer, the
      // native append patches only this frame's own bytes and nothing keeps
      // them past the append, so a copy would only feed the GC (about a
      // third of the broker's produce CPU went to collecting such copies).
      // Other APIs may keep byte fields (group metadata...) for long: they
      // get a copy, so a small field never pins a whole 64 KiB read.
      this.#handle(size >= 2 && frame.readInt16BE(0) === ApiKey.Produce ? frame : Buffer.from(frame));
    }
  }

  /**
   * Responses finished in the same microtask drain share one corked flush
   * (one writev), as a pipelining client's replies often do; a large Fetch
   * body goes out as its own buffer, never copied behind its header.
   */
  #write(buffers: Buffer[]): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    for (const b of buffers) this.#socket.write(b);
  }

  #handle(request: Buffer): void {
    const response = dispatch(this.#ctx, request);
    // Settle early so a rejection is never unhandled while it waits its turn.
    response.catch(() => {});
    this.#inFlight++;
    if (this.#inFlight >= IN_FLIGHT_MAX) this.#socket.pause();
    this.#tail = this.#tail.then(async () => {
      try {
        const out = await response;
        if (out && !this.#closed) this.#write(out);
      } catch (err) {
        this.close(err instanceof Error ? err.message : String(err));
      } finally {
        this.#inFlight--;
        if (this.#inFlight < IN_FLIGHT_MAX && !this.#closed) this.#socket.resume();
      }
    });
  }
}

export class KafkaServer {
  readonly #server: Server;
  readonly #connections = new Set<Connection>();
  #groups: GroupCoordinator | undefined;
  #partitions: PartitionDirectory | undefined;
  #closing: Promise<void> | undefined;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Bind `listeners.kafka` over `topics` (loaded by the node, shared with the bridge); resolves with the server and its bound address. */
  static async start(
    config: Config,
    logger: Logger,
    storage: Storage,
    topics: TopicRegistry,
    registry?: Registry,
    meta?: MetaService,
  ): Promise<{ server: KafkaServer; bound: string }> {
    const refused = new Counter({
      name: 'ferrymq_kafka_refused_connections_total',
      help: 'Kafka connections closed on accept because kafka.connections_max were open',
      registers: registry ? [registry] : [],
    });
    const producers = new Producers(config.kafka, storage.kv, { logger, ...(registry ? { registry } : {}) });
    const { coordinator: groups, skipped } = await GroupCoordinator.load(
      storage.kv,
      {
        groupsMax: config.kafka.groups_max,
        groupMembersMax: config.kafka.group_members_max,
        memberMetadataBytesMax: config.kafka.group_member_metadata_bytes_max,
        sessionTimeoutMsMin: config.kafka.group_min_session_timeout_ms,
        sessionTimeoutMsMax: config.kafka.group_max_session_timeout_ms,
        initialRebalanceDelayMs: config.kafka.group_initial_rebalance_delay_ms,
        offsetMetadataBytesMax: config.kafka.offset_metadata_bytes_max,
        offsetsRetentionMs: config.kafka.offsets_retention_ms,
        offsetsRetentionCheckMs: config.kafka.offsets_retention_check_ms,
      },
      registry,
      // With the meta service on this node, offsets go through its offsets-<i> Raft groups.
      meta ? { meta, logger } : { logger },
    );
    if (skipped > 0) logger.warn({ skipped }, 'unreadable committed offsets skipped');
    // With the meta service here, a clustered node answers for the partitions the controller gave it.
    const partitions = meta ? new PartitionDirectory(meta, logger) : undefined;
    const reads = fetchReads(config, registry);
    const base = {
      config,
      storage,
      topics,
      groups,
      producers,
      fetchReads: reads,
      ...(partitions ? { partitions } : {}),
    };
    const net = createServer();
    const server = new KafkaServer(net);
    server.#groups = groups;
    server.#partitions = partitions;
    net.on('connection', (socket) => {
      if (server.#connections.size >= config.kafka.connections_max) {
        refused.inc();
        socket.destroy();
        return;
      }
      try {
        socket.setNoDelay(true);
        const conn = new Connection(socket, base, config.kafka.frame_bytes_max, logger);
        server.#connections.add(conn);
        socket.once('close', () => server.#connections.delete(conn));
        if (server.#closing) conn.close('server closing');
      } catch (err) {
        logger.warn({ err }, 'kafka connection setup failed');
        socket.destroy();
      }
    });
    const addr = config.listeners.kafka;
    await new Promise<void>((resolve, reject) => {
      net.once('error', reject);
      net.listen(addr.port, addr.host, config.listen_backlog_max, () => {
        net.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new FerryError(
        'FERRY_ERR_LISTEN',
        `kafka listener cannot bind ${addr.host}:${addr.port}: ${err.code ?? err.message}`,
        {
          cause: err,
        },
      );
    });
    net.on('error', (err) => logger.error({ err, listener: 'kafka' }, 'listener error'));
    const a = net.address();
    const bound =
      typeof a === 'object' && a ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : '';
    if (typeof a === 'object' && a) partitions?.advertise(a.address, a.port);
    return { server, bound };
  }

  /** Stop accepting, close every connection (ending long polls); idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#groups?.close();
      this.#partitions?.close();
      for (const c of this.#connections) c.close('server closing');
      this.#connections.clear();
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
    });
    return this.#closing;
  }
}
