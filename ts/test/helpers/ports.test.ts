import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { freePort } from './ports.ts';

describe('freePort', () => {
  it('hands out bindable ports below the ephemeral range, which outgoing connections never take', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const ports = await Promise.all(Array.from({ length: 20 }, freePort));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low as number);
      const s = createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((r) => s.close(r));
    }
  });

  it('skips a candidate that is already bound and draws again', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const held = createServer();
    const port = await freePort();
    await new Promise<void>((r) => held.listen(port, '127.0.0.1', r));
    // The first draw lands on the held port; the second is whatever it is.
    const random = Math.random;
    const spy = vi
      .spyOn(Math, 'random')
      .mockImplementationOnce(() => (port - 10_000 + 0.5) / ((low as number) - 10_000))
      .mockImplementation(random);
    try {
      const next = await freePort();
      expect(spy).toHaveBeenCalledTimes(2);
      expect(next).not.toBe(port);
    } finally {
      spy.mockRestore();
      await new Promise((r) => held.close(r));
    }
  });
});
