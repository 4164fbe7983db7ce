/**
 * Read-index bookkeeping on the leader (thesis §6.4).
 *
 * A read records the commit index, then waits for a heartbeat round
 * acknowledged by a majority, which confirms that this node was still leader
 * when the read arrived; the read may then be served once that index is
 * applied. `ctx` comes back in a ReadState. Rounds are numbered by the
 * leader's `seq`: a read started now is confirmed by round `seq + 1`, which
 * the caller starts with `broadcastHeartbeat()` (`replication.ts`).
 *
 * A new leader does not know the commit index of earlier terms until it has
 * committed an entry of its own term (its no-op at `termStart`), so reads
 * that arrive before that wait in `readsAwaitingCommit`; `maybeCommit()`
 * starts them. Reads still pending when this node stops leading are dropped
 * with the leader state: the caller fails them on its own timeout or on the
 * role change.
 */
import type { NodeState, PendingRead } from './state.ts';

/**
 * Admits a read on a leader. 'pending': recorded, and needs a heartbeat round
 * to be confirmed; 'awaiting-commit': deferred until this term has a commit;
 * 'refused': not leader, or `readsPendingMax` reads are already waiting.
 */
export function admitRead(s: NodeState, ctx: unknown): 'pending' | 'awaiting-commit' | 'refused' {
  const role = s.role;
  if (role.kind !== 'leader') return 'refused';
  if (role.reads.length + role.readsAwaitingCommit.length >= s.readsPendingMax) return 'refused';
  if (s.commit < role.termStart) {
    role.readsAwaitingCommit.push(ctx);
    return 'awaiting-commit';
  }
  recordRead(s, ctx);
  return 'pending';
}

/** Records a read at the current commit index, to be confirmed by the next heartbeat round. */
export function recordRead(s: NodeState, ctx: unknown): void {
  const role = s.role;
  if (role.kind !== 'leader') return;
  role.reads.push({ ctx, index: s.commit, seq: role.seq + 1 });
}

/** Moves every read whose round a majority has acknowledged to the Ready's readStates, in order. */
export function releaseReads(s: NodeState): void {
  const role = s.role;
  if (role.kind !== 'leader') return;
  while (role.reads.length > 0) {
    const read = role.reads[0] as PendingRead;
    let acks = s.isVoter(s.id) ? 1 : 0;
    for (const [id, pr] of role.progress) if (id !== s.id && pr.ackedSeq >= read.seq) acks++;
    if (acks < s.quorum()) return;
    role.reads.shift();
    s.readStates.push({ ctx: read.ctx, index: read.index });
  }
}
