/**
 * The broker's MQTT message path in one process, without the kernel: real
 * Connection / Broker / Session objects over in-memory Duplex sockets, fed
 * pre-encoded PUBLISH and PUBACK frames. It prints the process CPU time per
 * delivery (min and median of the rounds). On a machine shared with other
 * builds, where socket benchmarks swing by 2× from run to run, this figure
 * moves by about ±10%, so A/B comparisons of the JS path are possible.
 *
 * Run: node bench/lib/mqtt-hotpath.ts <fanin|p2p|fanout> <qos 0|1> [messages per round] [rounds] [root]
 *   root: a tree with a compiled dist/ (e.g. a copy of an older build) to
 *   measure instead of ts/ (A/B: run both, alternating). Add --trace-gc to
 *   node to see the scavenges.
 * Topologies as in mqtt.bench.ts: fan-in 50 → 1 on bench/#, p2p 25 pairs,
 * fan-out 1 → 50; publishers send 8 PUBLISHes per chunk; QoS 1 subscribers
 * acknowledge everything they got after each turn.
 */
import { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt-packet';
import type { MqttConfig } from '../../ts/config/schema.ts';
import type { Broker as BrokerType } from '../../ts/mqtt/broker.ts';
import type { ConnectionDeps, Connection as ConnectionType } from '../../ts/mqtt/connection.ts';

const [scenario = 'fanin', qosArg = '1', nArg = '200000', roundsArg = '5', root] = process.argv.slice(2);
if (!['fanin', 'p2p', 'fanout'].includes(scenario)) throw new Error(`unknown scenario ${scenario}`);
const qos = qosArg === '1' ? 1 : 0;
const N = Number(nArg);
const ROUNDS = Number(roundsArg);

const base = root ? `${pathToFileURL(root).href}/dist/` : new URL('../../ts/', import.meta.url).href;
const ext = root ? 'js' : 'ts';
const { Connection } = (await import(`${base}mqtt/connection.${ext}`)) as {
  Connection: typeof ConnectionType;
};
const { Broker } = (await import(`${base}mqtt/broker.${ext}`)) as { Broker: typeof BrokerType };
const { RetainedStore } = (await import(
  `${base}mqtt/retained.${ext}`
)) as typeof import('../../ts/mqtt/retained.ts');
const { SCHEMA } = (await import(
  `${base}config/schema.${ext}`
)) as typeof import('../../ts/config/schema.ts');

const config: Record<string, unknown> = {};
for (const k of SCHEMA) if (k.key.startsWith('mqtt.')) config[k.key.slice(5)] = k.default;
const mqttConfig = config as unknown as MqttConfig;
const broker = new Broker(
  new RetainedStore(1000, undefined, () => {}),
  {
    queueMessagesMax: mqttConfig.session_queue_max,
    queueBytesMax: mqttConfig.session_queue_bytes_max,
    topicCacheBytesMax: mqttConfig.topic_cache_bytes_max,
  },
  { received() {}, routed() {}, dropped() {} },
);
const noop = (): void => {};
const logger = { debug: noop, info: noop, warn: noop, error: console.error, child: () => logger };
const deps = {
  broker,
  config: mqttConfig,
  logger,
  metrics: { bytesIn: noop, bytesOut: noop, dropped: noop, sent: noop },
  onClose: noop,
  auth: undefined,
  onWill: noop,
} as unknown as ConnectionDeps;

let outBytes = 0;
function socket(): Duplex {
  return new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      outBytes += chunk.length;
      cb();
    },
    writev(chunks, cb) {
      for (const c of chunks) outBytes += (c.chunk as Buffer).length;
      cb();
    },
  });
}

const encode = (p: mqtt.Packet): Buffer => mqtt.generate(p, { protocolVersion: 4 });
function client(id: string): ConnectionType {
  const c = new Connection(socket(), 'bench', deps);
  c.receive(
    encode({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: id,
      clean: true,
      keepalive: 0,
    }),
  );
  return c;
}
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const pubCount = scenario === 'fanin' ? 50 : scenario === 'p2p' ? 25 : 1;
const subCount = scenario === 'fanin' ? 1 : scenario === 'p2p' ? 25 : 50;
const fanout = scenario === 'fanout' ? 50 : 1;
const pubs = Array.from({ length: pubCount }, (_, i) => client(`p${i}`));
const topics = pubs.map((_, i) =>
  scenario === 'fanin' ? `bench/fi/${i}` : scenario === 'p2p' ? `bench/p2p/${i}` : 'bench/fo',
);
const subs = Array.from({ length: subCount }, (_, i) => client(`s${i}`));
subs.forEach((s, i) => {
  const topic = scenario === 'fanin' ? 'bench/#' : scenario === 'p2p' ? (topics[i] as string) : 'bench/fo';
  s.receive(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] }));
});
await turn();

const BATCH = 8;
const payload = Buffer.alloc(64, 1);
const chunks = topics.map((topic) =>
  Buffer.concat(
    Array.from({ length: BATCH }, (_, k) =>
      encode({ cmd: 'publish', topic, payload, qos, retain: false, dup: false, messageId: k + 1 }),
    ),
  ),
);
const acks = Array.from({ length: 65536 }, (_, id) =>
  id === 0 ? Buffer.alloc(0) : encode({ cmd: 'puback', messageId: id }),
);
const nextId = subs.map(() => 1);
const perSubPerTurn = scenario === 'fanin' ? pubCount * BATCH : BATCH;

async function run(n: number): Promise<number> {
  let sent = 0;
  while (sent < n) {
    for (let i = 0; i < pubs.length; i++) (pubs[i] as ConnectionType).receive(chunks[i] as Buffer);
    sent += pubs.length * BATCH;
    await turn();
    if (qos === 1) {
      // Packet ids are allocated in sequence per session and every delivery is acknowledged in order.
      for (let s = 0; s < subs.length; s++) {
        const list: Buffer[] = [];
        for (let k = 0; k < perSubPerTurn; k++) {
          const id = nextId[s] as number;
          nextId[s] = id === 65535 ? 1 : id + 1;
          list.push(acks[id] as Buffer);
        }
        (subs[s] as ConnectionType).receive(Buffer.concat(list));
      }
      await turn();
    }
  }
  return sent;
}

await run(Math.min(N, 200_000)); // warm-up: let the JIT settle
const nsPerDelivery: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const c0 = process.cpuUsage();
  const sent = await run(N);
  const c = process.cpuUsage(c0);
  nsPerDelivery.push(((c.user + c.system) * 1000) / (sent * fanout));
}
const inflight = subs.reduce((a, s) => a + (s.session?.inflight.size ?? 0), 0);
if (inflight !== 0) throw new Error(`${inflight} deliveries still in flight: the run did not complete`);
const sorted = [...nsPerDelivery].sort((a, b) => a - b);
console.log(
  `${scenario} QoS ${qos} ${root ?? 'ts/'}: ns CPU per delivery min ${sorted[0]?.toFixed(0)} median ${sorted[sorted.length >> 1]?.toFixed(0)} (rounds ${nsPerDelivery.map((x) => x.toFixed(0)).join(' ')}; ${(outBytes / 1e6).toFixed(0)} MB written)`,
);
process.exit(0);
