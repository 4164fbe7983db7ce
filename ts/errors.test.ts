import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from './errors.ts';

// fastify's errors.test.js pattern: the catalogue and its documentation
// cannot drift apart, in either direction.
describe('error catalogue', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^#### (FERRY_ERR_[A-Z_]+)$/gm)].map((m) => m[1] as string));

  it('documents every code (regenerate: node scripts/gen-errors-doc.ts)', () => {
    const missing = Object.keys(ErrorCodes).filter((c) => !documented.has(c));
    expect(missing).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const stale = [...documented].filter((c) => !(c in ErrorCodes));
    expect(stale).toEqual([]);
  });

  it('has every code the native crates emit', () => {
    const rust = ['ferry-napi/src/error.rs', 'ferry-napi/src/lock.rs', 'ferry-storage/src/error.rs']
      .map((f) => readFileSync(new URL(`../crates/${f}`, import.meta.url), 'utf8'))
      .join('\n');
    const emitted = new Set([...rust.matchAll(/"(FERRY_ERR_[A-Z_]+)"/g)].map((m) => m[1] as string));
    const unknown = [...emitted].filter((c) => !(c in ErrorCodes));
    expect(unknown).toEqual([]);
  });
});
