/**
 * The MQTT listeners: TCP, TLS (node:tls), WebSocket and secure WebSocket
 * (the `ws` package; subprotocol `mqtt`), each capped at
 * `mqtt.connections_max` connections. Also the $SYS statistics topics and
 * graceful shutdown (MQTT 5 clients get DISCONNECT 0x8B).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Config, ListenAddress } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MetaService } from '../meta/service.ts';
import type { Kv } from '../storage/kv.ts';
import { packageVersion } from '../version.ts';
import { loadAuthHook, type MqttAuthHook } from './auth.ts';
import { Broker } from './broker.ts';
import { Connection, type ConnectionDeps, type TcpFastPaths } from './connection.ts';
import { Reason } from './reason-codes.ts';
import { RetainedStore } from './retained.ts';
import { loadRetained, retainedPersistence } from './retained-kv.ts';
import { SessionStore } from './session-store.ts';

export type ListenerName = 'mqtt' | 'mqtt_tls' | 'mqtt_ws' | 'mqtt_wss';

interface Listener {
  name: ListenerName;
  server: NetServer | HttpServer;
  wss?: WebSocketServer;
  connections: Set<Connection>;
  /** What every connection of this listener gets: one object, not closures per connection. */
  deps?: ConnectionDeps;
}

/**
 * Per-message counts are plain numbers on the hot path; prom-client reads
 * them only when /metrics is scraped (no label lookup or Map update per message).
 */
function mqttMetrics(registry: Registry, listeners: readonly Listener[]) {
  const counts = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 };
  // Read at scrape time too: no label lookup per accepted or closed connection.
  new Gauge({
    name: 'ferrymq_mqtt_connections',
    help: 'Open MQTT connections',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      this.reset();
      for (const l of listeners) this.set({ listener: l.name }, l.connections.size);
    },
  });
  new Counter({
    name: 'ferrymq_mqtt_bytes_total',
    help: 'MQTT bytes by direction',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, counts.bytesIn);
      this.inc({ direction: 'out' }, counts.bytesOut);
    },
  });
  new Counter({
    name: 'ferrymq_mqtt_messages_total',
    help: 'MQTT application messages: received from publishers, sent to subscribers',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, counts.messagesIn);
      this.inc({ direction: 'out' }, counts.messagesOut);
    },
  });
  const dropped = new Counter({
    name: 'ferrymq_mqtt_dropped_messages_total',
    help: 'Messages dropped by reason (queue-full, offline-qos0, expired, outbound-full, client-packet-size, retained-limit, shared-no-member)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const refused = new Counter({
    name: 'ferrymq_mqtt_refused_connections_total',
    help: 'Connections closed on accept because the listener was at mqtt.connections_max',
    labelNames: ['listener'],
    registers: [registry],
  });
  return { counts, dropped, refused };
}

/** The topic tree's match cache (mqtt.topic_cache_bytes_max), read at scrape time. */
function topicCacheMetrics(registry: Registry, broker: Broker): void {
  new Counter({
    name: 'ferrymq_mqtt_topic_cache_lookups_total',
    help: 'PUBLISH topic lookups in the topic → subscriptions cache, by result (hit, miss)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const c = broker.topicCacheStats;
      this.reset();
      this.inc({ result: 'hit' }, c.hits);
      this.inc({ result: 'miss' }, c.misses);
    },
  });
  new Gauge({
    name: 'ferrymq_mqtt_topic_cache_bytes',
    help: 'Estimated bytes held by the topic → subscriptions cache (bounded by mqtt.topic_cache_bytes_max)',
    registers: [registry],
    collect() {
      this.set(broker.topicCacheStats.bytes);
    },
  });
  new Gauge({
    name: 'ferrymq_mqtt_topic_cache_entries',
    help: 'Topics in the topic → subscriptions cache',
    registers: [registry],
    collect() {
      this.set(broker.topicCacheStats.entries);
    },
  });
}

/**
 * `tls.client_cert = "request"` lets a client send no certificate, but Node
 * then also accepts one that does not verify (rejectUnauthorized is off):
 * a certificate that is sent must chain to `tls.ca_file`, so refuse it here.
 */
function refusesPeer(s: TLSSocket, mode: string): boolean {
  if (mode !== 'request' || s.authorized) return false;
  const cert = s.getPeerCertificate();
  return cert !== null && Object.keys(cert).length > 0;
}

/** 'error' listener of a refused socket (shared: no closure per socket). */
function destroySocket(this: Duplex): void {
  this.destroy();
}

export class MqttServer {
  readonly broker: Broker;
  readonly #listeners: Listener[] = [];
  readonly #config: Config;
  readonly #logger: Logger;
  readonly #metrics: ReturnType<typeof mqttMetrics>;
  #sysTimer: NodeJS.Timeout | undefined;
  #closing = false;
  #auth: MqttAuthHook | undefined;

  private constructor(
    config: Config,
    logger: Logger,
    registry: Registry,
    retained: RetainedStore,
    store: SessionStore | undefined,
  ) {
    this.#config = config;
    this.#logger = logger.child({ component: 'mqtt' });
    this.#metrics = mqttMetrics(registry, this.#listeners);
    const m = this.#metrics;
    const counts = m.counts;
    this.broker = new Broker(
      retained,
      {
        queueMessagesMax: config.mqtt.session_queue_max,
        queueBytesMax: config.mqtt.session_queue_bytes_max,
        topicCacheBytesMax: config.mqtt.topic_cache_bytes_max,
      },
      {
        received: () => {
          counts.messagesIn++;
        },
        routed: () => {},
        dropped: (reason) => m.dropped.inc({ reason }),
      },
      store,
    );
    topicCacheMetrics(registry, this.broker);
  }

  static async start(
    config: Config,
    logger: Logger,
    registry: Registry,
    kv: Kv | undefined,
    meta?: MetaService,
  ): Promise<{ server: MqttServer; bound: Partial<Record<ListenerName, string>> }> {
    let dropRetained: (reason: string) => void = () => {};
    const retained = new RetainedStore(
      config.mqtt.retained_max,
      kv ? retainedPersistence(kv, logger) : undefined,
      (r) => dropRetained(r),
    );
    const auth = await loadAuthHook(config.mqtt.auth_module);
    if (kv) await loadRetained(kv, retained);
    // With the meta service on this node, session records go through its sessions-<i> Raft groups.
    const store = kv ? new SessionStore(kv, logger, meta) : undefined;
    const server = new MqttServer(config, logger, registry, retained, store);
    server.#auth = auth;
    if (store) server.broker.restore(await store.loadAll());
    dropRetained = (reason) => server.#metrics.dropped.inc({ reason });
    const bound: Partial<Record<ListenerName, string>> = {};
    try {
      const l = config.listeners;
      bound.mqtt = await server.#listen('mqtt', l.mqtt, (onConn) => createTcpServer(onConn));
      bound.mqtt_ws = await server.#listenWs('mqtt_ws', l.mqtt_ws, createHttpServer());
      const tls = server.#tlsOptions();
      if (tls) {
        const mode = config.tls.client_cert;
        bound.mqtt_tls = await server.#listen('mqtt_tls', l.mqtt_tls, (onConn) =>
          createTlsServer(tls, (s) => {
            if (refusesPeer(s, mode)) s.destroy();
            else onConn(s);
          }),
        );
        const https = createHttpsServer(tls);
        https.on('secureConnection', (s: TLSSocket) => {
          if (refusesPeer(s, mode)) s.destroy();
        });
        bound.mqtt_wss = await server.#listenWs('mqtt_wss', l.mqtt_wss, https);
      }
    } catch (err) {
      await server.close();
      throw err;
    }
    server.#startSys();
    return { server, bound };
  }

  #tlsOptions(): TlsOptions | undefined {
    const t = this.#config.tls;
    if (!t.cert_file) return undefined;
    const read = (key: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new FerryError(
          'FERRY_ERR_CONFIG_READ',
          `cannot read ${key} ${path}: ${(err as NodeJS.ErrnoException).code}`,
        );
      }
    };
    const opts: TlsOptions = {
      cert: read('tls.cert_file', t.cert_file),
      key: read('tls.key_file', t.key_file),
    };
    if (t.ca_file) opts.ca = read('tls.ca_file', t.ca_file);
    if (t.client_cert !== 'none') {
      opts.requestCert = true;
      opts.rejectUnauthorized = t.client_cert === 'require';
    }
    return opts;
  }

  #deps(listener: Listener): ConnectionDeps {
    const m = this.#metrics;
    const counts = m.counts;
    return {
      broker: this.broker,
      config: this.#config.mqtt,
      logger: this.#logger,
      metrics: {
        bytesIn: (n) => {
          counts.bytesIn += n;
        },
        bytesOut: (n) => {
          counts.bytesOut += n;
        },
        dropped: (reason) => m.dropped.inc({ reason }),
        sent: () => {
          counts.messagesOut++;
        },
      },
      auth: this.#auth,
      onWill: (will, session) => this.broker.scheduleWill(will, session),
      onClose: (c) => {
        listener.connections.delete(c);
        const session = c.session ?? this.broker.sessions.get(c.clientId);
        if (session && !session.link) this.broker.detach(session);
      },
    };
  }

  /**
   * `remote` only for streams that cannot tell their peer (WebSocket); a TCP
   * or TLS socket is asked when a log line or the auth hook needs it, so an
   * idle connection keeps no address string.
   */
  #accept(listener: Listener, stream: Duplex, remote: string | undefined, tcp?: TcpFastPaths): void {
    if (this.#closing || listener.connections.size >= this.#config.mqtt.connections_max) {
      this.#metrics.refused.inc({ listener: listener.name });
      // A reset racing the destroy must not escape as an unhandled 'error'.
      stream.on('error', destroySocket);
      stream.destroy();
      return;
    }
    listener.deps ??= this.#deps(listener);
    // The Connection's own 'error' listener (added synchronously here) is the only one.
    const conn = new Connection(stream, remote, listener.deps, tcp);
    listener.connections.add(conn);
  }

  async #bind(server: NetServer | HttpServer, name: ListenerName, addr: ListenAddress): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, this.#config.listen_backlog_max, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new FerryError(
        'FERRY_ERR_LISTEN',
        `${name} listener cannot bind ${addr.host}:${addr.port}: ${err.code ?? err.message}`,
        {
          cause: err,
        },
      );
    });
    server.on('error', (err) => this.#logger.error({ err, listener: name }, 'listener error'));
    const a = server.address();
    return typeof a === 'object' && a
      ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
      : '';
  }

  async #listen(
    name: ListenerName,
    addr: ListenAddress,
    make: (onConn: (s: Socket) => void) => NetServer,
  ): Promise<string> {
    const listener: Listener = { name, server: undefined as unknown as NetServer, connections: new Set() };
    // Only the plain TCP listener's sockets can read into the shared buffer and be written directly.
    const tcp: TcpFastPaths | undefined =
      name === 'mqtt'
        ? {
            sharedReads: this.#config.mqtt.tcp_shared_read_buffer,
            directWrites: this.#config.mqtt.tcp_direct_writes,
          }
        : undefined;
    listener.server = make((s) => {
      s.setNoDelay(true);
      this.#accept(listener, s, undefined, tcp);
    });
    // TLS handshake errors are per-connection; log at debug and move on.
    listener.server.on('tlsClientError', (err: Error) =>
      this.#logger.debug({ err: err.message }, 'TLS handshake failed'),
    );
    this.#listeners.push(listener);
    return this.#bind(listener.server, name, addr);
  }

  async #listenWs(name: ListenerName, addr: ListenAddress, http: HttpServer): Promise<string> {
    const wss = new WebSocketServer({
      server: http,
      maxPayload: this.#config.mqtt.packet_bytes_max + 8,
      // [MQTT-6.0.0-3/4]: the WebSocket subprotocol is "mqtt" (3.1 clients send "mqttv3.1").
      handleProtocols: (protocols) =>
        protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false,
    });
    const listener: Listener = { name, server: http, wss, connections: new Set() };
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws);
      this.#accept(listener, stream, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    });
    wss.on('error', (err) => this.#logger.error({ err, listener: name }, 'websocket server error'));
    http.on('request', (_req, res) => {
      // Plain HTTP on the MQTT WebSocket port: answer, do not hang.
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end('MQTT over WebSocket: upgrade with subprotocol "mqtt"\n');
    });
    this.#listeners.push(listener);
    return this.#bind(http, name, addr);
  }

  #startSys(): void {
    const every = this.#config.mqtt.sys_interval_ms;
    if (every <= 0) return;
    const sys = (topic: string, value: string | number): void => {
      this.broker.publish(
        {
          topic: `$SYS/broker/${topic}`,
          payload: Buffer.from(String(value)),
          qos: 0,
          retain: true,
          properties: {},
        },
        Date.now(),
      );
    };
    const tick = (): void => {
      const b = this.broker;
      const connected = this.#listeners.reduce((n, l) => n + l.connections.size, 0);
      sys('version', `ferrymq ${packageVersion}`);
      sys('uptime', Math.round((Date.now() - b.startedAtMs) / 1000));
      sys('clients/connected', connected);
      sys('clients/total', b.sessions.size);
      sys('subscriptions/count', b.subscriptionCount);
      sys('retained messages/count', b.retained.size);
      sys('messages/received', b.messagesReceived);
      sys('messages/sent', b.messagesSent);
    };
    tick();
    this.#sysTimer = setInterval(tick, every);
    this.#sysTimer.unref();
  }

  /** Stop accepting, tell MQTT 5 clients the server is shutting down (0x8B), close everything. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#sysTimer) clearInterval(this.#sysTimer);
    for (const l of this.#listeners) {
      for (const c of [...l.connections]) {
        c.cleanClose = false;
        c.disconnect(Reason.ServerShuttingDown, 'server-shutdown');
      }
      l.wss?.close();
    }
    await Promise.all(
      this.#listeners.map(
        (l) =>
          new Promise<void>((resolve) => {
            if (!l.server.listening) return resolve();
            l.server.close(() => resolve());
            (l.server as HttpServer).closeAllConnections?.();
          }),
      ),
    );
    this.broker.stop();
  }
}
