/**
 * The one dispatcher: each packet type goes to its own small module. Before
 * CONNECT only CONNECT is allowed [MQTT-3.1.0-1]; after it, a second CONNECT
 * is a protocol violation [MQTT-3.1.0-2]; packets only a server sends are
 * protocol errors from a client.
 */
import type { Packet } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';
import { handleConnect } from './connect.ts';
import { handleAuth, handleDisconnect, handlePingreq } from './control.ts';
import { handlePuback, handlePubcomp, handlePublish, handlePubrec, handlePubrel } from './publish.ts';
import { handleSubscribe, handleUnsubscribe } from './subscribe.ts';

export function handlePacket(conn: Connection, packet: Packet): void {
  if (conn.state.kind === 'awaiting-connect') {
    if (packet.cmd !== 'connect') {
      // [MQTT-3.1.0-1]: the first packet must be CONNECT; otherwise close without CONNACK.
      conn.close('first-packet-not-connect');
      return;
    }
    handleConnect(conn, packet);
    return;
  }
  const session = conn.session;
  if (!session) return;
  switch (packet.cmd) {
    case 'publish':
      handlePublish(conn, session, packet);
      return;
    case 'puback':
      handlePuback(conn, session, packet);
      return;
    case 'pubrec':
      handlePubrec(conn, session, packet);
      return;
    case 'pubrel':
      handlePubrel(conn, session, packet);
      return;
    case 'pubcomp':
      handlePubcomp(conn, session, packet);
      return;
    case 'subscribe':
      handleSubscribe(conn, session, packet);
      return;
    case 'unsubscribe':
      handleUnsubscribe(conn, session, packet);
      return;
    case 'pingreq':
      handlePingreq(conn);
      return;
    case 'disconnect':
      handleDisconnect(conn, session, packet);
      return;
    case 'auth':
      handleAuth(conn, packet);
      return;
    case 'connect':
      // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
      conn.protocolError(Reason.ProtocolError, 'second CONNECT');
      return;
    default:
      conn.protocolError(Reason.ProtocolError, `unexpected ${packet.cmd} from a client`);
      return;
  }
}
