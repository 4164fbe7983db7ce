/**
 * Binary encodings of the Raft data the meta service stores in the KV
 * (namespace `raft`): log entries, hard state and snapshots, and the keys
 * they live under. Keys are `[group u16][kind u8][index u64]`, all
 * big-endian, so a prefix scan of `[group][kind]` returns a group's rows in
 * index order and groups never interleave.
 *
 * The log is stored as runs: one row per run of consecutive entries written
 * together (one Ready's appends), keyed by the run's first index, holding
 * `[count u32]` then `[length u32][entry]` per entry. One row per Ready
 * instead of one per entry keeps the KV batch, and its conversion across
 * N-API, small under load. Rows of one entry each (kind `entry`, the
 * earlier layout) are still read, and rewritten only as they are deleted.
 *
 * Decoding checks every length against the buffer: a stored value that does
 * not parse is `FERRY_ERR_CORRUPT`, never a half-read entry.
 */
import { FerryError } from '../errors.ts';
import type { HardState, Index, LogEntry, NodeId, Snapshot } from '../raft/types.ts';

export const RAFT_NS = 'raft';

export const KEY_HARD_STATE = 0;
export const KEY_SNAPSHOT = 1;
export const KEY_ENTRY = 2;
export const KEY_RUN = 3;

const ENTRY_COMMAND = 1;
const ENTRY_NOOP = 2;
const ENTRY_CONFIG = 3;

/** Group ids fit a u16: the metadata group plus the sharded groups. */
export const GROUP_ID_MAX = 0xffff;

function corrupt(what: string): FerryError {
  return new FerryError('FERRY_ERR_CORRUPT', `raft store: ${what}`);
}

function writeU64(b: Buffer, n: number, at: number): void {
  b.writeUInt32BE(Math.floor(n / 2 ** 32), at);
  b.writeUInt32BE(n >>> 0, at + 4);
}

function readU64(b: Buffer, at: number): number {
  if (at + 8 > b.length) throw corrupt('value too short');
  const n = b.readUInt32BE(at) * 2 ** 32 + b.readUInt32BE(at + 4);
  if (!Number.isSafeInteger(n)) throw corrupt('index or term above 2^53');
  return n;
}

export function groupPrefix(group: number, kind: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUInt16BE(group, 0);
  b.writeUInt8(kind, 2);
  return b;
}

export function entryKey(group: number, index: Index): Buffer {
  const b = Buffer.alloc(11);
  b.writeUInt16BE(group, 0);
  b.writeUInt8(KEY_ENTRY, 2);
  writeU64(b, index, 3);
  return b;
}

export function indexOfEntryKey(key: Buffer): Index {
  if (key.length !== 11) throw corrupt('entry key of the wrong length');
  return readU64(key, 3);
}

/** The key of the run starting at `first`. */
export function runKey(group: number, first: Index): Buffer {
  const b = entryKey(group, first);
  b.writeUInt8(KEY_RUN, 2);
  return b;
}

function writeVoters(b: Buffer, voters: readonly NodeId[], at: number): number {
  b.writeUInt32BE(voters.length, at);
  let p = at + 4;
  for (const v of voters) {
    b.writeUInt32BE(v, p);
    p += 4;
  }
  return p;
}

function readVoters(b: Buffer, at: number): { voters: NodeId[]; end: number } {
  if (at + 4 > b.length) throw corrupt('voter count missing');
  const n = b.readUInt32BE(at);
  if (at + 4 + n * 4 > b.length) throw corrupt('voter list past the value');
  const voters: NodeId[] = [];
  for (let i = 0; i < n; i++) voters.push(b.readUInt32BE(at + 4 + i * 4));
  return { voters, end: at + 4 + n * 4 };
}

export function encodeEntry(e: LogEntry): Buffer {
  switch (e.type) {
    case 'command': {
      const b = Buffer.allocUnsafe(9 + e.data.length);
      b.writeUInt8(ENTRY_COMMAND, 0);
      writeU64(b, e.term, 1);
      b.set(e.data, 9);
      return b;
    }
    case 'noop': {
      const b = Buffer.alloc(9);
      b.writeUInt8(ENTRY_NOOP, 0);
      writeU64(b, e.term, 1);
      return b;
    }
    case 'config': {
      const b = Buffer.alloc(13 + e.voters.length * 4);
      b.writeUInt8(ENTRY_CONFIG, 0);
      writeU64(b, e.term, 1);
      writeVoters(b, e.voters, 9);
      return b;
    }
  }
}

export function decodeEntry(index: Index, b: Buffer): LogEntry {
  if (b.length < 9) throw corrupt(`entry ${index} too short`);
  const term = readU64(b, 1);
  switch (b.readUInt8(0)) {
    case ENTRY_COMMAND:
      // A copy: the state machine may keep the bytes after the scan buffer is gone.
      return { type: 'command', index, term, data: new Uint8Array(b.subarray(9)) };
    case ENTRY_NOOP:
      return { type: 'noop', index, term };
    case ENTRY_CONFIG:
      return { type: 'config', index, term, voters: readVoters(b, 9).voters };
    default:
      throw corrupt(`entry ${index} has an unknown type`);
  }
}

/** Consecutive entries as one value: `[count u32]` then `[length u32][entry]` each. */
export function encodeRun(entries: readonly LogEntry[]): Buffer {
  const encoded = entries.map(encodeEntry);
  let size = 4;
  for (const e of encoded) size += 4 + e.length;
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(encoded.length, 0);
  let p = 4;
  for (const e of encoded) {
    b.writeUInt32BE(e.length, p);
    b.set(e, p + 4);
    p += 4 + e.length;
  }
  return b;
}

/** The entries of the run starting at `first`; every length is checked against the value. */
export function decodeRun(first: Index, b: Buffer): LogEntry[] {
  if (b.length < 4) throw corrupt(`run at ${first} too short`);
  const n = b.readUInt32BE(0);
  if (n === 0) throw corrupt(`run at ${first} is empty`);
  const out: LogEntry[] = [];
  let p = 4;
  for (let i = 0; i < n; i++) {
    if (p + 4 > b.length) throw corrupt(`run at ${first}: entry ${i} past the value`);
    const len = b.readUInt32BE(p);
    if (p + 4 + len > b.length) throw corrupt(`run at ${first}: entry ${i} past the value`);
    out.push(decodeEntry(first + i, b.subarray(p + 4, p + 4 + len)));
    p += 4 + len;
  }
  if (p !== b.length) throw corrupt(`run at ${first}: bytes after its ${n} entries`);
  return out;
}

export function encodeHardState(h: HardState): Buffer {
  const b = Buffer.alloc(12);
  writeU64(b, h.term, 0);
  b.writeUInt32BE(h.vote, 8);
  return b;
}

export function decodeHardState(b: Buffer): HardState {
  if (b.length !== 12) throw corrupt('hard state of the wrong length');
  return { term: readU64(b, 0), vote: b.readUInt32BE(8) };
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const b = Buffer.allocUnsafe(20 + s.meta.voters.length * 4 + s.data.length);
  writeU64(b, s.meta.index, 0);
  writeU64(b, s.meta.term, 8);
  const end = writeVoters(b, s.meta.voters, 16);
  b.set(s.data, end);
  return b;
}

export function decodeSnapshot(b: Buffer): Snapshot {
  const index = readU64(b, 0);
  const term = readU64(b, 8);
  const { voters, end } = readVoters(b, 16);
  return { meta: { index, term, voters }, data: new Uint8Array(b.subarray(end)) };
}
