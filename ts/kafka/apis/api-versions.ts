/** ApiVersions: the APIs and version ranges this broker serves (dispatch.ts SERVED_APIS). */

import { SERVED_APIS } from '../dispatch.ts';
import { KafkaError } from '../error-codes.ts';
import { ApiVersions } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

function response(errorCode: number): ApiVersions.ApiVersionsResponse {
  return {
    ...ApiVersions.defaultApiVersionsResponse(),
    errorCode,
    apiKeys: SERVED_APIS.map((a) => ({
      apiKey: a.apiKey,
      minVersion: a.minVersion,
      maxVersion: a.maxVersion,
    })).sort((a, b) => a.apiKey - b.apiKey),
  };
}

export async function handleApiVersions(_ctx: unknown, version: number, r: KafkaReader): Promise<Buffer> {
  ApiVersions.decodeApiVersionsRequest(version, r);
  return ApiVersions.encodeApiVersionsResponse(version, response(KafkaError.NONE));
}

/** The v0 body answering an ApiVersions version we do not serve (KIP-511). */
export function unsupportedApiVersions(): Buffer {
  return ApiVersions.encodeApiVersionsResponse(0, response(KafkaError.UNSUPPORTED_VERSION));
}
