/**
 * A running FerryMQ node: owns the data-dir lock, the native addon and the
 * listeners, and starts them in the order admin/net, engine (storage),
 * meta, broker. DESIGN.md puts meta before engine; here meta follows
 * storage because its Raft log lives in the storage KV. `close()` stops
 * accepting, drains and releases everything; it is idempotent.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from './admin/app.ts';
import { Bridge } from './bridge/bridge.ts';
import type { Config } from './config/schema.ts';
import { FerryError } from './errors.ts';
import { KafkaServer } from './kafka/server.ts';
import { TopicRegistry } from './kafka/topics.ts';
import type { Logger } from './log.ts';
import { MetaService } from './meta/service.ts';
import { createMetrics } from './metrics.ts';
import { MqttServer } from './mqtt/server.ts';
import { callNative } from './native/errors.ts';
import { loadNative } from './native/load.ts';
import type { NodeInfo } from './node-info.ts';
import { Storage } from './storage/storage.ts';
import { packageVersion } from './version.ts';

export interface RunningNode {
  readonly info: NodeInfo;
  /** Present when the node runs the `engine` role. */
  readonly storage: Storage | undefined;
  /** Present when the node runs the `broker` role. */
  readonly mqtt: MqttServer | undefined;
  /** Present when the node runs the `broker` role and has storage (the `engine` role). */
  readonly kafka: KafkaServer | undefined;
  /** Present when the node runs the `meta` role. */
  readonly meta: MetaService | undefined;
  close(): Promise<void>;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function startNode(config: Config, logger: Logger): Promise<RunningNode> {
  const startedAt = performance.now();
  const native = loadNative();
  const dataDir = isAbsolute(config.data_dir) ? config.data_dir : resolve(config.data_dir);
  const lock = callNative(() => native.DataDirLock.acquire(dataDir));
  const bound: Record<string, string> = {};
  const info: NodeInfo = {
    nodeId: config.node_id,
    roles: config.roles,
    version: packageVersion,
    dataDir,
    uptimeMs: () => performance.now() - startedAt,
    listeners: () => ({ ...bound }),
  };
  const metrics = createMetrics({ node_id: config.node_id }, config.event_loop_sample_ms);
  let admin: FastifyInstance | undefined;
  let storage: Storage | undefined;
  let mqtt: MqttServer | undefined;
  let kafka: KafkaServer | undefined;
  let meta: MetaService | undefined;
  let metaStorage: Storage | undefined;
  let bridge: Bridge | undefined;
  let topics: TopicRegistry | undefined;
  try {
    admin = buildAdminApp({ logger, node: info, metrics, cluster: () => meta });
    const { host, port } = config.listeners.admin;
    try {
      await admin.listen({ host, port, backlog: config.listen_backlog_max });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new FerryError(
        'FERRY_ERR_LISTEN',
        `admin listener cannot bind ${hostPort(host, port)}: ${e.code ?? e.message}`,
        {
          cause: err,
        },
      );
    }
    const addr = admin.server.address();
    bound.admin = typeof addr === 'object' && addr ? hostPort(addr.address, addr.port) : hostPort(host, port);
    if (config.roles.includes('engine')) {
      storage = await Storage.open(dataDir, config.storage, metrics.storage);
    }
    if (config.roles.includes('meta')) {
      // The Raft log lives in the node's KV; a meta-only node opens a store of its own for it.
      if (!storage) metaStorage = await Storage.open(join(dataDir, 'meta'), config.storage);
      const kv = (storage ?? metaStorage)?.kv;
      if (!kv) throw new FerryError('FERRY_ERR_DATA_DIR', 'no store for the meta service');
      const { host, port } = config.listeners.cluster;
      try {
        meta = await MetaService.start({
          nodeId: config.node_id,
          config: config.meta,
          members: config.cluster.members.map((m) => ({ id: m.id, address: hostPort(m.host, m.port) })),
          listen: { host, port },
          kv,
          logger,
          registry: metrics.registry,
        });
      } catch (err) {
        if (err instanceof FerryError) throw err;
        throw new FerryError(
          'FERRY_ERR_LISTEN',
          `cluster listener cannot bind ${hostPort(host, port)}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      bound.cluster = meta.boundAddress;
    }
    if (config.roles.includes('broker')) {
      // With the meta service here, session records and committed offsets go through its Raft
      // groups (sessions-<i>, offsets-<i>); without it, through this node's KV store only.
      const started = await MqttServer.start(config, logger, metrics.registry, storage?.kv, meta);
      mqtt = started.server;
      for (const [name, addr] of Object.entries(started.bound)) if (addr) bound[name] = addr;
      if (storage) {
        // One registry for the Kafka listener and the bridge: both see a topic the other creates.
        topics = await TopicRegistry.load(storage, config, metrics.registry);
        // Before the Kafka listener accepts: the bridge's readers start at the log ends as they are now.
        if (config.bridge.enabled) {
          bridge = Bridge.start(config, {
            topics,
            storage,
            broker: mqtt.broker,
            logger,
            registry: metrics.registry,
          });
        }
        const k = await KafkaServer.start(config, logger, storage, topics, metrics.registry, meta);
        kafka = k.server;
        if (k.bound) bound.kafka = k.bound;
      }
    }
  } catch (err) {
    await kafka?.close().catch(() => {});
    await mqtt?.close().catch(() => {});
    await bridge?.close().catch(() => {});
    topics?.close();
    await admin?.close().catch(() => {});
    await meta?.close().catch(() => {});
    await metaStorage?.close().catch(() => {});
    await storage?.close().catch(() => {});
    lock.release();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // Stop accepting first, then drain what is in flight, flush storage, then give up the lock.
      try {
        await mqtt?.close();
        // After MQTT: no publish reaches it any more; before storage: its readers end first.
        await bridge?.close();
        await kafka?.close();
        // The registry is the node's (shared by Kafka and the bridge): its retention stops before storage closes.
        topics?.close();
        await admin?.close();
        // After the listeners, before storage: the groups' last syncs land first.
        await meta?.close();
        await metaStorage?.close();
        await storage?.close();
      } finally {
        lock.release();
      }
    })();
    return closing;
  };

  logger.info(
    {
      node_id: config.node_id,
      roles: config.roles,
      data_dir: dataDir,
      listeners: bound,
      // performance.now() counts from process start: this is the whole time to ready.
      ready_ms: Math.round(performance.now()),
      version: packageVersion,
    },
    `ferrymq ready: ${Object.entries(bound)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  return { info, storage, mqtt, kafka, meta, close };
}
