/**
 * mqtt-packet for the packets outside the message path (CONNECT, SUBSCRIBE,
 * UNSUBSCRIBE, DISCONNECT, AUTH, and whatever a client should not send).
 * The connection hands over one whole frame at a time, so a parser never
 * holds bytes between calls and one parser per protocol level serves every
 * connection: a connection owns no parser object (memory per idle
 * connection), and parsing stays synchronous.
 */
import mqtt, { type Packet } from 'mqtt-packet';
import { enforceUtf8 } from '../strict-utf8.ts';

type Parser = ReturnType<typeof mqtt.parser>;

/** Version 0: not connected yet (CONNECT sets the version it parses with). */
const parsers = new Map<number, Parser>();
let parsed: Packet | undefined;
let failed: Error | undefined;

function parserFor(version: number): Parser {
  let p = parsers.get(version);
  if (!p) {
    p = mqtt.parser(version === 0 ? {} : { protocolVersion: version as 3 | 4 | 5 });
    enforceUtf8(p);
    p.on('packet', (packet: Packet) => {
      parsed = packet;
    });
    p.on('error', (err: Error) => {
      failed ??= err;
    });
    parsers.set(version, p);
  }
  return p;
}

/**
 * Parse one whole frame (fixed header included) as a client of protocol
 * level `version` (0 before CONNECT). Returns the packet or the parse error.
 */
export function parseFrame(frame: Buffer, version: number): Packet | Error {
  const p = parserFor(version);
  parsed = undefined;
  failed = undefined;
  try {
    p.parse(frame);
  } catch (err) {
    failed ??= err as Error;
  }
  const packet = parsed;
  const err = failed;
  parsed = undefined;
  failed = undefined;
  if (err || !packet || (p as unknown as { _list: { length: number } })._list.length > 0) {
    // Never carry state into the next frame (of another connection).
    parsers.delete(version);
    return err ?? new Error('incomplete packet');
  }
  if (version === 0) {
    // CONNECT makes the parser remember the packet as its settings; drop it.
    (p as unknown as { settings: object }).settings = {};
  }
  return packet;
}
