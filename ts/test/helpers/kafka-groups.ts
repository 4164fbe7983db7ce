/**
 * The broker and helpers the consumer-group e2e suites share
 * (ts/test/kafka/groups.e2e.test.ts, groups-raw.e2e.test.ts): short group
 * timeouts, Kafka's error codes they expect, start/stop with kafkajs.
 */
import { Kafka, logLevel } from 'kafkajs';
import { type BrokerProcess, spawnBroker } from './broker.ts';

export const ENV = {
  FERRYMQ_KAFKA__GROUP_INITIAL_REBALANCE_DELAY_MS: '300',
  FERRYMQ_KAFKA__GROUP_MIN_SESSION_TIMEOUT_MS: '500',
  FERRYMQ_KAFKA__GROUP_MAX_SESSION_TIMEOUT_MS: '60000',
};

export const E = {
  NONE: 0,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_REQUEST: 42,
  NON_EMPTY_GROUP: 68,
  GROUP_ID_NOT_FOUND: 69,
  MEMBER_ID_REQUIRED: 79,
  FENCED_INSTANCE_ID: 82,
};

export async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function start(
  dataDir?: string,
): Promise<{ broker: BrokerProcess; addr: string; kafka: Kafka }> {
  const broker = await spawnBroker({ env: ENV, ...(dataDir ? { dataDir } : {}) });
  await broker.ready;
  const addr = broker.listeners().kafka as string;
  const kafka = new Kafka({
    brokers: [addr],
    clientId: 'groups-e2e',
    logLevel: logLevel.NOTHING,
    retry: { retries: 5 },
  });
  return { broker, addr, kafka };
}

export async function stop(broker: BrokerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  broker.signal(signal);
  await broker.exited;
}
