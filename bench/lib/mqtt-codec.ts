/**
 * The MQTT bench's wire settings on the load generator's codec
 * (ts/loadgen/mqtt-codec.ts, one implementation of the hand-rolled hot
 * path): MQTT 3.1.1, PAYLOAD_BYTES-byte payloads stamped with the send time.
 * `selfTest()` checks these exact shapes against mqtt-packet before a run,
 * so a bench never measures packets a broker would not read as meant.
 */
import * as mqttPacket from 'mqtt-packet';
import * as codec from '../../ts/loadgen/mqtt-codec.ts';

export {
  DISCONNECT,
  disconnect,
  FrameReader,
  nowUs,
  PUBACK,
  readConnack,
  readSuback,
  writeAck,
} from '../../ts/loadgen/mqtt-codec.ts';

export const PAYLOAD_BYTES = 64;
export const VERSION = 4;

/** A PUBLISH for one topic and QoS with the bench's payload, rewritten in place for each message. */
export class PublishTemplate extends codec.PublishTemplate {
  constructor(topic: string, qos: 0 | 1) {
    super(topic, qos, PAYLOAD_BYTES, VERSION);
  }
}

export function connectPacket(clientId: string, keepaliveS = 60): Buffer {
  return codec.connectPacket({ clientId, version: VERSION, keepaliveS });
}

export function subscribePacket(filter: string, qos: 0 | 1): Buffer {
  return codec.subscribePacket(filter, qos, VERSION);
}

/** The bench's PUBLISHes must decode with mqtt-packet to what was meant and read back with their stamp. */
export function selfTest(): void {
  for (const qos of [0, 1] as const) {
    const t = new PublishTemplate('bench/x/12', qos);
    const b = Buffer.alloc(t.length);
    t.writeInto(b, 0, 1234.5, 777);
    const got = codec.decodeControl(b, VERSION);
    if (
      got?.cmd !== 'publish' ||
      got.topic !== 'bench/x/12' ||
      got.qos !== qos ||
      (qos === 1 && got.messageId !== 777) ||
      got.payload.length !== PAYLOAD_BYTES
    ) {
      throw new Error(`codec self-test failed for QoS ${qos}: ${JSON.stringify(got)}`);
    }
    let seen: number[] = [];
    const fail = (why: string) => {
      throw new Error(`frame reader self-test failed for QoS ${qos}: ${why}`);
    };
    new codec.FrameReader(
      { publish: (q, id, s) => (seen = [q, id, s]), ack: () => {}, other: () => {}, malformed: fail },
      VERSION,
    ).push(mqttPacket.generate(got));
    if (seen[0] !== qos || seen[1] !== (qos ? 777 : 0) || seen[2] !== 1234.5) fail(`read ${seen}`);
  }
}
