import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ApiDef,
  type FieldDef,
  type FieldType,
  fileNameOf,
  GENERATED_DIR,
  generateModule,
  inVersions,
  loadApis,
  loadHeaders,
  type MessageDef,
  type MessageSpec,
  resolveMessage,
  type StructDef,
  writeGenerated,
} from '../../../scripts/gen-kafka-protocol.ts';
import { KafkaProtocolError } from './errors.ts';
import { KafkaReader } from './reader.ts';

type Codec = Record<string, (...args: unknown[]) => unknown>;

const apis = loadApis();
const headers = loadHeaders();
const modules = new Map<string, Codec>();
for (const a of apis) modules.set(a.api, (await import(`./generated/${fileNameOf(a.api)}.ts`)) as Codec);
const headerModule = (await import('./generated/headers.ts')) as Codec;

/** Mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

function int(rnd: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

/** A value for every field valid in `version`, driven by the spec; other fields keep their defaults. */
function sampleStruct(
  s: StructDef,
  version: number,
  rnd: () => number,
  codec: Codec,
): Record<string, unknown> {
  const value = (codec[`default${s.name}`] as () => Record<string, unknown>)();
  for (const f of s.fields) {
    if (!inVersions(version, f.versions)) continue;
    value[f.prop] = sampleField(f, version, rnd, codec);
  }
  return value;
}

function sampleField(f: FieldDef, version: number, rnd: () => number, codec: Codec): unknown {
  if (inVersions(version, f.nullable) && rnd() < 0.2) return null;
  return sampleType(f.type, version, rnd, codec);
}

function sampleType(t: FieldType, version: number, rnd: () => number, codec: Codec): unknown {
  if (t.kind === 'struct') return sampleStruct(t.struct, version, rnd, codec);
  if (t.kind === 'array')
    return Array.from({ length: int(rnd, 0, 3) }, () => sampleType(t.element, version, rnd, codec));
  switch (t.name) {
    case 'int8':
      return int(rnd, -128, 127);
    case 'int16':
      return int(rnd, -32768, 32767);
    case 'uint16':
      return int(rnd, 0, 65535);
    case 'int32':
      return int(rnd, -(2 ** 31), 2 ** 31 - 1);
    case 'uint32':
      return int(rnd, 0, 2 ** 32 - 1);
    case 'int64':
      return randomBytes(rnd, 8).readBigInt64BE();
    case 'float64':
      return (rnd() - 0.5) * 1e9;
    case 'bool':
      return rnd() < 0.5;
    case 'string':
      return 'héllo-wörld'.slice(0, int(rnd, 0, 11));
    case 'uuid':
      return randomBytes(rnd, 16).toString('base64url');
    case 'bytes':
    case 'records':
      return randomBytes(rnd, int(rnd, 0, 12));
    default:
      throw new Error(`no sample for ${t.name}`);
  }
}

interface Case {
  api: string;
  msg: MessageDef;
  version: number;
  codec: Codec;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const a of apis as ApiDef[]) {
    const codec = modules.get(a.api) as Codec;
    for (const msg of [a.request, a.response]) {
      for (let v = msg.valid.lo; v <= msg.valid.hi; v++) out.push({ api: a.api, msg, version: v, codec });
    }
  }
  for (const msg of headers) {
    for (let v = msg.valid.lo; v <= msg.valid.hi; v++)
      out.push({ api: 'headers', msg, version: v, codec: headerModule });
  }
  return out;
}

const all = cases();

function encode(c: Case, value: unknown): Buffer {
  return (c.codec[`encode${c.msg.name}`] as (v: number, x: unknown) => Buffer)(c.version, value);
}

function decode(c: Case, bytes: Buffer): { value: unknown; left: number } {
  const r = new KafkaReader(bytes);
  const value = (c.codec[`decode${c.msg.name}`] as (v: number, r: KafkaReader) => unknown)(c.version, r);
  return { value, left: r.remaining() };
}

describe('generated Kafka codec', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ferrymq-kafka-gen-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('is what scripts/gen-kafka-protocol.ts produces (regenerate: node scripts/gen-kafka-protocol.ts)', () => {
    const names = writeGenerated(tmp).sort();
    expect(readdirSync(GENERATED_DIR).sort()).toEqual(names);
    for (const name of names) {
      const fresh = readFileSync(join(tmp, name), 'utf8');
      const committed = readFileSync(join(GENERATED_DIR, name), 'utf8');
      expect(committed, name).toBe(fresh);
    }
  });

  it('covers every served API and header version', () => {
    expect(apis).toHaveLength(27);
    expect(all.length).toBeGreaterThan(300);
  });

  it('round-trips a spec-driven sample of every message in every version', () => {
    const rnd = prng(1);
    for (const c of all) {
      for (let round = 0; round < 4; round++) {
        const value = sampleStruct(c.msg.root, c.version, rnd, c.codec);
        const bytes = encode(c, value);
        const { value: back, left } = decode(c, bytes);
        const label = `${c.msg.name} v${c.version} round ${round}`;
        expect(left, label).toBe(0);
        expect(back, label).toEqual(value);
        expect(encode(c, back).equals(bytes), label).toBe(true);
      }
    }
  });

  it('round-trips the defaults of every message in every version', () => {
    for (const c of all) {
      const value = (c.codec[`default${c.msg.name}`] as () => unknown)();
      const { value: back, left } = decode(c, encode(c, value));
      expect(left).toBe(0);
      expect(back, `${c.msg.name} v${c.version}`).toEqual(value);
    }
  });

  it('keeps unknown tagged fields in flexible versions and writes them back', () => {
    const rnd = prng(2);
    for (const c of all.filter((x) => inVersions(x.version, x.msg.flexible))) {
      const value = sampleStruct(c.msg.root, c.version, rnd, c.codec);
      value.unknownTaggedFields = [
        { tag: 90, data: Buffer.from([1, 2, 3]) },
        { tag: 1000, data: Buffer.alloc(0) },
      ];
      const bytes = encode(c, value);
      const { value: back } = decode(c, bytes);
      expect(back, `${c.msg.name} v${c.version}`).toEqual(value);
      expect(encode(c, back).equals(bytes)).toBe(true);
    }
  });

  it('refuses versions outside the valid range', () => {
    for (const msg of [...apis.flatMap((a) => [a.request, a.response])]) {
      const codec = all.find((c) => c.msg === msg)?.codec as Codec;
      const c: Case = { api: '', msg, version: msg.valid.hi + 1, codec };
      expect(() => encode(c, {})).toThrow(KafkaProtocolError);
      expect(() => decode(c, Buffer.alloc(64))).toThrow(KafkaProtocolError);
    }
  });

  it('throws KafkaProtocolError, and nothing else, on truncated, corrupted and random input', () => {
    const rnd = prng(3);
    const tryDecode = (c: Case, bytes: Buffer): void => {
      try {
        decode(c, bytes);
      } catch (e) {
        if (!(e instanceof KafkaProtocolError)) {
          throw new Error(`${c.msg.name} v${c.version} on ${bytes.toString('hex')}: ${String(e)}`);
        }
        expect(e.code).toBe('FERRY_ERR_FRAME_MALFORMED');
      }
    };
    for (const c of all) {
      const valid = encode(c, sampleStruct(c.msg.root, c.version, rnd, c.codec));
      // Every strict prefix of a message is missing bytes the decoder needs.
      const step = Math.max(1, Math.floor(valid.length / 24));
      for (let n = 0; n < valid.length; n += step) {
        expect(() => decode(c, valid.subarray(0, n)), `${c.msg.name} v${c.version} cut at ${n}`).toThrow(
          KafkaProtocolError,
        );
      }
      for (let i = 0; i < 24; i++) {
        const flipped = Buffer.from(valid);
        if (flipped.length > 0) flipped[int(rnd, 0, flipped.length - 1)] = int(rnd, 0, 255);
        tryDecode(c, flipped);
        tryDecode(c, randomBytes(rnd, int(rnd, 0, 48)));
      }
      // Counts and lengths forged to the maximum.
      tryDecode(c, Buffer.alloc(32, 0xff));
      tryDecode(c, Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]));
    }
  });
});

// Field types and features the served APIs do not use today, on a made-up
// message, so the generator's code for them is exercised too.
const SYNTHETIC: MessageSpec = {
  apiKey: 32000,
  type: 'request',
  name: 'SyntheticRequest',
  validVersions: '0-3',
  flexibleVersions: '2+',
  fields: [
    { name: 'U16', type: 'uint16', versions: '0+' },
    { name: 'U32', type: 'uint32', versions: '0+' },
    { name: 'F64', type: 'float64', versions: '1+', default: '1.5' },
    { name: 'Max', type: 'int32', versions: '0+', default: '0x7fffffff' },
    { name: 'Long', type: 'int64', versions: '0+', default: '-2' },
    { name: 'Id', type: 'uuid', versions: '0+' },
    { name: 'Classic', type: 'string', versions: '0+', nullableVersions: '1+', flexibleVersions: 'none' },
    { name: 'Blob', type: 'bytes', versions: '0+', nullableVersions: '0+' },
    {
      name: 'Maybe',
      type: 'Inner',
      versions: '0+',
      nullableVersions: '1+',
      fields: [
        { name: 'A', type: 'int8', versions: '0+' },
        { name: 'Names', type: '[]string', versions: '0+', nullableVersions: '3+' },
      ],
    },
    { name: 'Shared', type: 'Common', versions: '0+' },
    { name: 'Shareds', type: '[]Common', versions: '1+', nullableVersions: '2+' },
    { name: 'Flags', type: '[]bool', versions: '0+' },
    { name: 'Old', type: 'int16', versions: '0-1', ignorable: true },
    {
      name: 'TaggedStr',
      type: 'string',
      versions: '2+',
      taggedVersions: '2+',
      tag: 5,
      nullableVersions: '2+',
      default: 'null',
    },
    { name: 'TaggedCommon', type: 'Common', versions: '3+', taggedVersions: '3+', tag: 1 },
  ],
  commonStructs: [
    {
      name: 'Common',
      versions: '0+',
      fields: [
        { name: 'X', type: 'int32', versions: '0+' },
        { name: 'Y', type: 'string', versions: '1+' },
      ],
    },
  ],
};

describe('scripts/gen-kafka-protocol.ts on a synthetic spec', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ferrymq-kafka-synthetic-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const msg = resolveMessage(SYNTHETIC);

  it('handles uint16/uint32/float64, hex and int64 defaults, nullable and common structs, classic strings in flexible versions', async () => {
    const file = join(tmp, 'synthetic.ts');
    writeFileSync(file, generateModule([msg], new URL('.', import.meta.url).pathname.replace(/\/$/, '')));
    const codec = (await import(file)) as Codec;
    const defaults = (codec.defaultSyntheticRequest as () => Record<string, unknown>)();
    expect(defaults).toMatchObject({
      f64: 1.5,
      max: 0x7fffffff,
      long: -2n,
      taggedStr: null,
      maybe: { a: 0 },
    });
    const rnd = prng(4);
    for (let version = 0; version <= 3; version++) {
      const c: Case = { api: 'synthetic', msg, version, codec };
      for (let round = 0; round < 20; round++) {
        const value = sampleStruct(msg.root, version, rnd, codec);
        const bytes = encode(c, value);
        const { value: back, left } = decode(c, bytes);
        expect(left).toBe(0);
        expect(back, `v${version} round ${round}`).toEqual(value);
        for (let n = 0; n < bytes.length; n++)
          expect(() => decode(c, bytes.subarray(0, n))).toThrow(KafkaProtocolError);
      }
    }
    // The classic string keeps its int16 length even in flexible v2.
    const v2 = encode({ api: '', msg, version: 2, codec }, { ...defaults, classic: 'ab' });
    expect(v2.includes(Buffer.from('0002' + '6162', 'hex'))).toBe(true);
    // A null struct in a version where it is not nullable is refused.
    expect(() => encode({ api: '', msg, version: 0, codec }, { ...defaults, maybe: null })).toThrow(
      KafkaProtocolError,
    );
    // Ignorable fields are dropped silently in versions that lack them; others are refused.
    expect(() => encode({ api: '', msg, version: 2, codec }, { ...defaults, old: 5 })).not.toThrow();
    expect(() => encode({ api: '', msg, version: 0, codec }, { ...defaults, f64: 2 })).toThrow(
      KafkaProtocolError,
    );
  });
});
