/**
 * A do-nothing MQTT "broker" for one measurement: the cost of Node.js
 * itself under a fan-in load. It answers CONNECT with CONNACK and the first
 * SUBSCRIBE with SUBACK, then forwards every chunk of PUBLISH bytes from
 * any other client verbatim to that subscriber, with a plain 'data'
 * listener and `socket.write`: no MQTT parsing, no routing, no sessions.
 * Only for QoS 0 fan-in at a moderate rate (one packet per chunk, or whole
 * packets), where the bytes a publisher sends are the bytes a subscriber
 * of `#` receives.
 *
 *   node bench/lib/mqtt-floor-server.ts 21885
 *   npx ferrymq bench mqtt pubsub -p 21885 -P 50 -S 1 -t 'bench/fi/%i' -T 50 -f 'bench/#' -r 5000 -d 15
 *
 * docs/benchmarks.md ("MQTT: reading the figures") compares its latency
 * and CPU per message with FerryMQ's and Mosquitto's.
 */
import { createServer, type Socket } from 'node:net';

const port = Number(process.argv[2] ?? 21885);
let subscriber: Socket | undefined;

const server = createServer((s) => {
  s.setNoDelay(true);
  let connected = false;
  s.on('data', (d: Buffer) => {
    const type = (d[0] as number) >> 4;
    if (!connected) {
      connected = true;
      s.write(Buffer.from([0x20, 2, 0, 0])); // CONNACK, accepted
    } else if (type === 8 && subscriber === undefined) {
      subscriber = s;
      s.write(Buffer.from([0x90, 3, d[2] as number, d[3] as number, 0])); // SUBACK, QoS 0
    } else if (type === 3 && subscriber !== undefined && s !== subscriber) {
      subscriber.write(d);
    } else if (type === 12) {
      s.write(Buffer.from([0xd0, 0])); // PINGRESP
    }
  });
  s.on('error', () => {});
  s.on('close', () => {
    if (s === subscriber) subscriber = undefined;
  });
});
server.listen(port, '127.0.0.1', () => console.log(`floor server on 127.0.0.1:${port}`));
