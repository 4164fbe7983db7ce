import type { IAuthPacket, IDisconnectPacket } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';
import type { Session } from '../session.ts';

export function handlePingreq(conn: Connection): void {
  // [MQTT-3.12.4-1]
  conn.writePacket({ cmd: 'pingresp' });
}

export function handleDisconnect(conn: Connection, session: Session, packet: IDisconnectPacket): void {
  const expiry = packet.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    // [MQTT-3.14.2-2]: a session that was to end at disconnect cannot be extended here.
    if (session.expiryS === 0 && expiry !== 0) {
      conn.protocolError(Reason.ProtocolError, 'session expiry set on DISCONNECT after 0 on CONNECT');
      return;
    }
    session.expiryS = Math.min(expiry, conn.deps.config.session_expiry_s_max);
  }
  // [MQTT-3.14.4-3]: a normal DISCONNECT discards the will; reason 0x04 asks for it.
  conn.cleanClose = packet.reasonCode !== Reason.DisconnectWithWill;
  conn.close('client-disconnect');
}

export function handleAuth(conn: Connection, _packet: IAuthPacket): void {
  // No authentication method was negotiated in CONNECT (enhanced auth is not
  // offered), so any AUTH is a protocol error [MQTT-4.12.0-1 / 3.15.0].
  conn.protocolError(Reason.ProtocolError, 'AUTH without an authentication method');
}
