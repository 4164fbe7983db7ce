/**
 * The node's own keys: id, roles, data dir, shutdown, listener addresses,
 * cluster members (`[listeners]`, `[cluster]`), and `[log]`.
 */

import { integer, type KeySpec, list, nonEmptyString, oneOf, ValueError } from './value-parsers.ts';

export const ROLES = ['meta', 'broker', 'engine'] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ClusterMember {
  id: number;
  host: string;
  port: number;
}

const DEFAULT_HOST = '127.0.0.1';

/** `host:port`, `[v6]:port`, or a bare port (host 127.0.0.1). Port 0 asks the OS for a free port. */
export function parseAddress(raw: unknown, fromEnv: boolean): ListenAddress {
  const asPort = (p: unknown): number => integer(0, 65535)(p, true);
  if (typeof raw === 'number') return { host: DEFAULT_HOST, port: asPort(raw) };
  if (typeof raw !== 'string') throw new ValueError('expected a port or "host:port"');
  if (/^\d+$/.test(raw)) return { host: DEFAULT_HOST, port: asPort(raw) };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d+)$/.exec(raw);
  if (!m) {
    throw new ValueError(`expected a port or "host:port"${fromEnv ? '' : ' (a string)'}`);
  }
  const port = asPort(m[3]);
  return { host: m[1] ?? m[2] ?? DEFAULT_HOST, port };
}

function parseMember(raw: unknown): ClusterMember {
  if (typeof raw !== 'string') throw new ValueError('expected "id@host:port" entries');
  const at = raw.indexOf('@');
  if (at <= 0) throw new ValueError(`member "${raw}" is not "id@host:port"`);
  const id = integer(1, 2 ** 31 - 1)(raw.slice(0, at), true);
  const { host, port } = parseAddress(raw.slice(at + 1), true);
  if (port === 0) throw new ValueError(`member "${raw}" needs a real port`);
  return { id, host, port };
}

function listener(name: string, port: number, what: string): KeySpec<ListenAddress> {
  return {
    key: `listeners.${name}`,
    default: { host: DEFAULT_HOST, port },
    doc: `${what}; a port or "host:port" (default ${DEFAULT_HOST}:${port}; 0 picks a free port)`,
    parse: parseAddress,
  };
}

export const NODE_KEYS: readonly KeySpec<unknown>[] = [
  {
    key: 'node_id',
    default: 1,
    doc: 'This node’s id in the cluster (1 to 2^31-1)',
    parse: integer(1, 2 ** 31 - 1),
  },
  {
    key: 'roles',
    default: [...ROLES],
    doc: 'Layers this node runs: any of "meta", "broker", "engine" (default all three)',
    parse: (raw, fromEnv) => {
      const roles = list(raw, fromEnv).map((r) => oneOf(ROLES)(r));
      if (roles.length === 0) throw new ValueError('expected at least one role');
      if (new Set(roles).size !== roles.length) throw new ValueError('a role is listed twice');
      return roles;
    },
  },
  {
    key: 'data_dir',
    default: './data',
    doc: 'Directory for all persistent state; locked by one process at a time',
    parse: nonEmptyString,
  },
  {
    key: 'shutdown_timeout_ms',
    default: 10_000,
    doc: 'Bound on a graceful shutdown (drain, flush) before the process exits anyway',
    parse: integer(0, 600_000),
  },
  {
    key: 'listen_backlog_max',
    default: 4096,
    doc: 'Accept queue length of the MQTT (TCP, TLS, WS, WSS), Kafka and admin listeners (the kernel caps it at net.core.somaxconn); connects beyond it wait for SYN retransmits of 1 s, then 3 s (ferrymq_tcp_listen_overflows_total)',
    parse: integer(1, 65_535),
  },
  {
    key: 'event_loop_sample_ms',
    default: 100,
    doc: 'How often the event-loop delay behind nodejs_eventloop_lag_* is sampled; each sample wakes an idle process (20 ms made 50 of its ~70 wake-ups a second)',
    parse: integer(10, 60_000),
  },
  listener('mqtt', 1883, 'MQTT over TCP'),
  listener('mqtt_tls', 8883, 'MQTT over TLS'),
  listener('mqtt_ws', 8083, 'MQTT over WebSocket'),
  listener('mqtt_wss', 8084, 'MQTT over secure WebSocket'),
  listener('kafka', 9092, 'Kafka protocol'),
  listener('admin', 8088, 'Admin HTTP API, /health and /metrics'),
  listener('cluster', 9500, 'Inter-node RPC (Raft, forwarding)'),
  {
    key: 'cluster.members',
    default: [],
    doc: 'Initial members as "id@host:port"; empty means a cluster of one',
    parse: (raw, fromEnv) => {
      const members = list(raw, fromEnv).map(parseMember);
      const ids = new Set<number>();
      const addrs = new Set<string>();
      for (const m of members) {
        if (ids.has(m.id)) throw new ValueError(`node id ${m.id} is listed twice`);
        const addr = `${m.host}:${m.port}`;
        if (addrs.has(addr)) throw new ValueError(`address ${addr} is listed twice`);
        ids.add(m.id);
        addrs.add(addr);
      }
      return members;
    },
  },
];

export const LOG_KEYS: readonly KeySpec<unknown>[] = [
  {
    key: 'log.level',
    default: 'info',
    doc: `Log level: ${LOG_LEVELS.join(', ')}`,
    parse: oneOf(LOG_LEVELS),
  },
  {
    key: 'log.format',
    default: 'auto',
    doc: 'auto (pretty on a terminal, JSON otherwise), json or pretty',
    parse: oneOf(LOG_FORMATS),
  },
];
