import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { directWriter, SocketWriteError } from './direct-writes.ts';

/** One accepted socket on 127.0.0.1 and its client. */
async function pair(): Promise<{ server: Server; accepted: Socket; client: Socket }> {
  let accepted: Socket | undefined;
  const server = createServer((s) => {
    accepted = s;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  while (accepted === undefined) await new Promise((r) => setTimeout(r, 5));
  cleanup.push(() => {
    accepted?.destroy();
    client.destroy();
    server.close();
  });
  return { server, accepted, client };
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** Everything the client reads until the server's FIN. */
function readAll(client: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  client.on('data', (d) => parts.push(d));
  return new Promise((resolve, reject) => {
    client.on('end', () => resolve(Buffer.concat(parts)));
    client.on('error', reject);
  });
}

describe('directWriter', () => {
  it('keeps the order of direct writes, vectors, stream writes and the FIN of end()', async () => {
    const { accepted, client } = await pair();
    const w = directWriter(accepted, () => {});
    expect(w).toBeDefined();
    const all = readAll(client);
    expect(w?.write(Buffer.from('one,'))).toBe(true);
    expect(w?.write([Buffer.from('two,'), Buffer.from('three,')])).toBe(true);
    accepted.write('four,');
    expect(w?.write(Buffer.from('five'))).toBe(true);
    accepted.end();
    expect((await all).toString()).toBe('one,two,three,four,five');
  });

  it('answers false past the high-water mark while the peer does not read, then calls drained and loses nothing', async () => {
    const { accepted, client } = await pair();
    client.pause();
    let drained = 0;
    const w = directWriter(accepted, (s) => {
      expect(s).toBe(accepted);
      drained++;
    });
    const chunk = Buffer.alloc(64 * 1024);
    let sent = 0;
    let ok = true;
    // The kernel's buffers take a few MiB at most; the queue must report backpressure before 64 MiB.
    for (let i = 0; ok && i < 1024; i++) {
      chunk.fill(i & 0xff);
      ok = w?.write(Buffer.from(chunk)) ?? false;
      sent += chunk.length;
    }
    expect(ok).toBe(false);
    expect(w?.queuedBytes).toBeGreaterThan(0);
    expect(drained).toBe(0);
    let received = 0;
    let corrupt = false;
    client.on('data', (d: Buffer) => {
      // Every 64 KiB block is filled with its own index.
      for (let k = 0; k < d.length; k += 4096) {
        const at = received + k;
        if (d[k] !== (Math.floor(at / chunk.length) & 0xff)) corrupt = true;
      }
      received += d.length;
    });
    client.resume();
    while (drained === 0) await new Promise((r) => setTimeout(r, 5));
    expect(w?.queuedBytes).toBe(0);
    while (received < sent) await new Promise((r) => setTimeout(r, 5));
    expect(received).toBe(sent);
    expect(corrupt).toBe(false);
  });

  it('drops writes to a destroyed socket without throwing', async () => {
    const { accepted } = await pair();
    const w = directWriter(accepted, () => {});
    accepted.destroy();
    expect(w?.write(Buffer.from('late'))).toBe(false);
    expect(w?.write([Buffer.from('a'), Buffer.from('b')])).toBe(false);
  });

  it('destroys the socket with a SocketWriteError when the peer is gone', async () => {
    const { accepted, client } = await pair();
    const w = directWriter(accepted, () => {});
    const failed = once(accepted, 'error');
    // RST from the peer: the next writes fail with EPIPE or ECONNRESET.
    client.resetAndDestroy();
    await once(client, 'close');
    for (let i = 0; i < 100 && !accepted.destroyed; i++) {
      w?.write(Buffer.alloc(1024));
      await new Promise((r) => setTimeout(r, 5));
    }
    const [err] = await failed;
    expect(err).toBeInstanceOf(SocketWriteError);
    expect(['EPIPE', 'ECONNRESET']).toContain((err as SocketWriteError).code);
    expect(accepted.destroyed).toBe(true);
  });
});
