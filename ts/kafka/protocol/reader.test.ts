import { describe, expect, it } from 'vitest';
import { KafkaProtocolError } from './errors.ts';
import {
  ApiVersions,
  decodeRequestHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  Fetch,
  Metadata,
  requestHeaderVersion,
  responseHeaderVersion,
} from './generated/index.ts';
import { KafkaReader } from './reader.ts';
import { KafkaWriter } from './writer.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const reader = (s: string) => new KafkaReader(hex(s));
const written = (fn: (w: KafkaWriter) => void) => KafkaWriter.encode(fn).toString('hex');

function kind(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof KafkaProtocolError) return e.kind;
    throw e;
  }
  return 'none';
}

describe('KafkaReader and KafkaWriter', () => {
  it('keeps big byte fields by reference and joins them in order, the same bytes as copying', () => {
    const big = (n: number, fill: number) => Buffer.alloc(n, fill);
    const fields = [big(10, 1), big(20_000, 2), big(5, 3), big(70_000, 4), big(16 * 1024, 5), big(1, 6)];
    const w = new KafkaWriter(8);
    for (const [i, f] of fields.entries()) {
      w.int32(i);
      w.bytes(f, i % 2 === 0);
    }
    const out = w.finish();
    expect(out.length).toBe(w.length);
    const expected = Buffer.concat(
      fields.flatMap((f, i) => {
        const head = Buffer.alloc(4);
        head.writeInt32BE(i);
        const compact = i % 2 === 0;
        const prefix = compact ? KafkaWriter.encode((x) => x.uvarint(f.length + 1)) : Buffer.alloc(4);
        if (!compact) prefix.writeInt32BE(f.length);
        return [head, prefix, f];
      }),
    );
    expect(out.equals(expected)).toBe(true);
    const r = new KafkaReader(out);
    for (const [i, f] of fields.entries()) {
      expect(r.int32()).toBe(i);
      expect(Buffer.from(r.bytes(i % 2 === 0)).equals(f)).toBe(true);
    }
  });

  it('encode unsigned varints as LEB128, up to 32 bits', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [1, '01'],
      [127, '7f'],
      [128, '8001'],
      [300, 'ac02'],
      [2 ** 32 - 1, 'ffffffff0f'],
    ];
    for (const [n, bytes] of cases) {
      expect(written((w) => w.uvarint(n))).toBe(bytes);
      expect(reader(bytes).uvarint()).toBe(n);
    }
    expect(kind(() => reader('ffffffff1f').uvarint())).toBe('malformed');
    expect(kind(() => reader('ffffffffff01').uvarint())).toBe('malformed');
    expect(kind(() => reader('80').uvarint())).toBe('truncated');
  });

  it('zigzag-encode signed varints and varlongs', () => {
    const ints: [number, string][] = [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [-64, '7f'],
      [64, '8001'],
      [2 ** 31 - 1, 'feffffff0f'],
      [-(2 ** 31), 'ffffffff0f'],
    ];
    for (const [n, bytes] of ints) {
      expect(written((w) => w.varint(n))).toBe(bytes);
      expect(reader(bytes).varint()).toBe(n);
    }
    const longs: [bigint, string][] = [
      [0n, '00'],
      [-1n, '01'],
      [2n ** 63n - 1n, 'feffffffffffffffff01'],
      [-(2n ** 63n), 'ffffffffffffffffff01'],
    ];
    for (const [n, bytes] of longs) {
      expect(written((w) => w.varlong(n))).toBe(bytes);
      expect(reader(bytes).varlong()).toBe(n);
    }
    expect(kind(() => reader('ffffffffffffffffff03').varlong())).toBe('malformed');
  });

  it('read classic and compact strings, bytes and nulls', () => {
    expect(reader('0003616263').string(false)).toBe('abc');
    expect(reader('04616263').string(true)).toBe('abc');
    expect(reader('ffff').nullableString(false)).toBeNull();
    expect(reader('00').nullableString(true)).toBeNull();
    expect(reader('ffffffff').nullableBytes(false)).toBeNull();
    expect(reader('0301 02').bytes(true)).toEqual(Buffer.from([1, 2]));
    expect(kind(() => reader('ffff').string(false))).toBe('malformed');
    expect(kind(() => reader('00').string(true))).toBe('malformed');
    expect(kind(() => reader('fffe').nullableString(false))).toBe('malformed');
    expect(kind(() => reader('7fff 61').string(false))).toBe('truncated');
  });

  it('refuse an array count that cannot fit in the bytes left, before allocating anything', () => {
    expect(kind(() => reader('7fffffff 00000000').arrayLength(false, false, 4))).toBe('truncated');
    expect(kind(() => reader('ffffffff0f').arrayLength(true, false, 1))).toBe('truncated');
    expect(reader('ffffffff').arrayLength(false, true, 4)).toBe(-1);
    expect(kind(() => reader('ffffffff').arrayLength(false, false, 4))).toBe('malformed');
    expect(reader('03 0000 0000').arrayLength(true, false, 2)).toBe(2);
  });

  it('write tagged fields in ascending tag order, known and unknown together', () => {
    const known = [
      { tag: 3, data: Buffer.from([3]) },
      { tag: 1, data: Buffer.from([1]) },
    ];
    expect(written((w) => w.taggedFields(known, [{ tag: 2, data: Buffer.from([2, 2]) }]))).toBe(
      '03' + '010101' + '02020202' + '030103',
    );
  });

  it('give views into the input for byte fields, never reading past a sub-reader', () => {
    const buf = hex('0a 0b 0c 0d');
    const r = new KafkaReader(buf);
    const sub = r.sub(2);
    expect(sub.remaining()).toBe(2);
    expect(kind(() => sub.int32())).toBe('truncated');
    expect(r.int16()).toBe(0x0c0d);
    expect(kind(() => r.int8())).toBe('truncated');
  });
});

describe('generated codec, byte for byte against the spec', () => {
  it('RequestHeader v2 keeps a classic (non-compact) client id, then tagged fields', () => {
    const value = { requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: 'c' };
    const bytes = encodeRequestHeader(2, value);
    expect(bytes.toString('hex')).toBe('0012 0003 00000007 0001 63 00'.replace(/ /g, ''));
    expect(decodeRequestHeader(2, new KafkaReader(bytes))).toEqual(value);
    expect(encodeRequestHeader(1, { ...value, clientId: null }).toString('hex')).toBe('0012000300000007ffff');
    // v0 has no ClientId (and it is not ignorable, so it must hold its default).
    expect(encodeRequestHeader(0, { ...value, clientId: '' }).toString('hex')).toBe('0012000300000007');
    expect(kind(() => encodeRequestHeader(0, value))).toBe('unsupported-version');
  });

  it('ResponseHeader v1 adds an empty tagged-field section; ApiVersions always answers with v0', () => {
    expect(encodeResponseHeader(0, { correlationId: 7 }).toString('hex')).toBe('00000007');
    expect(encodeResponseHeader(1, { correlationId: 7 }).toString('hex')).toBe('0000000700');
    expect(responseHeaderVersion(18, 3)).toBe(0);
    expect(responseHeaderVersion(3, 9)).toBe(1);
    expect(responseHeaderVersion(3, 8)).toBe(0);
    expect(requestHeaderVersion(18, 3)).toBe(2);
    expect(requestHeaderVersion(18, 2)).toBe(1);
  });

  it('ApiVersionsRequest v3: compact strings and a tagged-field count', () => {
    const bytes = ApiVersions.encodeApiVersionsRequest(3, {
      clientSoftwareName: 'a',
      clientSoftwareVersion: '1',
    });
    expect(bytes.toString('hex')).toBe('0261023100');
    expect(ApiVersions.encodeApiVersionsRequest(2, ApiVersions.defaultApiVersionsRequest()).length).toBe(0);
  });

  it('ApiVersionsResponse v3 writes a tagged field only when it differs from its default', () => {
    const value = { ...ApiVersions.defaultApiVersionsResponse(), zkMigrationReady: true };
    // error code, empty compact array, throttle time, 1 tagged field: tag 3, size 1, true
    expect(ApiVersions.encodeApiVersionsResponse(3, value).toString('hex')).toBe(
      '0000 01 00000000 01 03 01 01'.replace(/ /g, ''),
    );
    expect(
      ApiVersions.encodeApiVersionsResponse(3, ApiVersions.defaultApiVersionsResponse()).toString('hex'),
    ).toBe('00000100000000' + '00');
    const back = ApiVersions.decodeApiVersionsResponse(
      3,
      new KafkaReader(hex('0000 01 00000000 01 03 01 01')),
    );
    expect(back.zkMigrationReady).toBe(true);
  });

  it('MetadataRequest v0 is a classic array of strings; v1 allows it to be null', () => {
    const bytes = Metadata.encodeMetadataRequest(0, {
      ...Metadata.defaultMetadataRequest(),
      topics: [{ ...Metadata.defaultMetadataRequestTopic(), name: 't' }],
    });
    expect(bytes.toString('hex')).toBe('00000001' + '0001' + '74');
    const all = Metadata.decodeMetadataRequest(1, new KafkaReader(hex('ffffffff')));
    expect(all.topics).toBeNull();
    expect(kind(() => Metadata.decodeMetadataRequest(0, new KafkaReader(hex('ffffffff'))))).toBe('malformed');
  });

  it('refuses to encode a non-ignorable field that the version cannot carry', () => {
    const value = { ...Metadata.defaultMetadataRequest(), topics: [] };
    // AllowAutoTopicCreation exists from v4 and is not ignorable.
    expect(kind(() => Metadata.encodeMetadataRequest(3, { ...value, allowAutoTopicCreation: false }))).toBe(
      'unsupported-version',
    );
    expect(
      Metadata.encodeMetadataRequest(3, { ...value, allowAutoTopicCreation: true }).toString('hex'),
    ).toBe('00000000');
  });

  it('keeps Fetch records as the bytes that came in', () => {
    const records = Buffer.from('record-batch-bytes');
    const partition = { ...Fetch.defaultPartitionData(), partitionIndex: 1, records };
    const response = {
      ...Fetch.defaultFetchResponse(),
      responses: [{ ...Fetch.defaultFetchableTopicResponse(), topic: 't', partitions: [partition] }],
    };
    for (const version of [4, 12, 16]) {
      const bytes = Fetch.encodeFetchResponse(version, response);
      const back = Fetch.decodeFetchResponse(version, new KafkaReader(bytes));
      const got = back.responses[0]?.partitions[0]?.records;
      expect(Buffer.isBuffer(got) && got.buffer === bytes.buffer).toBe(true);
      expect(got).toEqual(records);
    }
  });
});
