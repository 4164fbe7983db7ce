/**
 * Safety checks for the simulator, fed by events as they happen:
 *
 * - Election safety: at most one leader per term (Raft Figure 3).
 * - Log matching: two entries with the same index and term hold the same
 *   content and follow the same previous term; by induction the logs are
 *   identical up to there. Checked on every append a node persists.
 * - Leader completeness: an entry known committed in term t is in the log of
 *   every leader of a later term (checked when a leader is first seen, and
 *   for current leaders whenever a new commit becomes known).
 * - State-machine safety: no two nodes apply different entries at one index.
 *
 * Plus `checkLinearizable`: a Porcupine-style (Wing & Gong with memoization)
 * linearizability check of a KV history, one register per key.
 */
import type { RaftNode } from './node.ts';
import type { Index, LogEntry, NodeId, Term } from './types.ts';

export class InvariantViolation extends Error {
  override name = 'InvariantViolation';
}

const decoder = new TextDecoder();

export function fingerprint(e: LogEntry): string {
  switch (e.type) {
    case 'command':
      return `${e.term}/c/${decoder.decode(e.data)}`;
    case 'config':
      return `${e.term}/v/${e.voters.join(',')}`;
    case 'noop':
      return `${e.term}/n`;
  }
}

export class Checker {
  readonly #leaders = new Map<Term, NodeId>();
  readonly #entries = new Map<string, string>();
  readonly #applied = new Map<Index, string>();
  readonly #committedTerm = new Map<Index, Term>();
  #committedMax: Index = 0;
  readonly #votes = new Map<string, NodeId>();
  readonly #digests = new Map<Index, number>();

  /** Called whenever `node` is seen as leader; true the first time for its term. */
  onLeader(node: RaftNode): boolean {
    const term = node.term;
    const known = this.#leaders.get(term);
    if (known === undefined) {
      this.#leaders.set(term, node.id);
      this.#checkLeaderHas(node, 1);
      return true;
    }
    if (known !== node.id) {
      throw new InvariantViolation(
        `election safety: nodes ${known} and ${node.id} both leader in term ${term}`,
      );
    }
    return false;
  }

  /**
   * Vote durability: a node votes for at most one candidate per term, across
   * crashes and restarts (what persisting the vote before answering buys).
   */
  onVote(node: NodeId, term: Term, vote: NodeId): void {
    if (vote === 0) return;
    const key = `${node}:${term}`;
    const seen = this.#votes.get(key);
    if (seen === undefined) this.#votes.set(key, vote);
    else if (seen !== vote) {
      throw new InvariantViolation(
        `vote durability: node ${node} voted for ${seen} and ${vote} in term ${term}`,
      );
    }
  }

  #checkLeaderHas(node: RaftNode, from: Index): void {
    const base = node.snapshotMeta.index;
    for (let i = Math.max(from, base + 1); i <= this.#committedMax; i++) {
      const t = this.#committedTerm.get(i);
      if (t === undefined || t >= node.term) continue;
      const mine = node.termAt(i);
      if (mine !== t) {
        throw new InvariantViolation(
          `leader completeness: leader ${node.id} of term ${node.term} has term ${mine} at ${i}, committed term ${t}`,
        );
      }
    }
  }

  /** Called for every append a node persists (`prevTerm` is the term just before the first entry). */
  onAppend(node: NodeId, entries: readonly LogEntry[], prevTerm: Term): void {
    let prev = prevTerm;
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const value = `${prev}|${fingerprint(e)}`;
      const seen = this.#entries.get(key);
      if (seen === undefined) this.#entries.set(key, value);
      else if (seen !== value) {
        throw new InvariantViolation(
          `log matching: node ${node} has [${value}] at index ${e.index} term ${e.term}, another node has [${seen}]`,
        );
      }
      prev = e.term;
    }
  }

  /** Called for every entry a node applies to its state machine. */
  onApply(node: NodeId, e: LogEntry, digest: number, leaders: readonly RaftNode[]): void {
    this.#checkDigest(node, e.index, digest);
    const fp = fingerprint(e);
    const seen = this.#applied.get(e.index);
    if (seen === undefined) {
      this.#applied.set(e.index, fp);
      this.#committedTerm.set(e.index, e.term);
      if (e.index > this.#committedMax) this.#committedMax = e.index;
      for (const leader of leaders) {
        if (
          leader.term > e.term &&
          e.index > leader.snapshotMeta.index &&
          leader.termAt(e.index) !== e.term
        ) {
          throw new InvariantViolation(
            `leader completeness: leader ${leader.id} of term ${leader.term} lacks committed ${e.index}@${e.term}`,
          );
        }
      }
    } else if (seen !== fp) {
      throw new InvariantViolation(
        `state-machine safety: node ${node} applied [${fp}] at ${e.index}, another node applied [${seen}]`,
      );
    }
  }

  /**
   * State-machine safety across snapshots: `digest` hashes every entry the
   * node's state machine has absorbed up to `index` (applied one by one or
   * carried in a snapshot); all nodes must agree on it at every index.
   */
  onRestore(node: NodeId, index: Index, digest: number): void {
    this.#checkDigest(node, index, digest);
  }

  #checkDigest(node: NodeId, index: Index, digest: number): void {
    const seen = this.#digests.get(index);
    if (seen === undefined) this.#digests.set(index, digest);
    else if (seen !== digest) {
      throw new InvariantViolation(
        `state-machine safety: node ${node} state at index ${index} differs from another node's`,
      );
    }
  }

  get leadersByTerm(): ReadonlyMap<Term, NodeId> {
    return this.#leaders;
  }
}

// ---- linearizability ----

export interface KvOp {
  client: number;
  key: string;
  kind: 'put' | 'get';
  /** put: the value written; get: the value read (null = absent). */
  value: string | null;
  /** Logical times; `ret` is Infinity when the outcome is unknown (timed out). */
  call: number;
  ret: number;
}

export interface LinearizabilityResult {
  ok: boolean;
  key?: string;
  /** States explored (for the figures). */
  explored: number;
}

/** Ops per key beyond which the search is not attempted (bounded work). */
export const LINEARIZABILITY_OPS_PER_KEY_MAX = 400;

/**
 * KV histories are linearizable iff each key's register history is (locality,
 * Herlihy & Wing). Per key: depth-first search over "which pending op takes
 * effect next", only ops whose call precedes every remaining op's return are
 * candidates; (set of linearized ops, register value) pairs already explored
 * are cached, as in Porcupine.
 */
export function checkLinearizable(history: readonly KvOp[]): LinearizabilityResult {
  const byKey = new Map<string, KvOp[]>();
  for (const op of history) {
    if (op.kind === 'get' && op.ret === Number.POSITIVE_INFINITY) continue; // reads with no answer say nothing
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
  }
  let explored = 0;
  for (const [key, ops] of byKey) {
    if (ops.length > LINEARIZABILITY_OPS_PER_KEY_MAX) {
      throw new RangeError(
        `history for key ${key} has ${ops.length} ops (max ${LINEARIZABILITY_OPS_PER_KEY_MAX})`,
      );
    }
    const r = checkRegister(ops);
    explored += r.explored;
    if (!r.ok) return { ok: false, key, explored };
  }
  return { ok: true, explored };
}

function checkRegister(input: readonly KvOp[]): { ok: boolean; explored: number } {
  const ops = [...input].sort((a, b) => a.call - b.call);
  const n = ops.length;
  const done = new Uint8Array(n);
  const seen = new Set<string>();
  let bits = 0n;
  let explored = 0;
  // Iterative DFS: stack of (op index chosen, previous register value).
  const stack: { i: number; prev: string | null }[] = [];
  let value: string | null = null;
  let count = 0;
  let start = 0;
  for (;;) {
    if (count === n) return { ok: true, explored };
    let minRet = Number.POSITIVE_INFINITY;
    for (let j = 0; j < n; j++) if (!done[j] && (ops[j] as KvOp).ret < minRet) minRet = (ops[j] as KvOp).ret;
    let advanced = false;
    for (let i = start; i < n; i++) {
      const op = ops[i] as KvOp;
      if (done[i]) continue;
      if (op.call > minRet) break; // sorted by call: nothing later can go first
      let next: string | null;
      if (op.kind === 'put') next = op.value;
      else if (op.value === value) next = value;
      else continue;
      const nextBits = bits | (1n << BigInt(i));
      const memo = `${nextBits.toString(36)}:${next}`;
      if (seen.has(memo)) continue;
      seen.add(memo);
      explored++;
      stack.push({ i, prev: value });
      done[i] = 1;
      bits = nextBits;
      value = next;
      count++;
      start = 0;
      advanced = true;
      break;
    }
    if (advanced) continue;
    const top = stack.pop();
    if (!top) return { ok: false, explored };
    done[top.i] = 0;
    bits &= ~(1n << BigInt(top.i));
    value = top.prev;
    count--;
    start = top.i + 1;
  }
}
