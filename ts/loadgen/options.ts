/**
 * Options of `ferrymq bench mqtt|kafka`: parsed from the command line's
 * strings and checked here, apart from commander, so the rules are unit
 * tested. A bad value is a FerryError FERRY_ERR_CONFIG_INVALID naming the
 * option (the CLI prints it and exits 2).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { FerryError } from '../errors.ts';

export const MQTT_SCENARIOS = ['conn', 'pub', 'sub', 'pubsub'] as const;
export type MqttScenario = (typeof MQTT_SCENARIOS)[number];
export const KAFKA_SCENARIOS = ['produce', 'consume'] as const;
export type KafkaScenario = (typeof KAFKA_SCENARIOS)[number];

/** Bounds that keep one generator process sane; each is also said in the option's help. */
export const LIMITS = {
  workers: 64,
  clients: 1_000_000,
  payloadBytes: 256 * 1024 * 1024 - 1024,
  recordBytes: 16 * 1024 * 1024,
  durationS: 24 * 3600,
  inflight: 65_535,
  partitions: 10_000,
} as const;

export interface CommonOptions {
  /** Seconds of measured load (after the warm-up). */
  durationS: number;
  warmupS: number;
  /** Messages/s over the whole generator; 0 = as fast as the broker takes them. */
  rate: number;
  workers: number;
  json: boolean;
  /** Live line on stderr: true / false, or undefined = only when stderr is a TTY. */
  progress: boolean | undefined;
}

export interface MqttOptions extends CommonOptions {
  scenario: MqttScenario;
  host: string;
  port: number;
  mqttVersion: 4 | 5;
  /** conn: connections to open and hold. */
  connections: number;
  publishers: number;
  subscribers: number;
  /** Topic template; `%i` is replaced by the topic number (0 .. topics-1). */
  topic: string;
  topics: number;
  /** Subscription filter template (default: the topic template); `%i` as for topic. */
  filter: string;
  /** Shared-subscription group: subscribers use `$share/<group>/<filter>`. */
  shared: string | undefined;
  qos: 0 | 1 | 2;
  payloadBytes: number;
  /** Unacknowledged QoS 1/2 PUBLISHes per publisher (also capped by the broker's Receive Maximum). */
  inflight: number;
  keepaliveS: number;
  clientIdPrefix: string;
  username: string | undefined;
  password: string | undefined;
  /** Local (source) addresses the connections are spread over, for more than ~28k connections per address. */
  localAddresses: string[];
  /** conn: new connections per second over the generator; 0 = as fast as CONNACKs come. */
  connectRate: number;
  /**
   * Unthrottled publishing paced by delivery: at most this many messages
   * published and not yet received by the subscribers (0 = off: publish as
   * fast as TCP takes it).
   */
  window: number;
  /** Deliveries per message (subscribers that get each one), for the window. */
  fanout: number;
  /** MQTT over TLS. */
  tls: boolean;
  /** PEM CA certificate(s) to verify the broker with (the file's content); undefined = the system's. */
  ca: string | undefined;
  /** Do not verify the broker's certificate. */
  insecure: boolean;
}

export interface KafkaOptions extends CommonOptions {
  scenario: KafkaScenario;
  bootstrap: string;
  topic: string;
  /** Partitions of the topic when the bench creates it (0 = leave an existing topic as it is / broker default). */
  partitions: number;
  recordBytes: number;
  acks: 0 | 1 | -1;
  /** Bytes of records per batch (per partition), like the Java producer's batch.size. */
  batchBytes: number;
  lingerMs: number;
  /** Produce requests in flight per connection. */
  inflight: number;
  /** produce: producer connections; consume: consumers. */
  clients: number;
  /** consume: a consumer group (classic protocol) or, when undefined, partitions assigned by the bench. */
  group: string | undefined;
  /** consume: where to start when the partitions are not committed. */
  from: 'earliest' | 'latest';
  fetchMaxBytes: number;
  fetchMaxWaitMs: number;
  clientId: string;
}

/** The raw values commander hands over (strings, or booleans for flags). */
export type RawOptions = Record<string, string | boolean | undefined>;

function bad(option: string, value: unknown, why: string): never {
  throw new FerryError('FERRY_ERR_CONFIG_INVALID', `--${option} ${String(value)}: ${why}`);
}

export function intOption(raw: RawOptions, name: string, def: number, min: number, max: number): number {
  const v = raw[name];
  if (v === undefined || v === false) return def;
  const s = String(v).replaceAll('_', '');
  const n = /^-?\d+$/.test(s) ? Number(s) : /^\d+(\.\d+)?[kKmM]$/.test(s) ? suffixed(s) : Number.NaN;
  if (!Number.isSafeInteger(n)) bad(kebab(name), v, 'not an integer');
  if (n < min || n > max) bad(kebab(name), v, `must be between ${min} and ${max}`);
  return n;
}

function suffixed(s: string): number {
  const mul = /[kK]$/.test(s) ? 1_000 : 1_000_000;
  return Math.round(Number(s.slice(0, -1)) * mul);
}

function numberOption(raw: RawOptions, name: string, def: number, min: number, max: number): number {
  const v = raw[name];
  if (v === undefined || v === false) return def;
  const n = Number(v);
  if (!Number.isFinite(n)) bad(kebab(name), v, 'not a number');
  if (n < min || n > max) bad(kebab(name), v, `must be between ${min} and ${max}`);
  return n;
}

function stringOption(raw: RawOptions, name: string, def: string): string {
  const v = raw[name];
  if (v === undefined || v === false || v === true) return def;
  return v;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** host:port, or a bare port (host 127.0.0.1). */
export function parseAddress(s: string, option: string, defPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))?(?::(\d+))?$/.exec(s.trim());
  const host = m?.[1] ?? m?.[2] ?? '127.0.0.1';
  const port = m?.[3] !== undefined ? Number(m[3]) : /^\d+$/.test(s.trim()) ? Number(s) : defPort;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65_535) bad(option, s, 'expected host:port');
  if (/^\d+$/.test(s.trim())) return { host: '127.0.0.1', port };
  return { host, port };
}

function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    bad('ca', path, (e as Error).message);
  }
}

function defaultWorkers(): number {
  // One thread is left to the main thread and, on a small machine, to the broker under test.
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

function common(raw: RawOptions): CommonOptions {
  const progress = raw.progress === true ? true : raw.progress === false ? false : undefined;
  return {
    durationS: numberOption(raw, 'duration', 10, 0.1, LIMITS.durationS),
    warmupS: numberOption(raw, 'warmup', 0, 0, LIMITS.durationS),
    rate: intOption(raw, 'rate', 0, 0, 100_000_000),
    workers: intOption(raw, 'workers', defaultWorkers(), 1, LIMITS.workers),
    json: raw.json === true,
    progress,
  };
}

export function parseMqttOptions(scenario: string, raw: RawOptions): MqttOptions {
  if (!(MQTT_SCENARIOS as readonly string[]).includes(scenario)) {
    bad('scenario', scenario, `expected one of ${MQTT_SCENARIOS.join(', ')}`);
  }
  const sc = scenario as MqttScenario;
  const addr = parseAddress(stringOption(raw, 'host', '127.0.0.1'), 'host', 1883);
  const port = raw.port !== undefined ? intOption(raw, 'port', 1883, 1, 65_535) : addr.port;
  const version = stringOption(raw, 'mqttVersion', '3.1.1');
  if (version !== '3.1.1' && version !== '5' && version !== '5.0' && version !== '4') {
    bad('mqtt-version', version, 'expected 3.1.1 or 5');
  }
  const qos = intOption(raw, 'qos', 0, 0, 2) as 0 | 1 | 2;
  const topic = stringOption(raw, 'topic', 'ferrymq-bench/%i');
  const topics = intOption(raw, 'topics', 1, 1, LIMITS.clients);
  if (topic.includes('#') || topic.includes('+')) bad('topic', topic, 'a topic name has no wildcards');
  const filter = stringOption(raw, 'filter', topic);
  const sharedRaw = raw.shared;
  const shared =
    sharedRaw === undefined || sharedRaw === false ? undefined : sharedRaw === true ? 'bench' : sharedRaw;
  if (shared !== undefined && /[/+#]/.test(shared)) bad('shared', shared, 'a share name has no /, + or #');
  const publishers = intOption(raw, 'publishers', sc === 'sub' || sc === 'conn' ? 0 : 1, 0, LIMITS.clients);
  const subscribers = intOption(raw, 'subscribers', sc === 'pub' || sc === 'conn' ? 0 : 1, 0, LIMITS.clients);
  const connections = intOption(raw, 'connections', sc === 'conn' ? 1000 : 0, 0, LIMITS.clients);
  if ((sc === 'pub' || sc === 'pubsub') && publishers === 0) bad('publishers', 0, `${sc} needs a publisher`);
  if ((sc === 'sub' || sc === 'pubsub') && subscribers === 0)
    bad('subscribers', 0, `${sc} needs a subscriber`);
  if (sc === 'conn' && connections === 0) bad('connections', 0, 'conn needs connections');
  const payloadBytes = intOption(raw, 'size', 64, 0, LIMITS.payloadBytes);
  const local = stringOption(raw, 'localAddress', '');
  const localAddresses = local === '' ? [] : expandAddresses(local);
  return {
    ...common(raw),
    scenario: sc,
    host: addr.host,
    port,
    mqttVersion: version === '5' || version === '5.0' ? 5 : 4,
    connections: sc === 'conn' ? connections : 0,
    publishers: sc === 'conn' || sc === 'sub' ? 0 : publishers,
    subscribers: sc === 'conn' || sc === 'pub' ? 0 : subscribers,
    topic,
    topics,
    filter,
    shared,
    qos,
    payloadBytes,
    inflight: intOption(raw, 'inflight', 64, 1, LIMITS.inflight),
    keepaliveS: intOption(raw, 'keepalive', 60, 0, 65_535),
    clientIdPrefix: stringOption(raw, 'clientId', `fmqb-${process.pid.toString(36)}`),
    username: raw.username === undefined || raw.username === true ? undefined : String(raw.username),
    password: raw.password === undefined || raw.password === true ? undefined : String(raw.password),
    localAddresses,
    connectRate: intOption(raw, 'connectRate', 0, 0, 10_000_000),
    window: sc === 'pubsub' ? intOption(raw, 'window', 0, 0, 100_000_000) : 0,
    fanout: intOption(raw, 'fanout', 1, 1, LIMITS.clients),
    tls: raw.tls === true || raw.ca !== undefined || raw.insecure === true,
    ca: raw.ca === undefined || raw.ca === true || raw.ca === false ? undefined : readCa(raw.ca),
    insecure: raw.insecure === true,
  };
}

/**
 * `127.0.0.1,127.0.0.2` or a range in the last byte, `127.0.0.1-8`: the
 * source addresses connections are spread over (each has its own
 * ephemeral-port space).
 */
export function expandAddresses(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec.split(',').map((s) => s.trim())) {
    if (part === '') continue;
    const m = /^(\d+\.\d+\.\d+\.)(\d+)-(\d+)$/.exec(part);
    if (m) {
      const [from, to] = [Number(m[2]), Number(m[3])];
      if (from > to || to > 255) bad('local-address', part, 'bad range');
      for (let i = from; i <= to; i++) out.push(`${m[1]}${i}`);
    } else if (/^[\d.]+$|:/.test(part)) out.push(part);
    else bad('local-address', part, 'expected an IP address or a range like 127.0.0.1-8');
  }
  return out;
}

export function parseKafkaOptions(scenario: string, raw: RawOptions): KafkaOptions {
  if (!(KAFKA_SCENARIOS as readonly string[]).includes(scenario)) {
    bad('scenario', scenario, `expected one of ${KAFKA_SCENARIOS.join(', ')}`);
  }
  const sc = scenario as KafkaScenario;
  const b = parseAddress(stringOption(raw, 'bootstrap', '127.0.0.1:9092'), 'bootstrap', 9092);
  const acksRaw = stringOption(raw, 'acks', '1');
  const acks = acksRaw === 'all' ? -1 : Number(acksRaw);
  if (acks !== 0 && acks !== 1 && acks !== -1) bad('acks', acksRaw, 'expected 0, 1, -1 or all');
  const from = stringOption(raw, 'from', 'earliest');
  if (from !== 'earliest' && from !== 'latest') bad('from', from, 'expected earliest or latest');
  const topic = stringOption(raw, 'topic', 'ferrymq-bench');
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(topic)) bad('topic', topic, 'not a legal Kafka topic name');
  const groupRaw = raw.group;
  return {
    ...common(raw),
    scenario: sc,
    bootstrap: `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`,
    topic,
    partitions: intOption(raw, 'partitions', 0, 0, LIMITS.partitions),
    recordBytes: intOption(raw, 'size', 100, 0, LIMITS.recordBytes),
    acks,
    batchBytes: intOption(raw, 'batchSize', 16_384, 1, 64 * 1024 * 1024),
    lingerMs: numberOption(raw, 'linger', 5, 0, 60_000),
    inflight: intOption(raw, 'inflight', 5, 1, 1000),
    clients: intOption(raw, sc === 'produce' ? 'producers' : 'consumers', 1, 1, 10_000),
    group:
      groupRaw === undefined || groupRaw === false
        ? undefined
        : groupRaw === true
          ? 'ferrymq-bench'
          : groupRaw,
    from,
    fetchMaxBytes: intOption(raw, 'fetchMaxBytes', 1024 * 1024, 1024, 256 * 1024 * 1024),
    fetchMaxWaitMs: intOption(raw, 'fetchMaxWait', 100, 0, 60_000),
    clientId: stringOption(raw, 'clientId', 'ferrymq-bench'),
  };
}

/** Spread `n` items over `workers`: item i goes to worker i % workers. */
export function spread(n: number, workers: number): number[][] {
  const out: number[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < n; i++) out[i % workers]?.push(i);
  return out;
}

/** The topic (or filter) of number i from a template with `%i`. */
export function topicName(template: string, i: number): string {
  return template.replaceAll('%i', String(i));
}
