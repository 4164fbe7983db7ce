import { FerryError } from '../../errors.ts';

/**
 * Why a Kafka message could not be decoded (or, for `unsupported-version`,
 * encoded). Decoding never throws anything but a KafkaProtocolError: callers
 * answer it with a Kafka error code or by closing the connection.
 */
export type KafkaProtocolErrorKind =
  /** The input ended before the message did. */
  | 'truncated'
  /** A length, count or varint is out of range (negative, too long, impossible). */
  | 'malformed'
  /** The value cannot be expressed in the requested version. */
  | 'unsupported-version';

/** A Kafka wire-format error; its code is FERRY_ERR_FRAME_MALFORMED (ts/errors.ts). */
export class KafkaProtocolError extends FerryError {
  readonly kind: KafkaProtocolErrorKind;

  constructor(kind: KafkaProtocolErrorKind, message: string) {
    super('FERRY_ERR_FRAME_MALFORMED', message);
    this.kind = kind;
  }
}
