/**
 * The `ferrymq bench` commands: option declarations (commander) and the run
 * itself — progress on stderr, the table or JSON on stdout. Ctrl-C ends the
 * measured window early and still prints the figures.
 */
import { type Command, Option } from 'commander';
import { FerryError } from '../errors.ts';
import { runKafkaBench } from './kafka.ts';
import { runMqttBench } from './mqtt.ts';
import {
  KAFKA_SCENARIOS,
  LIMITS,
  MQTT_SCENARIOS,
  parseKafkaOptions,
  parseMqttOptions,
  type RawOptions,
} from './options.ts';
import { type BenchReport, progressLine, renderReport } from './report.ts';
import type { RunHooks } from './runner.ts';

function common(c: Command): Command {
  return c
    .option('-d, --duration <s>', 'seconds of measured load', '10')
    .option('--warmup <s>', 'seconds of load before the measured window', '0')
    .option('-r, --rate <n>', 'messages/s over all senders; 0 = unthrottled', '0')
    .option(
      '-w, --workers <n>',
      `load-generator threads (1-${LIMITS.workers}; default: cores - 1, at most 4)`,
    )
    .option('--json', 'print the result as one JSON object instead of the table')
    .option('--progress', 'print a progress line every second even when stderr is not a terminal')
    .option('--no-progress', 'never print the progress line');
}

async function execute(
  run: (hooks: RunHooks) => Promise<BenchReport>,
  raw: RawOptions,
  json: boolean,
): Promise<void> {
  const tty = process.stderr.isTTY === true;
  const progress =
    raw.progress === true ? (tty ? 'tty' : 'lines') : raw.progress === false ? 'off' : tty ? 'tty' : 'off';
  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((r) => {
    stop = r;
  });
  const onSigint = (): void => {
    process.stderr.write('\nstopping: the figures so far follow (Ctrl-C again to abort)\n');
    process.off('SIGINT', onSigint);
    stop();
  };
  process.on('SIGINT', onSigint);
  let acks = false;
  try {
    const report = await run({
      stopSignal,
      onTick: (t) => {
        acks ||= t.totals.acked > 0;
        if (progress === 'off') return;
        const line = progressLine(t, acks);
        process.stderr.write(progress === 'tty' ? `\r\x1b[2K${line}` : `${line}\n`);
      },
    });
    if (progress === 'tty') process.stderr.write('\n');
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  } catch (e) {
    if (progress === 'tty') process.stderr.write('\n');
    const err =
      e instanceof FerryError
        ? e
        : new FerryError('FERRY_ERR_BENCH_FAILED', (e as Error).message, { cause: e });
    process.stderr.write(`ferrymq: bench failed: ${err.message} [${err.code}]\n`);
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Options are checked before anything connects; a bad one is a usage error. */
function guard<T>(parse: () => T, fail: (message: string) => never): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof FerryError) fail(e.message);
    throw e;
  }
}

export function registerBench(program: Command, fail: (message: string) => never): void {
  const bench = program
    .command('bench')
    .description('load generator for any MQTT or Kafka-protocol broker (throughput, latency, connections)');

  common(
    bench
      .command('mqtt')
      .description('MQTT load: conn (idle connections), pub, sub, pubsub')
      .argument('<scenario>', MQTT_SCENARIOS.join(' | '))
      .option('-H, --host <host[:port]>', 'broker address', '127.0.0.1')
      .option('-p, --port <port>', 'broker port (default 1883, or the one in --host)')
      .addOption(
        new Option('-V, --mqtt-version <v>', 'protocol version').choices(['3.1.1', '5']).default('3.1.1'),
      )
      .option('-c, --connections <n>', 'conn: connections to open and hold', '1000')
      .option('-P, --publishers <n>', 'publishing clients (pub, pubsub; default 1)')
      .option('-S, --subscribers <n>', 'subscribing clients (sub, pubsub; default 1)')
      .option('-t, --topic <template>', 'topic; %i is the topic number', 'ferrymq-bench/%i')
      .option('-T, --topics <n>', 'topics: publisher/subscriber i uses topic i % n', '1')
      .option(
        '-f, --filter <template>',
        'subscription filter (default: the topic template); %i as in --topic',
      )
      .option(
        '--shared [group]',
        'shared subscription: subscribe to $share/<group>/<filter> (group default "bench")',
      )
      .addOption(
        new Option('-q, --qos <n>', 'QoS of publishes and subscriptions')
          .choices(['0', '1', '2'])
          .default('0'),
      )
      .option('-s, --size <bytes>', 'payload bytes (12 or more carry the send time for latency)', '64')
      .option(
        '--inflight <n>',
        'unacknowledged QoS 1/2 publishes per publisher (capped by the broker Receive Maximum)',
        '64',
      )
      .option('-k, --keepalive <s>', 'keepalive', '60')
      .option('--client-id <prefix>', 'client id prefix (default fmqb-<pid>)')
      .option('--tls', 'MQTT over TLS')
      .option('--ca <file>', 'PEM CA certificate(s) to verify the broker with (implies --tls)')
      .option('--insecure', 'do not verify the broker certificate (implies --tls)')
      .option('-u, --username <name>', 'username')
      .option('--password <password>', 'password')
      .option('--local-address <list>', 'source addresses to spread connections over: a,b or 127.0.0.1-8')
      .option(
        '--connect-rate <n>',
        'conn: connections opened per second; 0 = as fast as the broker accepts',
        '0',
      )
      .option(
        '--window <n>',
        'pubsub, unthrottled: at most n messages published but not yet received (0: no limit but TCP)',
        '0',
      )
      .option('--fanout <n>', 'pubsub with --window: subscribers that receive each message', '1'),
  ).action(async (scenario: string, raw: RawOptions) => {
    const o = guard(() => parseMqttOptions(scenario, raw), fail);
    await execute((h) => runMqttBench(o, h), raw, o.json);
  });

  common(
    bench
      .command('kafka')
      .description(
        'Kafka-protocol load: produce, consume (consume ends early once it has caught up: no record for 1 s)',
      )
      .argument('<scenario>', KAFKA_SCENARIOS.join(' | '))
      .option('-b, --bootstrap <host:port>', 'a broker of the cluster', '127.0.0.1:9092')
      .option('-t, --topic <name>', 'topic', 'ferrymq-bench')
      .option(
        '--partitions <n>',
        'create the topic with n partitions if it does not exist (0: auto-created by the broker)',
        '0',
      )
      .option('-s, --size <bytes>', 'record value bytes (12 or more carry the send time for latency)', '100')
      .addOption(new Option('--acks <n>', 'produce acks').choices(['0', '1', '-1', 'all']).default('1'))
      .option('--batch-size <bytes>', 'record bytes per batch and partition (like batch.size)', '16384')
      .option('--linger <ms>', 'wait up to this long for a batch to fill (like linger.ms)', '5')
      .option('--inflight <n>', 'produce requests in flight per connection', '5')
      .option('--producers <n>', 'produce: producer connections', '1')
      .option('--consumers <n>', 'consume: consumers', '1')
      .option(
        '-g, --group [id]',
        'consume: join a consumer group (classic protocol) instead of assigning partitions',
      )
      .addOption(
        new Option(
          '--from <where>',
          'consume: start offset (latency is now − the record stamp: meaningful with latest while a producer runs)',
        )
          .choices(['earliest', 'latest'])
          .default('earliest'),
      )
      .option('--fetch-max-bytes <n>', 'consume: max bytes per fetch', String(1024 * 1024))
      .option('--fetch-max-wait <ms>', 'consume: max wait of a fetch', '100')
      .option('--client-id <id>', 'Kafka client id', 'ferrymq-bench'),
  ).action(async (scenario: string, raw: RawOptions) => {
    const o = guard(() => parseKafkaOptions(scenario, raw), fail);
    await execute((h) => runKafkaBench(o, h), raw, o.json);
  });
}
