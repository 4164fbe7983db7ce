import { FerryError, isErrorCode } from '../errors.ts';

/**
 * Native errors carry their FERRY_ERR_* code as the JS error's `code`
 * (napi-rs custom status) and repeat it as the message prefix, so that
 * nothing is lost if a layer in between copies only the message.
 */
export function fromNative(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const prefix = /^(FERRY_ERR_[A-Z_]+):\s*/.exec(message);
  const code = isErrorCode(e?.code) ? e.code : isErrorCode(prefix?.[1]) ? prefix[1] : 'FERRY_ERR_NATIVE';
  return new FerryError(code, prefix ? message.slice(prefix[0].length) : message, { cause: err });
}

/** Run a synchronous native call, rewrapping what it throws. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}
