import type { IAuthPacket, IDisconnectPacket } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';
import type { Session } from '../session.ts';
import { runExchange } from './connect.ts';

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

/**
 * AUTH after CONNACK: re-authentication (§4.12.1) with the method used at
 * CONNECT. Anything else (no method negotiated, another method, a reason
 * other than 0x19 Re-authenticate) is a protocol error [MQTT-4.12.0-?].
 */
export function handleAuth(conn: Connection, packet: IAuthPacket): void {
  const hook = conn.deps.auth;
  const method = conn.authMethod;
  if (!hook || method === undefined || packet.properties?.authenticationMethod !== method) {
    conn.protocolError(Reason.ProtocolError, 'AUTH without the negotiated authentication method');
    return;
  }
  if (packet.reasonCode !== Reason.ReAuthenticate) {
    conn.protocolError(Reason.ProtocolError, 'AUTH must start a re-authentication (0x19)');
    return;
  }
  runExchange(conn, hook, method, packet.properties?.authenticationData).then(
    (r) => {
      if (r.reasonCode !== Reason.Success) {
        conn.disconnect(r.reasonCode, 're-authentication refused');
        return;
      }
      const props: NonNullable<IAuthPacket['properties']> = { authenticationMethod: method };
      if (r.data) props.authenticationData = r.data;
      conn.writePacket({ cmd: 'auth', reasonCode: Reason.Success, properties: props });
    },
    (err: unknown) => {
      conn.deps.logger.error({ err, client_id: conn.clientId }, 'auth hook failed during re-authentication');
      conn.disconnect(Reason.UnspecifiedError, 'auth hook failed');
    },
  );
}
