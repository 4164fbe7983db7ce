/**
 * The pluggable authentication hook (`mqtt.auth_module`): an ES module that
 * FerryMQ imports at start. It may export
 *
 * - `authenticate(info)`: called for every CONNECT (all versions) with the
 *   client id, user name and password; returns a reason code, 0 to accept
 *   (3.1.1 clients get the closest CONNACK return code);
 * - `methods` and `exchange(step)`: MQTT 5 enhanced authentication (§4.12):
 *   for a CONNECT whose Authentication Method is in `methods`, FerryMQ calls
 *   `exchange` with the client's Authentication Data, sends AUTH 0x18 with
 *   the data it returns until it says `done`, then CONNACK (or the refusal).
 *   The same exchange runs for re-authentication (AUTH 0x19).
 *
 * A hook that throws or rejects refuses the connection with 0x80 and is
 * logged; it never reaches the event loop as an unhandled error. Without a
 * module, every client is accepted and enhanced authentication is refused
 * with 0x8C (Bad authentication method).
 */
import { pathToFileURL } from 'node:url';
import { FerryError } from '../errors.ts';

export interface ConnectInfo {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  protocolVersion: 3 | 4 | 5;
  remote: string;
}

export interface AuthStep {
  method: string;
  clientId: string;
  /** Authentication Data from the client's CONNECT or AUTH. */
  data: Buffer | undefined;
  /** 0 for CONNECT (or the AUTH 0x19 that starts a re-authentication), then 1, 2, ... */
  step: number;
  /** Scratch space kept for the whole exchange (nonces, state machines). */
  state: Record<string, unknown>;
}

export type AuthResult = { done: true; reasonCode?: number; data?: Buffer } | { done: false; data: Buffer };

export interface MqttAuthHook {
  authenticate?(info: ConnectInfo): number | Promise<number>;
  methods?: readonly string[];
  exchange?(step: AuthStep): AuthResult | Promise<AuthResult>;
}

/** Import the hook module named by `mqtt.auth_module` (empty: no hook). */
export async function loadAuthHook(path: string): Promise<MqttAuthHook | undefined> {
  if (path === '') return undefined;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new FerryError(
      'FERRY_ERR_CONFIG_READ',
      `cannot load mqtt.auth_module ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const hook = (mod.default ?? mod) as MqttAuthHook;
  if (typeof hook.authenticate !== 'function' && typeof hook.exchange !== 'function') {
    throw new FerryError(
      'FERRY_ERR_CONFIG_INVALID',
      `invalid config: mqtt.auth_module ${path} exports neither authenticate() nor exchange()`,
    );
  }
  return hook;
}
