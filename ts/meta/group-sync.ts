/**
 * Catching up with a Raft group before serving from this node's copy of it
 * (the offsets and sessions stores read their data locally).
 *
 * After a restart a node's state machine holds only its snapshot: the log
 * entries behind it are applied again once a leader commits them, and a
 * follower applies what others wrote one heartbeat late. A barrier is a
 * put of a marker key of this node, proposed like any write: its index is
 * at or past every entry committed before it, so once this node has applied
 * that index its copy holds everything committed before the barrier. Nothing
 * may be served from an uncaught-up copy (an empty offset table would send
 * a consumer back to auto.offset.reset), so the barrier is retried until a
 * leader answers: a node whose groups have no quorum waits, logging.
 */
import { FerryError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MetaService } from './service.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** The marker key of `node` in a group, under `prefix` (one key per node and prefix). */
export function barrierKey(prefix: string, node: number): string {
  return `${prefix}${node}`;
}

/**
 * Proposes the marker and resolves with its index once `applied` says this
 * node applied it; retries on failure until it succeeds or `closed()`.
 */
export async function syncGroup(
  meta: MetaService,
  group: number,
  key: string,
  waitApplied: (index: number) => Promise<void>,
  logger: Logger | undefined,
  closed: () => boolean,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await meta.propose(group, { op: 'put', key, value: String(Date.now()) });
      await waitApplied(r.version);
      return r.version;
    } catch (err) {
      if (closed()) throw err;
      // Quiet on the first miss: a fresh node elects its leaders within an election timeout or two.
      if (attempt > 1)
        logger?.warn({ err, group, attempt }, 'waiting for a quorum of a raft group to load its data');
      await sleep(meta.config.tick_ms * 4);
    }
  }
}

/** Polls this node's applied index of `group` (every tick) until it reaches `index` or `timeoutMs` passes. */
export async function pollApplied(
  meta: MetaService,
  group: number,
  index: number,
  timeoutMs: number,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (meta.appliedIndex(group) < index) {
    if (performance.now() > end) {
      throw new FerryError(
        'FERRY_ERR_RAFT_TIMEOUT',
        `raft group ${group}: index ${index} not applied here within ${timeoutMs} ms`,
      );
    }
    await sleep(meta.config.tick_ms);
  }
}
