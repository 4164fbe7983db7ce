/**
 * Raft messages to and from their gRPC form (proto/raft.proto). Decoding is
 * also validation: the proto is loaded with 64-bit fields as strings, so an
 * index or term above 2^53 is refused instead of rounded; a message type or
 * entry type the core does not know, a snapshot missing from
 * InstallSnapshot or a voter id 0 is refused. Anything refused here is a
 * `WireError`, which the server answers with INVALID_ARGUMENT.
 */
import type { LogEntry, Message, NodeId, Snapshot } from '../raft/types.ts';

export class WireError extends Error {
  override name = 'WireError';
}

/** The proto-loader object form (longs as strings, enums as strings, bytes as Buffers). */
export interface PbEntry {
  index: string | number;
  term: string | number;
  type: string;
  data: Buffer | Uint8Array;
  voters: number[];
}

export interface PbSnapshot {
  index: string | number;
  term: string | number;
  voters: number[];
  data: Buffer | Uint8Array;
}

export interface PbMessage {
  group: number;
  type: string;
  term: string | number;
  last_log_index?: string | number;
  last_log_term?: string | number;
  granted?: boolean;
  transfer?: boolean;
  prev_log_index?: string | number;
  prev_log_term?: string | number;
  entries?: PbEntry[];
  leader_commit?: string | number;
  seq?: string | number;
  success?: boolean;
  match_index?: string | number;
  rejected_index?: string | number;
  conflict_term?: string | number;
  conflict_index?: string | number;
  snapshot?: PbSnapshot | null;
}

const TYPE_TO_PB: Record<Message['type'], string> = {
  'pre-vote': 'PRE_VOTE',
  'pre-vote-response': 'PRE_VOTE_RESPONSE',
  'request-vote': 'REQUEST_VOTE',
  'request-vote-response': 'REQUEST_VOTE_RESPONSE',
  'append-entries': 'APPEND_ENTRIES',
  'append-entries-response': 'APPEND_ENTRIES_RESPONSE',
  'install-snapshot': 'INSTALL_SNAPSHOT',
  'timeout-now': 'TIMEOUT_NOW',
};

const PB_TO_TYPE = new Map(Object.entries(TYPE_TO_PB).map(([k, v]) => [v, k as Message['type']]));

function u64(v: string | number | undefined, field: string): number {
  const n = typeof v === 'number' ? v : Number(v ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw new WireError(`${field} is not an integer in 0..2^53`);
  return n;
}

function voters(list: readonly number[] | undefined, field: string): NodeId[] {
  const out = [...(list ?? [])];
  for (const v of out) if (!Number.isInteger(v) || v <= 0) throw new WireError(`${field} holds node id ${v}`);
  return out;
}

function entryToPb(e: LogEntry): PbEntry {
  return {
    index: e.index,
    term: e.term,
    type: e.type === 'command' ? 'COMMAND' : e.type === 'noop' ? 'NOOP' : 'CONFIG',
    data: e.type === 'command' ? e.data : Buffer.alloc(0),
    voters: e.type === 'config' ? [...e.voters] : [],
  };
}

function entryFromPb(p: PbEntry): LogEntry {
  const index = u64(p.index, 'entry.index');
  const term = u64(p.term, 'entry.term');
  switch (p.type) {
    case 'COMMAND':
      return { type: 'command', index, term, data: new Uint8Array(p.data ?? []) };
    case 'NOOP':
      return { type: 'noop', index, term };
    case 'CONFIG': {
      const v = voters(p.voters, 'entry.voters');
      if (v.length === 0) throw new WireError('config entry without voters');
      return { type: 'config', index, term, voters: v };
    }
    default:
      throw new WireError(`unknown entry type ${String(p.type)}`);
  }
}

function snapshotToPb(s: Snapshot): PbSnapshot {
  return { index: s.meta.index, term: s.meta.term, voters: [...s.meta.voters], data: s.data };
}

function snapshotFromPb(p: PbSnapshot): Snapshot {
  return {
    meta: {
      index: u64(p.index, 'snapshot.index'),
      term: u64(p.term, 'snapshot.term'),
      voters: voters(p.voters, 'snapshot.voters'),
    },
    data: new Uint8Array(p.data ?? []),
  };
}

export function messageToPb(group: number, m: Message): PbMessage {
  const base: PbMessage = { group, type: TYPE_TO_PB[m.type], term: m.term };
  switch (m.type) {
    case 'pre-vote':
      return { ...base, last_log_index: m.lastLogIndex, last_log_term: m.lastLogTerm };
    case 'request-vote':
      return { ...base, last_log_index: m.lastLogIndex, last_log_term: m.lastLogTerm, transfer: m.transfer };
    case 'pre-vote-response':
    case 'request-vote-response':
      return { ...base, granted: m.granted };
    case 'append-entries':
      return {
        ...base,
        prev_log_index: m.prevLogIndex,
        prev_log_term: m.prevLogTerm,
        entries: m.entries.map(entryToPb),
        leader_commit: m.leaderCommit,
        seq: m.seq,
      };
    case 'append-entries-response':
      return {
        ...base,
        success: m.success,
        match_index: m.matchIndex,
        rejected_index: m.rejectedIndex,
        conflict_term: m.conflictTerm,
        conflict_index: m.conflictIndex,
        seq: m.seq,
      };
    case 'install-snapshot':
      return { ...base, snapshot: snapshotToPb(m.snapshot), seq: m.seq };
    case 'timeout-now':
      return base;
  }
}

/** Decodes and validates one message; `from` / `to` come from the checked batch header. */
export function messageFromPb(p: PbMessage, from: NodeId, to: NodeId): { group: number; message: Message } {
  const type = PB_TO_TYPE.get(p.type);
  if (!type) throw new WireError(`unknown message type ${String(p.type)}`);
  const term = u64(p.term, 'term');
  const base = { from, to, term };
  const group = p.group;
  let message: Message;
  switch (type) {
    case 'pre-vote':
      message = {
        ...base,
        type,
        lastLogIndex: u64(p.last_log_index, 'last_log_index'),
        lastLogTerm: u64(p.last_log_term, 'last_log_term'),
      };
      break;
    case 'request-vote':
      message = {
        ...base,
        type,
        lastLogIndex: u64(p.last_log_index, 'last_log_index'),
        lastLogTerm: u64(p.last_log_term, 'last_log_term'),
        transfer: p.transfer === true,
      };
      break;
    case 'pre-vote-response':
    case 'request-vote-response':
      message = { ...base, type, granted: p.granted === true };
      break;
    case 'append-entries': {
      const prevLogIndex = u64(p.prev_log_index, 'prev_log_index');
      const entries = (p.entries ?? []).map(entryFromPb);
      // The core asserts contiguity; a peer's bad batch must not reach an assertion.
      entries.forEach((e, i) => {
        if (e.index !== prevLogIndex + 1 + i) throw new WireError('append entries are not contiguous');
      });
      message = {
        ...base,
        type,
        prevLogIndex,
        prevLogTerm: u64(p.prev_log_term, 'prev_log_term'),
        entries,
        leaderCommit: u64(p.leader_commit, 'leader_commit'),
        seq: u64(p.seq, 'seq'),
      };
      break;
    }
    case 'append-entries-response':
      message = {
        ...base,
        type,
        success: p.success === true,
        matchIndex: u64(p.match_index, 'match_index'),
        rejectedIndex: u64(p.rejected_index, 'rejected_index'),
        conflictTerm: u64(p.conflict_term, 'conflict_term'),
        conflictIndex: u64(p.conflict_index, 'conflict_index'),
        seq: u64(p.seq, 'seq'),
      };
      break;
    case 'install-snapshot':
      if (!p.snapshot) throw new WireError('install-snapshot without a snapshot');
      message = { ...base, type, snapshot: snapshotFromPb(p.snapshot), seq: u64(p.seq, 'seq') };
      break;
    case 'timeout-now':
      message = { ...base, type };
      break;
  }
  return { group, message };
}
