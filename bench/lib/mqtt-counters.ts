/**
 * Layout of the SharedArrayBuffer (Int32Array) shared by the bench and its
 * load-generator workers (mqtt-load.ts): the hot path counts here instead
 * of sending messages.
 */
export const C_PUBLISHED = 0;
export const C_DELIVERED = 1;
export const C_PHASE = 2;
/** Deliveries written off as lost after a window stall (QoS 0 drops). */
export const C_FORGIVEN = 3;
export const C_STALLS = 4;
export const C_ERRORS = 5;
export const C_CONNECTED = 6;
export const COUNTERS = 8;

export const PHASE_WARMUP = 0;
export const PHASE_MEASURE = 1;
export const PHASE_STOP = 2;
