/**
 * Writes to plain TCP client sockets handed straight to the socket's libuv
 * handle, instead of through the Writable stream.
 *
 * `socket.write(buf)` walks the Writable machinery for every write
 * (state checks, the corked-buffer logic, a write request wrapper, an
 * after-write tick) before libuv tries the write(2). The broker already
 * batches what an event wrote into one buffer or one vector per socket
 * (Connection.flush), so none of that is needed: this creates the same
 * write request Node creates (`WriteWrap` from the `stream_wrap` binding)
 * and calls the handle's `writeBuffer` / `writev`, which write at once and
 * queue in libuv only what the kernel did not take. libuv keeps one write
 * queue per handle, so writes made here, through the stream and the FIN of
 * `socket.end()` leave in the order they were made.
 *
 * Those are Node internals, reached through `process.binding`: if a Node
 * version lacks any of them, `directWriter` returns undefined and the
 * socket is written through the stream as before.
 *
 * Backpressure is libuv's queue (`handle.writeQueueSize`): a write that
 * leaves more than the socket's high-water mark queued answers false, and
 * the writer calls `onDrained` once the queue is empty again. A failed
 * write destroys the socket with the error, as the stream would.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteReq {
  handle: StreamHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  buffer: Buffer | Buffer[] | null;
  drained: (socket: Socket) => void;
  socket: Socket;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
  writev(req: WriteReq, chunks: Buffer[], allBuffers: boolean): number;
  readonly writeQueueSize: number;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

function lookUpBinding(): StreamWrapBinding | undefined {
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding(
      'stream_wrap',
    );
    if (typeof b.WriteWrap !== 'function') return undefined;
    if (!(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== 'number')
      return undefined;
    return b as StreamWrapBinding;
  } catch {
    return undefined;
  }
}

let binding: StreamWrapBinding | null | undefined;

/** A failed write, with the system error's name (EPIPE, ECONNRESET ...) as its code. */
export class SocketWriteError extends Error {
  readonly code: string;
  constructor(status: number) {
    const name = getSystemErrorName(status);
    super(`write ${name}`);
    this.name = 'SocketWriteError';
    this.code = name;
  }
}

/** libuv's UV_ECANCELED: the handle was closed with the write still queued; the close is reported elsewhere. */
const UV_ECANCELED = -125;

function onWriteComplete(this: WriteReq, status: number): void {
  const socket = this.socket;
  this.buffer = null;
  if (status < 0) {
    if (status !== UV_ECANCELED && !socket.destroyed) socket.destroy(new SocketWriteError(status));
    return;
  }
  if (this.handle.writeQueueSize === 0 && !socket.destroyed) this.drained(socket);
}

export class DirectWriter {
  readonly #socket: Socket;
  readonly #handle: StreamHandle;
  readonly #binding: StreamWrapBinding;
  readonly #drained: (socket: Socket) => void;

  constructor(socket: Socket, handle: StreamHandle, b: StreamWrapBinding, drained: (socket: Socket) => void) {
    this.#socket = socket;
    this.#handle = handle;
    this.#binding = b;
    this.#drained = drained;
  }

  /** Bytes written but still in libuv's queue (the kernel's send buffer was full). */
  get queuedBytes(): number {
    return this.#handle.writeQueueSize;
  }

  /**
   * Write one buffer, or several in one writev(2). False when the socket
   * is gone (the bytes are dropped, as a write to a destroyed stream is)
   * or when more than the high-water mark is left queued: stop producing
   * until `drained` is called.
   */
  write(data: Buffer | Buffer[]): boolean {
    const socket = this.#socket;
    // The handle is detached when the socket is destroyed; writing to it then would be a use after close.
    if (socket.destroyed || (socket as unknown as { _handle: unknown })._handle !== this.#handle)
      return false;
    const req = new this.#binding.WriteWrap();
    req.handle = this.#handle;
    req.oncomplete = onWriteComplete;
    req.socket = socket;
    req.drained = this.#drained;
    req.buffer = null;
    const err = Array.isArray(data)
      ? this.#handle.writev(req, data, true)
      : this.#handle.writeBuffer(req, data);
    if (err !== 0) {
      socket.destroy(new SocketWriteError(err));
      return false;
    }
    if (this.#binding.streamBaseState[this.#binding.kLastWriteWasAsync] !== 0) {
      // libuv still holds part of the data: keep it alive until oncomplete.
      req.buffer = data;
      return this.#handle.writeQueueSize < socket.writableHighWaterMark;
    }
    return true;
  }
}

/**
 * A direct writer for an accepted plain TCP socket, or undefined where
 * this Node lacks the internals (the socket is then written as a stream).
 * `drained` is called, with the socket, when a queue that made `write`
 * answer false (or any queue) has been written out.
 */
export function directWriter(socket: Socket, drained: (socket: Socket) => void): DirectWriter | undefined {
  if (binding === undefined) binding = lookUpBinding() ?? null;
  if (binding === null) return undefined;
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (!handle || typeof handle.writeBuffer !== 'function' || typeof handle.writev !== 'function')
    return undefined;
  if (typeof handle.writeQueueSize !== 'number') return undefined;
  return new DirectWriter(socket, handle as StreamHandle, binding, drained);
}
