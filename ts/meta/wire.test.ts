import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { Message } from '../raft/types.ts';
import { loadService } from './raft-rpc.ts';
import { messageFromPb, messageToPb, type PbMessage, WireError } from './wire.ts';

const step = loadService().Step as grpc.MethodDefinition<
  { from: number; to: number; messages: PbMessage[] },
  object
>;

/** Through the real protobuf bytes, as the transport sends them. */
function roundTrip(group: number, m: Message): { group: number; message: Message } {
  const bytes = step.requestSerialize({ from: m.from, to: m.to, messages: [messageToPb(group, m)] });
  const back = step.requestDeserialize(bytes);
  return messageFromPb(back.messages[0] as PbMessage, back.from, back.to);
}

const base = { from: 2, to: 3, term: 7 };
const big = 2 ** 40;
const messages: Message[] = [
  { ...base, type: 'pre-vote', lastLogIndex: big, lastLogTerm: 6 },
  { ...base, type: 'pre-vote-response', granted: true },
  { ...base, type: 'request-vote', lastLogIndex: 10, lastLogTerm: 6, transfer: true },
  { ...base, type: 'request-vote-response', granted: false },
  {
    ...base,
    type: 'append-entries',
    prevLogIndex: 9,
    prevLogTerm: 6,
    entries: [
      { type: 'command', index: 10, term: 7, data: new Uint8Array([1, 2, 3]) },
      { type: 'noop', index: 11, term: 7 },
      { type: 'config', index: 12, term: 7, voters: [1, 2, 3, 4] },
    ],
    leaderCommit: 9,
    seq: 41,
  },
  {
    ...base,
    type: 'append-entries-response',
    success: false,
    matchIndex: 0,
    rejectedIndex: 9,
    conflictTerm: 5,
    conflictIndex: 4,
    seq: 41,
  },
  {
    ...base,
    type: 'install-snapshot',
    snapshot: { meta: { index: 100, term: 6, voters: [1, 2, 3] }, data: new Uint8Array([9, 9]) },
    seq: 3,
  },
  { ...base, type: 'timeout-now' },
];

describe('Raft messages on the wire', () => {
  it.each(messages.map((m) => [m.type, m] as const))('%s survives the protobuf round trip', (_t, m) => {
    const { group, message } = roundTrip(65_000, m);
    expect(group).toBe(65_000);
    expect(message).toEqual(m);
  });

  it('refuses what the core must never see', () => {
    const ok = messageToPb(1, messages[4] as Message);
    const bad = (patch: Partial<PbMessage>) => () => messageFromPb({ ...ok, ...patch }, 2, 3);
    expect(bad({ type: 'NOPE' })).toThrow(WireError);
    expect(bad({ term: '9007199254740993' })).toThrow(/2\^53/);
    expect(bad({ prev_log_index: '3' })).toThrow(/not contiguous/);
    expect(
      bad({ entries: [{ index: 10, term: 7, type: 'CONFIG', data: Buffer.alloc(0), voters: [] }] }),
    ).toThrow(/without voters/);
    expect(
      bad({ entries: [{ index: 10, term: 7, type: 'MYSTERY', data: Buffer.alloc(0), voters: [] }] }),
    ).toThrow(/entry type/);
    const snap = messageToPb(1, messages[6] as Message);
    expect(() => messageFromPb({ ...snap, snapshot: null }, 2, 3)).toThrow(/without a snapshot/);
    expect(() =>
      messageFromPb({ ...snap, snapshot: { index: 1, term: 1, voters: [0], data: Buffer.alloc(0) } }, 2, 3),
    ).toThrow(/node id 0/);
  });
});
