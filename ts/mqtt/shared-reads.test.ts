import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isSharedReadBuffer, readIntoShared } from './shared-reads.ts';

/** A server on 127.0.0.1 whose accepted sockets read into the shared buffer, and clients of it. */
async function pair(count: number): Promise<{ server: Server; accepted: Socket[]; clients: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => accepted.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const clients: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const c = connect(port, '127.0.0.1');
    await once(c, 'connect');
    clients.push(c);
  }
  while (accepted.length < count) await new Promise((r) => setTimeout(r, 5));
  return { server, accepted, clients };
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

function track(p: { server: Server; accepted: Socket[]; clients: Socket[] }): void {
  cleanup.push(() => {
    for (const s of [...p.accepted, ...p.clients]) s.destroy();
    p.server.close();
  });
}

describe('readIntoShared', () => {
  it('delivers every byte through the callback, into one buffer for all sockets, and no data events', async () => {
    const p = await pair(2);
    track(p);
    const got: Buffer[][] = [[], []];
    const arrays = new Set<ArrayBufferLike>();
    let dataEvents = 0;
    p.accepted.forEach((s, i) => {
      s.on('data', () => dataEvents++);
      const ok = readIntoShared(s, function (this: Socket, n, buf) {
        expect(this).toBe(s);
        arrays.add(buf.buffer);
        expect(isSharedReadBuffer(buf)).toBe(true);
        // Valid only now: keep a copy, as Connection.frame does.
        (got[i] as Buffer[]).push(Buffer.from(buf.subarray(0, n)));
        return true;
      });
      expect(ok).toBe(true);
    });
    const sent = [Buffer.alloc(200_000), Buffer.alloc(150_000)];
    sent.forEach((b, i) => {
      for (let k = 0; k < b.length; k++) b[k] = (k * 7 + i * 13) & 0xff;
      p.clients[i]?.write(b);
    });
    const total = (i: number) => (got[i] as Buffer[]).reduce((n, b) => n + b.length, 0);
    while (total(0) < 200_000 || total(1) < 150_000) await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.concat(got[0] as Buffer[]).equals(sent[0] as Buffer)).toBe(true);
    expect(Buffer.concat(got[1] as Buffer[]).equals(sent[1] as Buffer)).toBe(true);
    expect(arrays.size).toBe(1);
    expect(dataEvents).toBe(0);
    expect(isSharedReadBuffer(Buffer.alloc(10))).toBe(false);
  });

  it('pause() stops the callback and resume() restarts it; end and close still come', async () => {
    const p = await pair(1);
    track(p);
    const s = p.accepted[0] as Socket;
    let bytes = 0;
    readIntoShared(s, (n) => {
      bytes += n;
      return true;
    });
    s.pause();
    p.clients[0]?.write(Buffer.alloc(1000));
    await new Promise((r) => setTimeout(r, 100));
    expect(bytes).toBe(0);
    s.resume();
    while (bytes < 1000) await new Promise((r) => setTimeout(r, 5));
    const ended = once(s, 'end');
    const closed = once(s, 'close');
    p.clients[0]?.end();
    await ended;
    s.end();
    await closed;
    expect(bytes).toBe(1000);
  });

  it('leaves streams that are not plain TCP sockets alone', () => {
    expect(readIntoShared(new PassThrough() as unknown as Socket, () => true)).toBe(false);
  });

  it('refuses a socket already reading into a buffer of its own (onread)', async () => {
    const p = await pair(1);
    track(p);
    const s = p.accepted[0] as Socket;
    expect(readIntoShared(s, () => true)).toBe(true);
    expect(readIntoShared(s, () => true)).toBe(false);
  });
});
