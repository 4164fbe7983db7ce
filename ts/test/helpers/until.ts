/**
 * Polls `f` until it returns a value (not undefined), for tests that wait on
 * real processes: a thrown error counts as "not yet" and the last one is
 * named in the timeout's message, so a failure says what it was waiting for
 * and why it never came.
 */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined>,
  ms = 20_000,
  pollMs = 50,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms (${String(last)})`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
