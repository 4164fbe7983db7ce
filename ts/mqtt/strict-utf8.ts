/**
 * Makes an mqtt-packet parser refuse UTF-8 Encoded Strings that are not
 * well-formed UTF-8 ([MQTT-1.5.3-1] 3.1.1, [MQTT-1.5.4-1] 5.0): mqtt-packet
 * decodes with `toString('utf8')`, which silently replaces bad sequences
 * with U+FFFD, so the check must see the bytes first. A refused string
 * makes the parser report a malformed packet, which closes the connection.
 *
 * This wraps mqtt-packet's internal `_parseString` (pinned by the `^9`
 * range in package.json); ts/test/mqtt/bad-input.e2e.test.ts fails if a
 * future version changes it.
 */
import { isUtf8 } from 'node:buffer';

interface ParserInternals {
  _pos: number;
  _list: { length: number; readUInt16BE(at: number): number; slice(start: number, end: number): Buffer };
  _parseString: (maybeBuffer?: unknown) => string | null;
}

export function enforceUtf8(parser: object): void {
  const p = parser as unknown as ParserInternals;
  const original = p._parseString;
  if (typeof original !== 'function') throw new Error('mqtt-packet parser has no _parseString');
  p._parseString = function parseCheckedString(this: ParserInternals, maybeBuffer?: unknown): string | null {
    const at = this._pos;
    if (at + 2 <= this._list.length) {
      const end = at + 2 + this._list.readUInt16BE(at);
      if (end <= this._list.length && !isUtf8(this._list.slice(at + 2, end))) return null;
    }
    return original.call(this, maybeBuffer);
  };
}
