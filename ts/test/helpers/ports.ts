/**
 * A free TCP port on 127.0.0.1, for tests, benches and peer scripts that
 * must name a port before the process that binds it starts (cluster members
 * list each other's addresses up front).
 *
 * The port comes from below the kernel's ephemeral range
 * (net.ipv4.ip_local_port_range), which the kernel never hands to an
 * outgoing connection: a port taken with `listen(0)` and released is back in
 * that range, and a busy cluster's next connect could take it as its local
 * port before the broker binds it (CI failed once that way, EADDRINUSE on a
 * fourth node's cluster port). Below the range only an explicit bind can
 * collide, so each candidate is random and checked by binding it. Where
 * that range is too small, falls back to `listen(0)`.
 */
import { readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';

/** Lowest port handed out: clear of the registered ports services on a test machine are likely to hold. */
const LOWEST = 10_000;
const ATTEMPTS = 50;

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 0 ? n : 32_768;
  } catch {
    return 32_768; // not Linux: Linux's default range
  }
}

/** Binds 127.0.0.1:`port` (0 = kernel's choice) and releases it; the port bound, or undefined if it was taken. */
function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const addr = s.address();
      const bound = typeof addr === 'object' && addr ? addr.port : undefined;
      s.close(() => resolve(bound));
    });
  });
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  if (high - LOWEST >= 1_000) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const candidate = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1));
      const port = await tryBind(candidate);
      if (port !== undefined) return port;
    }
  }
  const port = await tryBind(0);
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
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
