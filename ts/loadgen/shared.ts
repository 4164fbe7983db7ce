/**
 * What the main thread and the load workers share: counters in a
 * SharedArrayBuffer (one slot group per worker, written only by that
 * worker, read by the main thread for the progress line and the measured
 * window: nothing is messaged on the hot path), the phase the main thread
 * sets, and the messages they exchange.
 */

export const C_SENT = 0;
export const C_RECEIVED = 1;
export const C_ACKED = 2;
export const C_ERRORS = 3;
export const C_CONNECTED = 4;
export const C_SENT_BYTES = 5;
export const C_RECEIVED_BYTES = 6;
export const SLOTS = 8;

export const PHASE_WARMUP = 0;
export const PHASE_MEASURE = 1;
export const PHASE_STOP = 2;
/** The phase buffer: Int32 phase at byte 0; BigInt64 at byte 8, messages written off as lost by a stalled window. */
export const PHASE_BYTES = 16;

export interface Totals {
  sent: number;
  received: number;
  acked: number;
  errors: number;
  connected: number;
  sentBytes: number;
  receivedBytes: number;
}

export function totals(ctr: Float64Array, workers: number): Totals {
  const t: Totals = {
    sent: 0,
    received: 0,
    acked: 0,
    errors: 0,
    connected: 0,
    sentBytes: 0,
    receivedBytes: 0,
  };
  for (let w = 0; w < workers; w++) {
    const b = w * SLOTS;
    t.sent += ctr[b + C_SENT] as number;
    t.received += ctr[b + C_RECEIVED] as number;
    t.acked += ctr[b + C_ACKED] as number;
    t.errors += ctr[b + C_ERRORS] as number;
    t.connected += ctr[b + C_CONNECTED] as number;
    t.sentBytes += ctr[b + C_SENT_BYTES] as number;
    t.receivedBytes += ctr[b + C_RECEIVED_BYTES] as number;
  }
  return t;
}

export function diff(a: Totals, b: Totals): Totals {
  return {
    sent: b.sent - a.sent,
    received: b.received - a.received,
    acked: b.acked - a.acked,
    errors: b.errors - a.errors,
    connected: b.connected,
    sentBytes: b.sentBytes - a.sentBytes,
    receivedBytes: b.receivedBytes - a.receivedBytes,
  };
}

/** Data every worker starts with; `options` is the protocol's options object. */
export interface WorkerData<O> {
  index: number;
  options: O;
  counters: SharedArrayBuffer;
  phase: SharedArrayBuffer;
  /** Global client numbers this worker plays, per role. */
  roles: Record<string, number[]>;
  /** How much of the total rate this worker sends (its share of the senders). */
  rateShare: number;
}

/** Main → worker. */
export type ToWorker = { type: 'prepare' } | { type: 'connect' } | { type: 'start' } | { type: 'close' };

/** Worker → main. */
export type FromWorker =
  | { type: 'prepared' }
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | { type: 'fatal'; message: string }
  | { type: 'done'; histograms: Record<string, string> };

/** The first few distinct error messages a worker reports (the rest are only counted). */
export const ERROR_MESSAGES_MAX = 5;

/** µs to wait, after the stop, for answers in flight before closing. */
export const DRAIN_MS = 500;
