/**
 * The catalogue of FerryMQ's own error codes. Every error FerryMQ raises on
 * purpose carries one of these codes; native errors arrive with the same
 * strings (crates/ferry-napi/src/error.rs) and are rewrapped by
 * ts/native/errors.ts. docs/errors.md lists them all, and
 * ts/errors.test.ts fails when the two drift apart. A retired code is never
 * reused.
 */
export const ErrorCodes = {
  FERRY_ERR_CONFIG_INVALID: 'A configuration value is missing, unknown or out of range.',
  FERRY_ERR_CONFIG_READ: 'The configuration file could not be read or is not valid TOML.',
  FERRY_ERR_DATA_DIR_LOCKED: 'Another process holds the lock on the data directory.',
  FERRY_ERR_DATA_DIR: 'The data directory could not be created or opened.',
  FERRY_ERR_NATIVE_MISSING: 'The native addon for this platform is not installed or could not be loaded.',
  FERRY_ERR_NATIVE_VERSION: 'The native addon was built for another FerryMQ version.',
  FERRY_ERR_LISTEN: 'A listener could not bind its address.',
  FERRY_ERR_FRAME_MALFORMED: 'A frame or record batch is malformed.',
  FERRY_ERR_FRAME_TOO_LARGE: 'A frame is larger than the configured maximum.',
  FERRY_ERR_FRAME_UNSUPPORTED: 'A record batch uses an unsupported format (magic other than 2).',
  FERRY_ERR_FRAME_CRC: 'A CRC-32C check failed.',
  FERRY_ERR_NATIVE: 'The native core reported an error without a FerryMQ code.',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/** An operating error: expected, handled, reported with a stable code. */
export class FerryError extends Error {
  override readonly name = 'FerryError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
