/**
 * What the simulator (ts/raft/simulator.ts) keeps per node and per client
 * operation, and a node's state-machine snapshot encoding.
 */
import type { MemoryLogStore } from './memory-log-store.ts';
import type { RaftNode } from './node.ts';
import type { Index, NodeId } from './types.ts';

export interface Command {
  op: number;
  key: string;
  value: string;
}

export interface SimNode {
  id: NodeId;
  store: MemoryLogStore;
  raft: RaftNode | null;
  incarnation: number;
  kv: Map<string, string>;
  /** Rolling hash of every entry applied so far (travels inside snapshots). */
  digest: number;
  /** Client op ids this node proposed, completed when applied here. */
  proposed: Map<number, ClientOp>;
  /** Reads confirmed by read-index, waiting for apply. */
  reads: { op: ClientOp; index: Index }[];
  crashMidReady: 'none' | 'lose' | 'keep';
  /** A new leader may be doomed to crash a few steps later (Figure 8 shapes). */
  crashAtStep: number;
  /** The configured initial members (like `[cluster] members`); [] for a node that joins later. */
  bootstrapVoters: readonly NodeId[];
}

export interface ClientOp {
  id: number;
  client: number;
  kind: 'put' | 'get';
  key: string;
  value: string | null;
  call: number;
  invokedStep: number;
  done: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A proposed put as the log carries it. */
export function encodeCommand(cmd: Command): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): Command {
  return JSON.parse(decoder.decode(data)) as Command;
}

export function encodeState(n: SimNode): Uint8Array {
  return encoder.encode(JSON.stringify({ kv: [...n.kv], digest: n.digest }));
}

/** Sets the node's KV and digest from a snapshot's data (empty: the initial state). */
export function restoreState(n: SimNode, data: Uint8Array | undefined): void {
  if (!data || data.length === 0) {
    n.kv = new Map();
    n.digest = 0;
    return;
  }
  const state = JSON.parse(decoder.decode(data)) as { kv: [string, string][]; digest: number };
  n.kv = new Map(state.kv);
  n.digest = state.digest;
}

/** FNV-1a over the entry's fingerprint, chained. */
export function mix(h: number, s: string): number {
  let x = (h ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return x;
}
