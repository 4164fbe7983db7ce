// Bytes from a real client: kafkajs connects to a raw-TCP fake broker in this
// test, which decodes its ApiVersions and Metadata requests with the generated
// codec and answers with generated encoders, so both directions are checked
// against an independent implementation.
import { createServer, type Server, type Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaProtocolError } from './errors.ts';
import {
  ApiKey,
  ApiVersions,
  decodeRequestHeader,
  encodeResponseHeader,
  Metadata,
  requestHeaderVersion,
  responseHeaderVersion,
} from './generated/index.ts';
import { KafkaReader } from './reader.ts';

interface Seen {
  apiKey: number;
  apiVersion: number;
  clientId: string | null;
  correlationId: number;
  body: unknown;
  raw: Buffer;
}

const CLIENT_ID = 'ferrymq-codec-test';

describe('generated codec against kafkajs', () => {
  const seen: Seen[] = [];
  let server: Server;
  let port = 0;

  function reply(socket: Socket, apiKey: number, version: number, correlationId: number, body: Buffer): void {
    const head = encodeResponseHeader(responseHeaderVersion(apiKey, version), { correlationId });
    const size = Buffer.alloc(4);
    size.writeInt32BE(head.length + body.length);
    socket.write(Buffer.concat([size, head, body]));
  }

  function handle(socket: Socket, frame: Buffer): void {
    const r = new KafkaReader(frame);
    const apiKey = frame.readInt16BE(0);
    const apiVersion = frame.readInt16BE(2);
    const head = decodeRequestHeader(requestHeaderVersion(apiKey, apiVersion), r);
    let body: unknown;
    if (apiKey === ApiKey.ApiVersions) {
      body = ApiVersions.decodeApiVersionsRequest(apiVersion, r);
      const response = ApiVersions.defaultApiVersionsResponse();
      response.apiKeys = [
        { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 4 },
        { apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 12 },
      ];
      reply(
        socket,
        apiKey,
        apiVersion,
        head.correlationId,
        ApiVersions.encodeApiVersionsResponse(apiVersion, response),
      );
    } else if (apiKey === ApiKey.Metadata) {
      const request = Metadata.decodeMetadataRequest(apiVersion, r);
      body = request;
      const response = Metadata.defaultMetadataResponse();
      response.brokers = [{ nodeId: 0, host: '127.0.0.1', port, rack: null }];
      response.clusterId = 'ferrymq-test';
      response.controllerId = 0;
      response.topics = (request.topics ?? []).map((t) => ({
        ...Metadata.defaultMetadataResponseTopic(),
        name: t.name,
        partitions: [
          {
            ...Metadata.defaultMetadataResponsePartition(),
            partitionIndex: 0,
            leaderId: 0,
            replicaNodes: [0],
            isrNodes: [0],
          },
        ],
      }));
      reply(
        socket,
        apiKey,
        apiVersion,
        head.correlationId,
        Metadata.encodeMetadataResponse(apiVersion, response),
      );
    } else {
      socket.destroy();
      return;
    }
    seen.push({
      apiKey,
      apiVersion,
      clientId: 'clientId' in head ? head.clientId : null,
      correlationId: head.correlationId,
      body,
      raw: Buffer.from(frame),
    });
    // The request body must be consumed exactly.
    r.expectEnd(`api ${apiKey} v${apiVersion}`);
  }

  beforeAll(async () => {
    server = createServer((socket) => {
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 4) {
          const size = pending.readInt32BE(0);
          if (pending.length < 4 + size) break;
          const frame = pending.subarray(4, 4 + size);
          pending = pending.subarray(4 + size);
          try {
            handle(socket, frame);
          } catch (e) {
            seen.push({ apiKey: -1, apiVersion: -1, clientId: null, correlationId: -1, body: e, raw: frame });
            socket.destroy();
          }
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('decodes the ApiVersions and Metadata requests kafkajs sends, and kafkajs accepts the answers', async () => {
    const kafka = new Kafka({
      clientId: CLIENT_ID,
      brokers: [`127.0.0.1:${port}`],
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: ['codec-topic'] });
    await admin.disconnect();

    const failures = seen.filter((s) => s.apiKey === -1).map((s) => String(s.body));
    expect(failures).toEqual([]);
    expect(metadata.topics).toEqual([
      { name: 'codec-topic', partitions: [expect.objectContaining({ partitionId: 0, leader: 0 })] },
    ]);

    const apiVersions = seen.find((s) => s.apiKey === ApiKey.ApiVersions);
    expect(apiVersions?.clientId).toBe(CLIENT_ID);
    expect(apiVersions?.apiVersion).toBe(2); // kafkajs 2.x opens with ApiVersions v2
    const metadataRequests = seen.filter((s) => s.apiKey === ApiKey.Metadata);
    expect(metadataRequests.length).toBeGreaterThan(0);
    for (const m of metadataRequests) {
      expect(m.clientId).toBe(CLIENT_ID);
      expect(m.apiVersion).toBe(6); // the highest kafkajs knows, within what we advertised
    }
    const topicRequest = metadataRequests.find((m) =>
      (m.body as Metadata.MetadataRequest).topics?.some((t) => t.name === 'codec-topic'),
    );
    // kafkajs' admin never asks for automatic topic creation.
    expect(topicRequest?.body).toMatchObject({
      topics: [{ name: 'codec-topic' }],
      allowAutoTopicCreation: false,
    });
  });

  it('matches the bytes of kafkajs ApiVersions v2 request exactly when re-encoded', () => {
    const apiVersions = seen.find((s) => s.apiKey === ApiKey.ApiVersions);
    expect(apiVersions).toBeDefined();
    const raw = apiVersions?.raw as Buffer;
    // Header v1: api key 18, version 2, correlation id, client id; v2 request has no body.
    const expected = Buffer.alloc(10 + CLIENT_ID.length);
    expected.writeInt16BE(18, 0);
    expected.writeInt16BE(2, 2);
    expected.writeInt32BE(apiVersions?.correlationId ?? 0, 4);
    expected.writeInt16BE(CLIENT_ID.length, 8);
    expected.write(CLIENT_ID, 10);
    expect(raw.toString('hex')).toBe(expected.toString('hex'));
  });

  it('throws KafkaProtocolError on a kafkajs frame cut short', () => {
    const meta = seen.find((s) => s.apiKey === ApiKey.Metadata);
    const raw = meta?.raw as Buffer;
    const cut = raw.subarray(0, raw.length - 1);
    const r = new KafkaReader(cut);
    expect(() => {
      decodeRequestHeader(1, r);
      Metadata.decodeMetadataRequest(6, r);
    }).toThrow(KafkaProtocolError);
  });
});
