/**
 * A free TCP port on 127.0.0.1, for tests and benches that must name a port
 * before the process that binds it starts (cluster members list each
 * other's addresses up front). The port is released before it is returned,
 * so another process could take it in between; on loopback in a test run
 * that race has not been seen, and port 0 is used wherever the address can
 * be read back instead.
 */
import { createServer, connect as tcpConnect } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts a connection; rejects if `alive()` turns false or after `timeoutMs`. */
export async function waitForPort(port: number, alive: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('exited while starting');
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}
