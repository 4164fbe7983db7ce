/**
 * Test PKI made with the openssl CLI in a temporary directory: a CA, a
 * server certificate for 127.0.0.1 (SAN IP:127.0.0.1, DNS:localhost) and a
 * client certificate, both signed by the CA. Generated once per process
 * (per test file) and reused.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  dir: string;
  /** CA certificate (PEM). */
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir, timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr ?? err.message}`);
  }
}

/** Key arguments of `openssl req`: RSA for the MQTT PKI, EC P-256 (faster to make) where the test makes many. */
const KEYS = {
  rsa: ['-newkey', 'rsa:2048', '-nodes'],
  ec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
} as const;

export interface TestCa {
  dir: string;
  /** CA certificate and key (paths). */
  ca: string;
  caKey: string;
  /** Issues `<name>.crt` / `<name>.key` signed by this CA, with the given subject and extensions. */
  issue(name: string, subject: string, ext: string): Promise<{ cert: string; key: string }>;
}

/** A new CA in its own temporary directory; certificates it issues may be made concurrently. */
export async function makeCa(commonName: string, key: keyof typeof KEYS = 'rsa'): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'ferrymq-pki-'));
  await openssl(dir, [
    'req',
    '-x509',
    ...KEYS[key],
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-sha256',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    async issue(name, subject, ext) {
      await openssl(dir, [
        'req',
        '-new',
        ...KEYS[key],
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        subject,
      ]);
      await writeFile(join(dir, `${name}.ext`), ext);
      await openssl(dir, [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        // A serial of its own: -CAcreateserial shares ca.srl, which certificates issued at once race on.
        '-set_serial',
        String(randomInt(1, 2 ** 47)),
        '-days',
        '2',
        '-sha256',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ]);
      return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    },
  };
}

/** A new, independent PKI (another CA): for certificates the broker must not trust. */
export async function generate(): Promise<TestPki> {
  const ca = await makeCa('FerryMQ Test CA');
  const server = await ca.issue(
    'server',
    '/CN=localhost',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  const client = await ca.issue(
    'client',
    '/CN=ferrymq-test-client',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  return {
    dir: ca.dir,
    ca: ca.ca,
    caKey: ca.caKey,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
  };
}

let cached: Promise<TestPki> | undefined;

/** The PKI for this process, generated on first use. */
export function testPki(): Promise<TestPki> {
  cached ??= generate();
  return cached;
}
