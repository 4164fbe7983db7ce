/**
 * A free TCP port on 127.0.0.1, for tests and benches that must name a port
 * before the process that binds it starts (cluster members list each
 * other's addresses up front). The port is released before it is returned,
 * so another process could take it in between; on loopback in a test run
 * that race has not been seen, and port 0 is used wherever the address can
 * be read back instead.
 */
import { createServer } from 'node:net';

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
