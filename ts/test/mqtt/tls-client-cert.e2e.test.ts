/**
 * TLS client certificates (MQTT 5.0 §5.4.5, 3.1.1 §5.4.5: the server may
 * authenticate clients by their TLS certificate). `tls.client_cert =
 * "require"`: no certificate, or one from an unknown CA, ends the handshake.
 * `"request"`: a client may send none, but one it sends must chain to
 * `tls.ca_file`. Checked over TLS and WSS with mqtt.js and mosquitto_pub.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mosquittoPub } from '../helpers/cli-clients.ts';
import {
  type Clients,
  type ConnectOptions,
  Inbox,
  MOSQUITTO,
  type Target,
  useTarget,
  utopic,
} from '../helpers/mqtt-target.ts';
import { generate, type TestPki } from '../helpers/tls.ts';

let stranger: TestPki;
beforeAll(async () => {
  stranger = await generate();
});

const withCert = (t: Target, transport: 'tls' | 'wss'): ConnectOptions => ({
  transport,
  cert: readFileSync(t.clientCert),
  key: readFileSync(t.clientKey),
});
const withStrangerCert = (transport: 'tls' | 'wss'): ConnectOptions => ({
  transport,
  cert: readFileSync(stranger.clientCert),
  key: readFileSync(stranger.clientKey),
});

async function refused(clients: Clients, o: ConnectOptions): Promise<void> {
  await expect(clients.connect(o)).rejects.toThrow();
}

async function roundTrip(clients: Clients, o: ConnectOptions): Promise<void> {
  const topic = utopic('cert');
  const c = await clients.connect(o);
  const inbox = new Inbox(c);
  await c.subscribeAsync(topic, { qos: 1 });
  await c.publishAsync(topic, 'ok', { qos: 1 });
  await inbox.waitFor(1);
}

describe('tls.client_cert = require', () => {
  const { target, clients } = useTarget({ clientCert: 'require' });

  for (const transport of ['tls', 'wss'] as const) {
    it(`${transport}: a certificate signed by tls.ca_file is accepted`, async () => {
      await roundTrip(clients, withCert(target(), transport));
    });
    it(`${transport}: no client certificate ends the handshake before CONNECT`, async () => {
      await refused(clients, { transport });
    });
    it(`${transport}: a certificate from another CA is refused`, async () => {
      await refused(clients, withStrangerCert(transport));
    });
  }

  it('mosquitto_pub without --cert is refused; with --cert it publishes', async () => {
    const topic = utopic('cli');
    const sub = await clients.connect(withCert(target(), 'tls'));
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    const bare = await mosquittoPub(target(), topic, 'no-cert', { transport: 'tls' });
    expect(bare.code).not.toBe(0);
    const good = await mosquittoPub(target(), topic, 'cert', { transport: 'tls', cert: true, qos: 1 });
    expect(good.code, good.stderr).toBe(0);
    expect((await inbox.waitFor(1)).map((m) => m.payload)).toEqual(['cert']);
  });
});

// Mosquitto has no "request" mode (require_certificate is true or false).
describe.skipIf(MOSQUITTO)('tls.client_cert = request', () => {
  const { target, clients } = useTarget({ clientCert: 'request' });

  for (const transport of ['tls', 'wss'] as const) {
    it(`${transport}: a client without a certificate is accepted`, async () => {
      await roundTrip(clients, { transport });
    });
    it(`${transport}: a certificate signed by tls.ca_file is accepted`, async () => {
      await roundTrip(clients, withCert(target(), transport));
    });
    it(`${transport}: a certificate that does not verify is refused, not ignored`, async () => {
      await refused(clients, withStrangerCert(transport));
    });
  }
});
