/**
 * CONNECT → CONNACK (MQTT 3.1, 3.1.1 and 5.0 §3.1–3.2): client identifier
 * rules, session takeover, clean start and session expiry, keep alive,
 * the will, and the limits each side announces.
 */
import { randomBytes } from 'node:crypto';
import type { IAuthPacket, IConnackPacket, IConnectPacket, Packet } from 'mqtt-packet';
import type { AuthResult, MqttAuthHook } from '../auth.ts';
import type { Connection } from '../connection.ts';
import { messageFromPublish } from '../message.ts';
import { connackV3For, Reason } from '../reason-codes.ts';
import { validateTopicName } from '../topic.ts';

const NEVER_EXPIRES = 0xffff_ffff;
/** [MQTT-3.1.3-5] (3.1: 1–23 characters). */
const V31_CLIENT_ID_MAX = 23;

function refuse(conn: Connection, reason: number, why: string): void {
  const connack: IConnackPacket = conn.isV5
    ? { cmd: 'connack', reasonCode: reason, sessionPresent: false }
    : { cmd: 'connack', returnCode: connackV3For(reason), sessionPresent: false };
  conn.writePacket(connack);
  conn.cleanClose = true;
  conn.close(why);
}

export function handleConnect(conn: Connection, packet: IConnectPacket): void {
  conn.protocolVersion = (packet.protocolVersion ?? 4) as 3 | 4 | 5;
  const v5 = conn.isV5;
  const props = packet.properties ?? {};
  const hook = conn.deps.auth;
  const method = v5 ? props.authenticationMethod : undefined;
  if (method !== undefined && !hook?.methods?.includes(method)) {
    // §4.12: an Authentication Method the server does not support gets 0x8C.
    refuse(conn, Reason.BadAuthenticationMethod, 'unsupported authentication method');
    return;
  }

  let clientId = packet.clientId ?? '';
  let assigned = false;
  if (clientId === '') {
    if (conn.protocolVersion === 3 || (!v5 && !packet.clean)) {
      // [MQTT-3.1.3-8]: an empty id with Clean Session 0 is refused (3.1 never allows it).
      refuse(conn, Reason.ClientIdentifierNotValid, 'empty client id');
      return;
    }
    // [MQTT-3.1.3-6/7]: assign a unique id; 5.0 returns it in CONNACK.
    clientId = `ferrymq-${randomBytes(9).toString('base64url')}`;
    assigned = true;
  } else if (conn.protocolVersion === 3 && clientId.length > V31_CLIENT_ID_MAX) {
    refuse(conn, Reason.ClientIdentifierNotValid, 'client id longer than 23 characters (MQTT 3.1)');
    return;
  }
  conn.clientId = clientId;

  const will = packet.will;
  if (will) {
    const check = validateTopicName(will.topic);
    if (!check.ok) {
      refuse(conn, Reason.TopicNameInvalid, `will topic: ${check.reason}`);
      return;
    }
  }
  if (!hook) {
    finishConnect(conn, packet, clientId, assigned, undefined);
    return;
  }
  conn.beginAuthentication();
  authenticateConnect(conn, hook, packet, clientId, method).then(
    (result) => {
      if (conn.state.kind !== 'authenticating') return; // closed meanwhile (timeout, socket gone)
      if (result.reasonCode !== Reason.Success) {
        refuse(conn, result.reasonCode, 'authentication refused');
        return;
      }
      if (method !== undefined) conn.authMethod = method;
      finishConnect(
        conn,
        packet,
        clientId,
        assigned,
        method === undefined ? undefined : { method, data: result.data },
      );
    },
    (err: unknown) => {
      conn.deps.logger.error({ err, client_id: clientId }, 'auth hook failed');
      if (conn.state.kind === 'authenticating') refuse(conn, Reason.UnspecifiedError, 'auth hook failed');
    },
  );
}

/** Wait for the client's next AUTH packet of this exchange (bounded by the CONNECT timeout). */
function nextAuth(conn: Connection): Promise<IAuthPacket> {
  return new Promise((resolve) => {
    conn.authWaiter = (p: Packet) => resolve(p as IAuthPacket);
  });
}

/**
 * Run the enhanced-authentication exchange (§4.12) for `method`: AUTH 0x18
 * back and forth until the hook is done. Used for CONNECT and for
 * re-authentication (AUTH 0x19, handlers/control.ts).
 */
export async function runExchange(
  conn: Connection,
  hook: MqttAuthHook,
  method: string,
  firstData: Buffer | undefined,
): Promise<{ reasonCode: number; data: Buffer | undefined }> {
  if (!hook.exchange) return { reasonCode: Reason.BadAuthenticationMethod, data: undefined };
  const state: Record<string, unknown> = {};
  let data = firstData;
  for (let step = 0; ; step++) {
    const r: AuthResult = await hook.exchange({ method, clientId: conn.clientId, data, step, state });
    if (r.done) return { reasonCode: r.reasonCode ?? Reason.Success, data: r.data };
    conn.writePacket({
      cmd: 'auth',
      reasonCode: Reason.ContinueAuthentication,
      properties: { authenticationMethod: method, authenticationData: r.data },
    });
    const reply = await nextAuth(conn);
    // [MQTT-4.12.0-?]: the client continues with 0x18 and the same method.
    if (
      reply.reasonCode !== Reason.ContinueAuthentication ||
      reply.properties?.authenticationMethod !== method
    ) {
      return { reasonCode: Reason.ProtocolError, data: undefined };
    }
    data = reply.properties?.authenticationData;
  }
}

async function authenticateConnect(
  conn: Connection,
  hook: MqttAuthHook,
  packet: IConnectPacket,
  clientId: string,
  method: string | undefined,
): Promise<{ reasonCode: number; data: Buffer | undefined }> {
  if (hook.authenticate) {
    const rc = await hook.authenticate({
      clientId,
      username: packet.username,
      password: packet.password,
      protocolVersion: conn.protocolVersion,
      remote: conn.remote,
    });
    if (rc !== Reason.Success) return { reasonCode: rc, data: undefined };
  }
  if (method === undefined) return { reasonCode: Reason.Success, data: undefined };
  return runExchange(conn, hook, method, packet.properties?.authenticationData);
}

/** Everything after authentication: takeover, session, keep alive, will, CONNACK. */
function finishConnect(
  conn: Connection,
  packet: IConnectPacket,
  clientId: string,
  assigned: boolean,
  auth: { method: string; data: Buffer | undefined } | undefined,
): void {
  const { broker, config } = conn.deps;
  const v5 = conn.isV5;
  const props = packet.properties ?? {};
  const will = packet.will;

  // Session expiry: 5.0 says it in CONNECT; 3.1.1 clean session 0 keeps the session (capped).
  const cleanStart = packet.clean !== false;
  const requestedExpiry = v5 ? (props.sessionExpiryInterval ?? 0) : cleanStart ? 0 : NEVER_EXPIRES;
  const expiryS = Math.min(requestedExpiry, config.session_expiry_s_max);

  // [MQTT-3.1.4-3]: an existing connection with this client id is taken over.
  const existing = broker.sessions.get(clientId);
  const previous = existing?.link;
  if (previous && previous !== conn) {
    const old = previous as unknown as Connection;
    old.disconnect(Reason.SessionTakenOver, 'session-taken-over');
  }
  if (existing && cleanStart) broker.endSession(existing);
  const { session, present } = broker.session(clientId, conn.protocolVersion, expiryS);
  // A will waiting out its delay is cancelled by the client coming back [MQTT-3.1.3-9].
  broker.cancelDelayedWill(clientId);

  // Keep alive, possibly lowered by the server (5.0 Server Keep Alive).
  let keepalive = packet.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (keepalive === 0 || keepalive > config.keepalive_s_max) {
    if (v5) {
      serverKeepAlive = config.keepalive_s_max;
      keepalive = serverKeepAlive;
    } else if (keepalive > config.keepalive_s_max) {
      keepalive = config.keepalive_s_max;
    }
  }

  if (v5) {
    if (props.receiveMaximum !== undefined) conn.receiveMaximum = props.receiveMaximum;
    if (props.maximumPacketSize !== undefined) conn.clientPacketBytesMax = props.maximumPacketSize;
    conn.clientTopicAliasMax = props.topicAliasMaximum ?? 0;
  }
  if (will) {
    const message = messageFromPublish(
      {
        cmd: 'publish',
        topic: will.topic,
        payload: will.payload,
        qos: will.qos ?? 0,
        retain: will.retain ?? false,
        dup: false,
        properties: will.properties,
      },
      clientId,
      Date.now(),
    );
    conn.will = { message, delayS: will.properties?.willDelayInterval ?? 0 };
  }

  const connack: IConnackPacket = v5
    ? { cmd: 'connack', reasonCode: Reason.Success, sessionPresent: present }
    : { cmd: 'connack', returnCode: 0, sessionPresent: conn.protocolVersion === 4 ? present : false };
  if (v5) {
    connack.properties = {
      receiveMaximum: config.receive_max,
      maximumPacketSize: config.packet_bytes_max,
      topicAliasMaximum: config.topic_alias_max,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (expiryS !== requestedExpiry) connack.properties.sessionExpiryInterval = expiryS;
    if (assigned) connack.properties.assignedClientIdentifier = clientId;
    if (serverKeepAlive !== undefined) connack.properties.serverKeepAlive = serverKeepAlive;
    if (auth) {
      connack.properties.authenticationMethod = auth.method;
      if (auth.data) connack.properties.authenticationData = auth.data;
    }
  }
  conn.writePacket(connack);
  const held = conn.bind(session, keepalive);
  session.link = conn;
  // [MQTT-4.4.0-1]: resend unacknowledged messages of a resumed session, DUP set.
  session.resume(Date.now());
  conn.replay(held);
}
