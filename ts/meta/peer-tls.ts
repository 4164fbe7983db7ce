/**
 * Mutual TLS between meta nodes (`meta.tls_cert_file`, `meta.tls_key_file`,
 * `meta.tls_ca_file`: all three or none, checked by the config loader).
 *
 * Server side: our own `tls.Server` terminates TLS, requiring a client
 * certificate that chains to the CA (`requestCert` + `rejectUnauthorized`,
 * what grpc-js's `checkClientCertificate: true` does), and hands the
 * decrypted socket to grpc-js. Terminating here rather than inside grpc-js
 * is what lets a refused handshake be logged and counted: grpc-js keeps its
 * TLS server private and drops those errors. Nagle is off on the accepted
 * sockets, as on the plain listener (see grpc-transport.ts).
 *
 * Client side: grpc-js's TLS credentials with our certificate and the CA as
 * the only root, so a peer's server certificate must chain to the CA and
 * name the host of the peer's cluster address (subjectAltName), as any TLS
 * client checks. A certificate proves membership of the cluster's PKI, not a
 * node id: the id a peer claims is still checked against the member list.
 */
import { readFile } from 'node:fs/promises';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { FerryError } from '../errors.ts';

export interface PeerTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface PeerTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** Reads the three PEM files; none set means plaintext (undefined). */
export async function loadPeerTls(files: PeerTlsFiles): Promise<PeerTls | undefined> {
  const { certFile, keyFile, caFile } = files;
  if (certFile === '' && keyFile === '' && caFile === '') return undefined;
  const read = async (key: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new FerryError(
        'FERRY_ERR_CONFIG_READ',
        `cannot read ${key} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { cause: err },
      );
    }
  };
  return {
    cert: await read('meta.tls_cert_file', certFile),
    key: await read('meta.tls_key_file', keyFile),
    ca: await read('meta.tls_ca_file', caFile),
  };
}

export function clientCredentials(tls: PeerTls | undefined): grpc.ChannelCredentials {
  return tls ? grpc.credentials.createSsl(tls.ca, tls.key, tls.cert) : grpc.credentials.createInsecure();
}

/** How often one remote address's refused handshakes are logged (each is counted). */
const REFUSAL_LOG_MS = 10_000;
const REFUSAL_LOG_KEYS_MAX = 1024;

/**
 * The cluster listener: plain TCP, or TLS requiring a client certificate
 * from the CA. `onRefused` sees every failed handshake; `shouldLog` is true
 * at most once per remote address per 10 s, so a misconfigured peer
 * retrying cannot flood the log.
 */
export function createPeerListener(
  tls: PeerTls | undefined,
  onSocket: (socket: Socket | TLSSocket) => void,
  onRefused: (err: Error, remote: string, shouldLog: boolean) => void,
): Server {
  if (!tls) return createNetServer({ noDelay: true }, onSocket);
  const server = createTlsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
      noDelay: true,
    },
    onSocket,
  );
  const lastLogged = new Map<string, number>();
  server.on('tlsClientError', (err, socket) => {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const host = socket.remoteAddress ?? '?';
    const now = performance.now();
    const last = lastLogged.get(host);
    const shouldLog = last === undefined || now - last >= REFUSAL_LOG_MS;
    if (shouldLog) {
      if (lastLogged.size >= REFUSAL_LOG_KEYS_MAX) lastLogged.clear();
      lastLogged.set(host, now);
    }
    onRefused(err, remote, shouldLog);
  });
  return server;
}
