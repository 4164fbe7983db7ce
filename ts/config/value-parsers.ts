/**
 * What every config key is made of: its spec, the error a parser raises,
 * and the value parsers the section tables share (TOML values, or strings
 * when the value comes from the environment).
 */

/** Raised by a parser for a bad value; the loader adds the key and source. */
export class ValueError extends Error {}

export interface KeySpec<T> {
  /** Dotted path, e.g. `listeners.mqtt`. */
  key: string;
  default: T;
  /** One line for the README reference. */
  doc: string;
  /** Accepts a TOML value (or an env string) and returns the typed value, or throws ValueError. */
  parse: (raw: unknown, fromEnv: boolean) => T;
}

export function integer(min: number, max: number) {
  return (raw: unknown, fromEnv: boolean): number => {
    const n = fromEnv && typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n === 'bigint' || typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new ValueError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export function oneOf<const T extends readonly string[]>(values: T) {
  return (raw: unknown): T[number] => {
    if (typeof raw !== 'string' || !values.includes(raw)) {
      throw new ValueError(`expected one of ${values.join(', ')}`);
    }
    return raw as T[number];
  };
}

export function nonEmptyString(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new ValueError('expected a non-empty string');
  return raw;
}

export function bool(raw: unknown, fromEnv: boolean): boolean {
  if (fromEnv && typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
  }
  if (typeof raw !== 'boolean') throw new ValueError('expected true or false');
  return raw;
}

export function list(raw: unknown, fromEnv: boolean): unknown[] {
  if (fromEnv && typeof raw === 'string') {
    return raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim());
  }
  if (!Array.isArray(raw)) throw new ValueError('expected a list');
  return raw;
}
