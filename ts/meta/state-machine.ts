/**
 * What a Raft group replicates: a deterministic state machine. The driver
 * (`raft-group.ts`) calls `apply` for every committed command in log order,
 * on every member, so `apply` must depend only on the state and the
 * command (no clock, no randomness, no I/O). `query` answers linearizable
 * reads once the read-index is applied. `snapshot` / `restore` move the whole
 * state for log compaction and for followers too far behind to catch up by
 * log.
 */
import type { Index } from '../raft/types.ts';

export interface StateMachine {
  /** Applies a committed command and returns its result for the proposer. */
  apply(index: Index, command: Uint8Array): Uint8Array;
  /** Answers a read from the current state; never changes it. */
  query(query: Uint8Array): Uint8Array;
  /** The whole state as of the last applied index. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's image. */
  restore(data: Uint8Array): void;
}
