/**
 * Reads of plain TCP client sockets into one buffer shared by every
 * connection of the process, instead of a fresh buffer per read.
 *
 * By default Node allocates a 64 KiB buffer for each read, shrinks it to
 * what arrived, wraps it in an ArrayBuffer and a Buffer and pushes it
 * through the Readable stream to a 'data' listener. Node's `onread`
 * socket option (nodejs/node#25436) skips all of that: libuv reads into a
 * buffer the caller owns and a callback gets the byte count. `net.Server`
 * does not offer that option for the sockets it accepts, so this sets on
 * an accepted socket the same two fields `new net.Socket({ onread })`
 * sets, and tells its handle to use the buffer. Measured at 5,000
 * messages/s (fan-in, QoS 0): broker CPU per message −12%, p50 and p99
 * lower (ARCHITECTURE.md, "Shared read buffer").
 *
 * Those fields are Node internals: if a Node version does not have them,
 * `readIntoShared` returns false and the socket keeps its 'data' events.
 *
 * The contract for the callback: the bytes are valid only until it
 * returns (the next read of any socket overwrites them), so everything
 * kept past that must be copied (Connection.frame does it per frame).
 */
import { Socket } from 'node:net';

/** Largest read: what libuv suggests per read anyway. */
const SHARED_READ_BYTES = 65_536;

let shared: Buffer | undefined;

type OnreadSocket = Socket & {
  _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null;
  encrypted?: boolean;
};

/** The symbols of `net.Socket`'s onread fields, looked up once; undefined if this Node has none. */
let fields: { buffer: symbol; callback: symbol } | null | undefined;

function onreadFields(socket: Socket): { buffer: symbol; callback: symbol } | null {
  if (fields !== undefined) return fields;
  const own = Object.getOwnPropertySymbols(socket);
  const buffer = own.find((s) => s.description === 'kBuffer');
  const callback = own.find((s) => s.description === 'kBufferCb');
  fields = buffer && callback ? { buffer, callback } : null;
  return fields;
}

/**
 * Called with the socket as `this` and the bytes read, `buf[0, n)`; a
 * shared function rather than a closure per connection. Returning false
 * pauses the socket (as `onread`'s callback does).
 */
export type SharedReadCallback = (this: Socket, n: number, buf: Buffer) => boolean;

/** Whether `buf` is (a view of) the shared read buffer, whose bytes the next read overwrites. */
export function isSharedReadBuffer(buf: Buffer): boolean {
  return shared !== undefined && buf.buffer === shared.buffer;
}

/**
 * Switch `socket`'s reads to the shared buffer. Only for a plain TCP
 * socket that has not read yet (call it in the 'connection' handler);
 * false when it cannot be done, and the socket then still emits 'data'.
 */
export function readIntoShared(socket: Socket, onRead: SharedReadCallback): boolean {
  const s = socket as OnreadSocket;
  if (!(s instanceof Socket) || s.encrypted === true) return false;
  const handle = s._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function') return false;
  const f = onreadFields(s);
  if (f === null) return false;
  // Node's own guard: these are null unless the socket was made with `onread`.
  const fieldsOf = s as unknown as Record<symbol, unknown>;
  if (fieldsOf[f.buffer] !== null || fieldsOf[f.callback] !== null) return false;
  // Its own ArrayBuffer (never a slice of the pool), so isSharedReadBuffer is exact.
  shared ??= Buffer.allocUnsafeSlow(SHARED_READ_BYTES);
  fieldsOf[f.buffer] = shared;
  fieldsOf[f.callback] = onRead;
  handle.useUserBuffer(shared);
  return true;
}
