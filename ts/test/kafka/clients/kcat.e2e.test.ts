/**
 * kcat 1.7.1 as Debian 12 ships it (librdkafka 2.0.2, older than any other
 * client here), unchanged, against FerryMQ's Kafka listener: produces with
 * every codec, keys and headers, consumes them back, and really compresses:
 * the codec bits of the stored batches are checked through a raw Fetch;
 * its balanced consumer (-G) commits and resumes; -L reads metadata.
 * librdkafka decides per broker which codecs it may use from the APIs the
 * broker advertises (seen here with -d feature,msg: gzip and snappy were
 * off while Produce started at v3, LZ4 while FindCoordinator was not
 * served; ZSTD needs Produce v7); a codec it thinks unsupported is sent
 * uncompressed without an error, which only the stored bytes show.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker } from '../../helpers/broker.ts';
import {
  CODEC_ID,
  CODECS,
  kcatConsume,
  kcatProduce,
  ok,
  run,
  storedCodecs,
} from '../../helpers/kafka-clients.ts';

describe('kcat (librdkafka 2.0.2): every codec, keys and headers', () => {
  let broker: BrokerProcess;
  let addr: string;

  beforeAll(async () => {
    // A group's first join waits for more members (Kafka's default: 3 s); kcat -G is always alone.
    broker = await spawnBroker({ env: { FERRYMQ_KAFKA__GROUP_INITIAL_REBALANCE_DELAY_MS: '0' } });
    await broker.ready;
    addr = broker.listeners().kafka as string;
  });

  afterAll(async () => {
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('is the pinned kcat over librdkafka 2.0.2', async () => {
    const r = ok(await run('kcat', ['-V'], { timeoutMs: 10_000 }), 'kcat -V');
    expect(r.stdout).toMatch(/Version 1\.7\.1 .*librdkafka 2\.0\.2/);
  });

  it.each(CODECS)(
    'produces %s, reads it back, and the broker stored it compressed that way',
    async (codec) => {
      const topic = `kcat-${codec}-${randomUUID().slice(0, 8)}`;
      const messages = Array.from({ length: 20 }, (_, i) => ({
        key: `kcat-key-${i}`,
        value: `kcat-${codec}-${i}-${'abcdefgh'.repeat(16 + i)}`,
      }));
      const headers = { codec, origin: 'kcat' };
      await kcatProduce(addr, topic, codec, messages, headers);
      const got = await kcatConsume(addr, topic, messages.length);
      expect(got.map((m) => m.offset)).toEqual(messages.map((_, i) => i));
      expect(got.map((m) => ({ key: m.key, value: m.value, headers: m.headers }))).toEqual(
        messages.map((m) => ({ ...m, headers: Object.entries(headers) })),
      );
      const codecs = await storedCodecs(addr, topic);
      expect(codecs.length).toBeGreaterThan(0);
      expect(new Set(codecs)).toEqual(new Set([CODEC_ID[codec]]));
    },
  );

  it('kcat -G (the balanced consumer) commits on close and a later kcat -G resumes there; kcat -L lists the topic', async () => {
    const topic = `kcat-group-${randomUUID().slice(0, 8)}`;
    const group = `kcat-g-${randomUUID().slice(0, 8)}`;
    const first = Array.from({ length: 5 }, (_, i) => ({ key: `a${i}`, value: `first ${i}` }));
    const second = Array.from({ length: 3 }, (_, i) => ({ key: `b${i}`, value: `second ${i}` }));
    const readGroup = async (count: number) => {
      // No -o: kcat would seek every assigned partition there instead of using the committed offset.
      const r = ok(
        await run(
          'kcat',
          [
            '-b',
            addr,
            '-G',
            group,
            '-X',
            'auto.offset.reset=earliest',
            '-c',
            String(count),
            '-J',
            '-q',
            topic,
          ],
          { timeoutMs: 30_000 },
        ),
        'kcat -G',
      );
      return r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { offset: number; key: string });
    };
    await kcatProduce(addr, topic, 'gzip', first);
    expect((await readGroup(first.length)).map((m) => m.key)).toEqual(first.map((m) => m.key));
    await kcatProduce(addr, topic, 'gzip', second);
    const resumed = await readGroup(second.length);
    expect(resumed.map((m) => [m.offset, m.key])).toEqual(second.map((m, i) => [first.length + i, m.key]));

    const md = ok(await run('kcat', ['-b', addr, '-L', '-t', topic], { timeoutMs: 15_000 }), 'kcat -L');
    expect(md.stdout).toContain(`topic "${topic}" with 1 partitions:`);
    expect(md.stdout).toMatch(/partition 0, leader 1, replicas: 1, isrs: 1/);
  });
});
