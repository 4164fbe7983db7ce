/**
 * Kafka's codes for a partition the controller gave another node (the full
 * table is error-codes.ts's KAFKA_ERRORS); both are retriable: clients
 * refresh Metadata and go to the leader it names.
 */
export const LeaderError = {
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
} as const;
