/**
 * Leader election: pre-vote, vote, check-quorum, the follower-side leader
 * lease and TimeoutNow (leader transfer).
 *
 * The election timeout is uniform in [electionTicks, 2 * electionTicks),
 * drawn from the injected Random. When it fires, a voter first runs a
 * pre-vote (thesis §9.6) at `term + 1` without changing its term, so a node
 * cut off from the majority never inflates its term and cannot disrupt the
 * cluster when it comes back. Only a won pre-vote leads to a real campaign.
 *
 * Check-quorum (§6.2): every `electionTicks` a leader counts the voters it
 * heard from and steps down without a majority. Its counterpart on the
 * follower side is the lease (`inLease()`): a node that heard from a leader
 * less than `electionTicks` ago ignores pre-votes and votes at a higher term,
 * except a vote flagged `transfer`.
 *
 * Invariant asserted here: the vote never changes within a term.
 */
import { becomeLeader } from './replication.ts';
import type { NodeState } from './state.ts';
import {
  assert,
  type Index,
  NO_NODE,
  type PreVote,
  type PreVoteResponse,
  type RequestVote,
  type RequestVoteResponse,
  type Term,
  type TimeoutNow,
} from './types.ts';

/** Check-quorum (thesis §6.2): a leader that has not heard from a majority steps down. */
export function checkQuorum(s: NodeState): boolean {
  if (s.role.kind !== 'leader') return false;
  let active = s.isVoter(s.id) ? 1 : 0;
  for (const [id, pr] of s.role.progress) {
    if (id !== s.id && pr.recentActive) active++;
    pr.recentActive = false;
  }
  return active >= s.quorum();
}

export function campaign(s: NodeState, kind: 'pre-candidate' | 'candidate', transfer: boolean): void {
  if (kind === 'pre-candidate') s.become('pre-candidate', s.term);
  else s.become('candidate', s.term + 1);
  if (hasQuorumOfVotes(s)) {
    onElectionWon(s);
    return;
  }
  const term = kind === 'pre-candidate' ? s.term + 1 : s.term;
  for (const to of s.voters) {
    if (to === s.id) continue;
    const base = {
      from: s.id,
      to,
      term,
      lastLogIndex: s.lastIndex(),
      lastLogTerm: s.lastTerm(),
    };
    if (kind === 'pre-candidate') s.send({ type: 'pre-vote', ...base } satisfies PreVote);
    else s.send({ type: 'request-vote', ...base, transfer } satisfies RequestVote);
  }
}

function hasQuorumOfVotes(s: NodeState): boolean {
  const role = s.role;
  if (role.kind !== 'pre-candidate' && role.kind !== 'candidate') return false;
  let granted = 0;
  for (const [id, g] of role.votes) if (g && s.voters.includes(id)) granted++;
  return granted >= s.quorum();
}

function hasQuorumOfRejections(s: NodeState): boolean {
  const role = s.role;
  if (role.kind !== 'pre-candidate' && role.kind !== 'candidate') return false;
  let rejected = 0;
  for (const [id, g] of role.votes) if (!g && s.voters.includes(id)) rejected++;
  return rejected >= s.quorum();
}

function onElectionWon(s: NodeState): void {
  if (s.role.kind === 'pre-candidate') campaign(s, 'candidate', false);
  else if (s.role.kind === 'candidate') becomeLeader(s);
}

/** Leader lease from check-quorum: a follower that heard from a leader recently ignores campaigns. */
export function inLease(s: NodeState): boolean {
  return s.leader !== NO_NODE && s.electionElapsed < s.electionTicks;
}

function logUpToDate(s: NodeState, lastIndex: Index, lastTerm: Term): boolean {
  const myTerm = s.lastTerm();
  return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= s.lastIndex());
}

export function handlePreVote(s: NodeState, m: PreVote): void {
  const grant = m.term > s.term && logUpToDate(s, m.lastLogIndex, m.lastLogTerm);
  s.send({
    type: 'pre-vote-response',
    from: s.id,
    to: m.from,
    term: grant ? m.term : s.term,
    granted: grant,
  });
}

export function handleRequestVote(s: NodeState, m: RequestVote): void {
  const canVote = s.vote === m.from || (s.vote === NO_NODE && s.leader === NO_NODE) || m.transfer;
  const votedOther = s.vote !== NO_NODE && s.vote !== m.from;
  const grant = canVote && !votedOther && logUpToDate(s, m.lastLogIndex, m.lastLogTerm);
  if (grant) {
    assert(s.vote === NO_NODE || s.vote === m.from, 'double vote');
    s.vote = m.from;
    s.electionElapsed = 0;
  }
  s.send({
    type: 'request-vote-response',
    from: s.id,
    to: m.from,
    term: s.term,
    granted: grant,
  });
}

export function handleVoteResponse(s: NodeState, m: PreVoteResponse | RequestVoteResponse): void {
  const role = s.role;
  const wanted = m.type === 'pre-vote-response' ? 'pre-candidate' : 'candidate';
  if (role.kind !== wanted) return;
  if (m.type === 'pre-vote-response' && m.granted && m.term !== s.term + 1) return;
  role.votes.set(m.from, m.granted);
  if (hasQuorumOfVotes(s)) onElectionWon(s);
  else if (hasQuorumOfRejections(s)) s.become('follower', s.term);
}

/** Leader transfer (thesis §3.10), target side: campaign at once, flagged so leases do not block it. */
export function handleTimeoutNow(s: NodeState, _m: TimeoutNow): void {
  if (s.role.kind === 'leader' || !s.isVoter(s.id)) return;
  campaign(s, 'candidate', true);
}
