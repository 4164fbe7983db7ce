import { bool, integer, type KeySpec, list, nonEmptyString } from './value-parsers.ts';

/** `[mqtt]`: protocol limits; each is enforced with the spec's reaction and counted. */
export interface MqttConfig {
  connect_timeout_ms: number;
  packet_bytes_max: number;
  receive_max: number;
  topic_alias_max: number;
  keepalive_s_max: number;
  session_expiry_s_max: number;
  session_queue_max: number;
  session_queue_bytes_max: number;
  outbound_bytes_max: number;
  connections_max: number;
  subscriptions_per_client_max: number;
  retained_max: number;
  topic_cache_bytes_max: number;
  tcp_shared_read_buffer: boolean;
  tcp_direct_writes: boolean;
  forbidden_filters: string[];
  sys_interval_ms: number;
  auth_module: string;
}

export const MQTT_KEYS: readonly KeySpec<unknown>[] = [
  {
    key: 'mqtt.connect_timeout_ms',
    default: 10_000,
    doc: 'A connection that has not completed CONNECT by then is closed',
    parse: integer(100, 600_000),
  },
  {
    key: 'mqtt.packet_bytes_max',
    default: 1_048_576,
    doc: 'Maximum Packet Size the server accepts; larger packets get DISCONNECT 0x95 (3.1.1: the connection is closed)',
    parse: integer(64, 268_435_460),
  },
  {
    key: 'mqtt.receive_max',
    default: 1024,
    doc: 'Server Receive Maximum: incoming QoS 2 messages awaiting PUBREL per client; more gets DISCONNECT 0x93',
    parse: integer(1, 65_535),
  },
  {
    key: 'mqtt.topic_alias_max',
    default: 1024,
    doc: 'Topic Alias Maximum the server accepts from a client (0 disables incoming aliases)',
    parse: integer(0, 65_535),
  },
  {
    key: 'mqtt.keepalive_s_max',
    default: 65_535,
    doc: 'Largest keep alive granted; an MQTT 5 client asking for more (or 0) is told this via Server Keep Alive',
    parse: integer(1, 65_535),
  },
  {
    key: 'mqtt.session_expiry_s_max',
    default: 604_800,
    doc: 'Cap on session expiry; 3.1.1 persistent sessions (clean session 0) expire after this',
    parse: integer(0, 4_294_967_295),
  },
  {
    key: 'mqtt.session_queue_max',
    default: 1000,
    doc: 'Messages queued per session (offline, or behind the client’s Receive Maximum); oldest dropped beyond it, QoS 0 first',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'mqtt.session_queue_bytes_max',
    default: 16 * 1024 * 1024,
    doc: 'Payload bytes queued per session; oldest dropped beyond it, QoS 0 first',
    parse: integer(1024, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'mqtt.outbound_bytes_max',
    default: 1024 * 1024,
    doc: 'Bytes buffered towards one client socket; beyond it QoS 0 messages to that client are dropped and reading from it pauses',
    parse: integer(1024, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'mqtt.connections_max',
    default: 100_000,
    doc: 'Connections per MQTT listener; more are closed on accept',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'mqtt.subscriptions_per_client_max',
    default: 10_000,
    doc: 'Subscriptions per session; more get reason 0x97 (Quota exceeded)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'mqtt.retained_max',
    default: 1_000_000,
    doc: 'Retained topics kept; a retained PUBLISH to a new topic beyond it is delivered but not retained',
    parse: integer(0, 100_000_000),
  },
  {
    key: 'mqtt.topic_cache_bytes_max',
    default: 4 * 1024 * 1024,
    doc: 'Estimated bytes of the topic → matching subscriptions cache (oldest topics dropped beyond it; any subscription change invalidates it); 0 disables it',
    parse: integer(0, 1024 * 1024 * 1024),
  },
  {
    key: 'mqtt.tcp_shared_read_buffer',
    default: true,
    doc: 'Plain TCP client sockets read into one 64 KiB buffer shared by the process instead of a new buffer per read (less CPU per message); false restores per-read buffers',
    parse: bool,
  },
  {
    key: 'mqtt.tcp_direct_writes',
    default: true,
    doc: "Writes to plain TCP client sockets go straight to the socket's handle instead of through Node's stream (less CPU per message); false restores stream writes",
    parse: bool,
  },
  {
    key: 'mqtt.forbidden_filters',
    default: [],
    doc: 'Topic filters no client may subscribe to (exact match, e.g. "#"); refused with 0x87 (3.1.1: 0x80)',
    parse: (raw, fromEnv) => list(raw, fromEnv).map((f) => nonEmptyString(f)),
  },
  {
    key: 'mqtt.sys_interval_ms',
    default: 10_000,
    doc: 'Period of the retained $SYS/broker/... statistics topics (0 disables them)',
    parse: integer(0, 86_400_000),
  },
  {
    key: 'mqtt.auth_module',
    default: '',
    doc: 'Path of an ES module exporting authenticate() and/or MQTT 5 enhanced-auth methods + exchange(); empty accepts every client',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
];
