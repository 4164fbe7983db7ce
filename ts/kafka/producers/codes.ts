/**
 * The Kafka error codes the idempotent producer answers with. They live
 * here, next to the rules that pick them, rather than in error-codes.ts's
 * shared `KafkaError`; codes.test.ts checks each against Kafka's table.
 */
export const ProducerErrorCode = {
  NONE: 0,
  COORDINATOR_NOT_AVAILABLE: 15,
  INVALID_REQUEST: 42,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  INVALID_TXN_STATE: 48,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  INVALID_RECORD: 87,
  PRODUCER_FENCED: 90,
} as const;
