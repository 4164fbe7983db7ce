/**
 * The bench's side of a load worker (lib/mqtt-load.ts): spawn it and read
 * its messages in order; and the client-id sequence every scenario of
 * bench/mqtt.bench.ts draws from.
 */
import { Worker } from 'node:worker_threads';
import type { LoadConfig } from './mqtt-load.ts';

const LOAD = new URL('./mqtt-load.ts', import.meta.url);

let clientSeq = 0;

/** The next number for a client id (unique in this process). */
export function nextClientSeq(): number {
  return ++clientSeq;
}

export function spawnLoad(cfg: LoadConfig): {
  worker: Worker;
  next: (type: string) => Promise<Record<string, unknown>>;
} {
  const worker = new Worker(LOAD, { workerData: cfg });
  const queue: Record<string, unknown>[] = [];
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  let failure: Error | undefined;
  const deliver = (m: Record<string, unknown>): void => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  };
  worker.on('message', (m: Record<string, unknown>) => deliver(m));
  worker.on('error', (e) => {
    failure = e;
    deliver({ type: 'error', message: e.message });
  });
  const next = async (type: string): Promise<Record<string, unknown>> => {
    const m =
      queue.shift() ??
      (await new Promise<Record<string, unknown>>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`load worker (${cfg.role}): no ${type} within 120 s`)),
          120_000,
        );
        waiters.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
      }));
    if (m.type === 'error' || failure) throw new Error(`load worker (${cfg.role}): ${m.message ?? failure}`);
    if (m.type !== type) throw new Error(`load worker (${cfg.role}): expected ${type}, got ${m.type}`);
    return m;
  };
  return { worker, next };
}
