/**
 * Log replication: the leader's side (Progress per follower, appends,
 * snapshots, heartbeats, commit) and the follower's side (AppendEntries and
 * InstallSnapshot handling).
 *
 * Per-follower replication state (`Progress.state`) is a union: probe (one
 * append in flight, then paused until a response or the next heartbeat) |
 * replicate (pipelined, up to `inflightAppendsMax` appends of up to
 * `entriesPerAppendMax` entries) | snapshot (InstallSnapshot in flight,
 * re-sent after `electionTicks` without an answer).
 *
 * Rejections carry `conflictTerm` / `conflictIndex` so the leader can skip a
 * whole conflicting term (fast backtracking); stale rejections (at or below
 * `match`, or for an old probe) are ignored. A leader commits only an entry
 * of its own term that a majority holds (§5.4.2); entries before it commit
 * with it. Every response also acknowledges a heartbeat round (`seq`), which
 * is what confirms read-index reads (`read-index.ts`).
 *
 * Invariant asserted here: at most one leader per term (a leader never
 * receives an append or a snapshot from another leader of its own term).
 */
import { recordRead, releaseReads } from './read-index.ts';
import type { NodeState, Progress } from './state.ts';
import {
  type AppendEntries,
  type AppendEntriesResponse,
  assert,
  type Index,
  type InstallSnapshot,
  type LogEntry,
  type NodeId,
  type Term,
} from './types.ts';

// ---- leader side ----

/** A candidate that won: install the leader state, append this term's no-op, announce it. */
export function becomeLeader(s: NodeState): void {
  s.become('leader', s.term);
  const role = s.role;
  assert(role.kind === 'leader', 'becomeLeader did not make a leader');
  syncProgress(s);
  s.appendLocal([{ type: 'noop', index: role.termStart, term: s.term }]);
  maybeCommit(s);
  broadcastHeartbeat(s);
}

/** Adds / removes Progress entries to match the current voters. */
export function syncProgress(s: NodeState): void {
  if (s.role.kind !== 'leader') return;
  const { progress } = s.role;
  for (const id of s.voters) {
    if (id === s.id || progress.has(id)) continue;
    progress.set(id, {
      match: 0,
      next: s.lastIndex() + 1,
      state: { kind: 'probe', paused: false },
      recentActive: true,
      ackedSeq: 0,
    });
  }
  for (const id of progress.keys()) if (!s.voters.includes(id)) progress.delete(id);
}

export function handleAppendResponse(s: NodeState, m: AppendEntriesResponse): void {
  const role = s.role;
  if (role.kind !== 'leader') return;
  const pr = role.progress.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  if (m.seq > pr.ackedSeq) {
    pr.ackedSeq = m.seq;
    releaseReads(s);
  }
  if (m.success) {
    if (m.matchIndex > pr.match) pr.match = m.matchIndex;
    if (pr.next <= pr.match) pr.next = pr.match + 1;
    const st = pr.state;
    if (st.kind === 'replicate') {
      while (st.inflight.length > 0 && (st.inflight[0] as Index) <= pr.match) st.inflight.shift();
    } else {
      pr.state = { kind: 'replicate', inflight: [] };
      pr.next = pr.match + 1;
    }
    maybeCommit(s);
    if (s.role.kind !== 'leader') return;
    const transfer = s.role.transfer;
    if (transfer && transfer.target === m.from && pr.match === s.lastIndex()) {
      s.send({ type: 'timeout-now', from: s.id, to: m.from, term: s.term });
    }
    sendAppends(s, m.from, pr, false);
    return;
  }
  // Rejection. Ignore stale ones (for an index we already know matches, or an old probe).
  if (m.rejectedIndex === 0 || m.rejectedIndex <= pr.match) return;
  if (pr.state.kind === 'probe' && m.rejectedIndex !== pr.next - 1) return;
  if (pr.state.kind === 'snapshot') return;
  let next = m.conflictIndex;
  if (m.conflictTerm > 0) {
    for (let i = Math.min(m.rejectedIndex, s.lastIndex()); i > s.snapshot.meta.index; i--) {
      const t = s.termAt(i) as Term;
      if (t === m.conflictTerm) {
        next = i + 1;
        break;
      }
      if (t < m.conflictTerm) break;
    }
  }
  pr.next = Math.max(pr.match + 1, Math.min(next, m.rejectedIndex));
  pr.state = { kind: 'probe', paused: false };
  sendAppends(s, m.from, pr, true);
}

/** Commit the highest index a majority holds, if it is from the current term (§5.4.2). */
export function maybeCommit(s: NodeState): void {
  const role = s.role;
  if (role.kind !== 'leader') return;
  const matches: Index[] = [];
  for (const id of s.voters) {
    // Our own copy counts once it is durable, like a follower's.
    if (id === s.id) matches.push(s.durable);
    else matches.push(role.progress.get(id)?.match ?? 0);
  }
  matches.sort((a, b) => b - a);
  const candidate = matches[s.quorum() - 1] ?? 0;
  if (candidate <= s.commit) return;
  if (s.termAt(candidate) !== s.term) return;
  s.setCommit(candidate);
  s.appendsDirty = true;
  if (s.commit >= role.termStart && role.readsAwaitingCommit.length > 0) {
    const ctxs = role.readsAwaitingCommit;
    role.readsAwaitingCommit = [];
    for (const ctx of ctxs) startRead(s, ctx);
  }
  // A leader removed from the config steps down once the removal is committed.
  if (!s.isVoter(s.id) && s.configCommitted()) s.become('follower', s.term);
}

/** Records a read-index read and starts the heartbeat round that confirms it. */
export function startRead(s: NodeState, ctx: unknown): void {
  if (s.role.kind !== 'leader') return;
  recordRead(s, ctx);
  broadcastHeartbeat(s);
}

/** Sends what `pr` allows: one probe, or appends up to the inflight window. */
export function sendAppends(s: NodeState, to: NodeId, pr: Progress, force: boolean): void {
  const role = s.role;
  if (role.kind !== 'leader') return;
  for (;;) {
    const st = pr.state;
    if (st.kind === 'snapshot') return;
    if (st.kind === 'probe' && st.paused) return;
    if (st.kind === 'replicate' && st.inflight.length >= s.inflightAppendsMax) return;
    const prev = pr.next - 1;
    const prevTerm = s.termAt(prev);
    if (prevTerm === undefined) {
      sendSnapshot(s, to, pr);
      return;
    }
    const hi = Math.min(s.lastIndex(), prev + s.entriesPerAppendMax);
    const entries = hi > prev ? s.entries(prev + 1, hi + 1) : [];
    if (entries.length === 0 && !force) return;
    s.send({
      type: 'append-entries',
      from: s.id,
      to,
      term: s.term,
      prevLogIndex: prev,
      prevLogTerm: prevTerm,
      entries,
      leaderCommit: s.commit,
      seq: role.seq,
    } satisfies AppendEntries);
    if (st.kind === 'probe') {
      st.paused = true;
      return;
    }
    if (entries.length === 0) return;
    pr.next = hi + 1;
    st.inflight.push(hi);
    force = false;
  }
}

function sendSnapshot(s: NodeState, to: NodeId, pr: Progress): void {
  const role = s.role;
  if (role.kind !== 'leader') return;
  pr.state = { kind: 'snapshot', index: s.snapshot.meta.index, sentTick: s.ticks };
  s.send({
    type: 'install-snapshot',
    from: s.id,
    to,
    term: s.term,
    snapshot: s.snapshot,
    seq: role.seq,
  });
}

/** Starts a heartbeat round (`seq + 1`): unpauses probes, re-sends stale snapshots, pings pipelines. */
export function broadcastHeartbeat(s: NodeState): void {
  const role = s.role;
  if (role.kind !== 'leader') return;
  role.seq++;
  for (const [id, pr] of role.progress) {
    const st = pr.state;
    if (st.kind === 'snapshot') {
      if (s.ticks - st.sentTick < s.electionTicks) continue;
      pr.state = { kind: 'probe', paused: false };
    } else if (st.kind === 'probe') {
      st.paused = false;
    } else {
      // Replicate: an empty append at next - 1 both heartbeats and detects lost appends.
      const prevTerm = s.termAt(pr.next - 1);
      if (prevTerm === undefined) {
        sendSnapshot(s, id, pr);
        continue;
      }
      s.send({
        type: 'append-entries',
        from: s.id,
        to: id,
        term: s.term,
        prevLogIndex: pr.next - 1,
        prevLogTerm: prevTerm,
        entries: [],
        leaderCommit: s.commit,
        seq: role.seq,
      });
      continue;
    }
    sendAppends(s, id, pr, true);
  }
  releaseReads(s);
}

// ---- follower side ----

function followLeader(s: NodeState, from: NodeId): void {
  if (s.role.kind === 'leader') {
    assert(false, `two leaders in term ${s.term}: ${s.id} and ${from}`);
  }
  if (s.role.kind !== 'follower' || s.role.leader !== from) {
    s.become('follower', s.term, from);
  }
  s.electionElapsed = 0;
}

export function handleAppend(s: NodeState, m: AppendEntries): void {
  followLeader(s, m.from);
  if (m.prevLogIndex < s.commit) {
    // Everything up to commit is known to match; let the leader continue from there.
    respondAppend(s, m.from, true, s.commit, 0, 0, 0, m.seq);
    return;
  }
  const prevTerm = s.termAt(m.prevLogIndex);
  if (prevTerm === undefined) {
    respondAppend(s, m.from, false, 0, m.prevLogIndex, 0, s.lastIndex() + 1, m.seq);
    return;
  }
  if (prevTerm !== m.prevLogTerm) {
    // Fast backtracking: report the first index of the conflicting term.
    let first = m.prevLogIndex;
    while (first - 1 > s.commit && s.termAt(first - 1) === prevTerm) first--;
    respondAppend(s, m.from, false, 0, m.prevLogIndex, prevTerm, first, m.seq);
    return;
  }
  let i = 0;
  for (; i < m.entries.length; i++) {
    const e = m.entries[i] as LogEntry;
    const t = s.termAt(e.index);
    if (t === undefined) break;
    if (t !== e.term) {
      s.truncateLocal(e.index);
      break;
    }
  }
  if (i < m.entries.length) s.appendLocal(m.entries.slice(i));
  const lastNew = m.prevLogIndex + m.entries.length;
  s.setCommit(Math.min(m.leaderCommit, lastNew));
  respondAppend(s, m.from, true, lastNew, 0, 0, 0, m.seq);
}

export function handleSnapshot(s: NodeState, m: InstallSnapshot): void {
  followLeader(s, m.from);
  const { meta } = m.snapshot;
  if (meta.index <= s.commit) {
    respondAppend(s, m.from, true, s.commit, 0, 0, 0, m.seq);
    return;
  }
  if (s.termAt(meta.index) === meta.term) {
    // The log already holds the snapshot's last entry: keep it, just commit.
    s.setCommit(meta.index);
    respondAppend(s, m.from, true, meta.index, 0, 0, 0, m.seq);
    return;
  }
  s.snapshot = m.snapshot;
  s.log = [];
  s.durable = Math.min(s.durable, meta.index);
  s.voters = [...meta.voters];
  s.commit = meta.index;
  s.applied = meta.index;
  s.snapshotToRestore = m.snapshot;
  s.persist.push({ kind: 'snapshot', snapshot: m.snapshot });
  respondAppend(s, m.from, true, meta.index, 0, 0, 0, m.seq);
}

export function respondAppend(
  s: NodeState,
  to: NodeId,
  success: boolean,
  matchIndex: Index,
  rejectedIndex: Index,
  conflictTerm: Term,
  conflictIndex: Index,
  seq: number,
): void {
  s.send({
    type: 'append-entries-response',
    from: s.id,
    to,
    term: s.term,
    success,
    matchIndex,
    rejectedIndex,
    conflictTerm,
    conflictIndex,
    seq,
  });
}
