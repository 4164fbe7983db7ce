/**
 * The simulator's knobs (ts/raft/simulator.ts): options with their
 * defaults, the fault profile chosen by seed, and what a run returns.
 */
import type { Index } from './types.ts';

export interface SimOptions {
  seed: number;
  steps: number;
  nodes?: number;
  /** Voters at start; the others can be added by membership changes. */
  initialVoters?: number;
  keys?: number;
  clients?: number;
  dropRate?: number;
  duplicateRate?: number;
  delayTicksMax?: number;
  partitionRate?: number;
  crashRate?: number;
  /** Chance that a newly elected leader crashes 1-4 steps later. */
  leaderCrashRate?: number;
  restartRate?: number;
  membershipRate?: number;
  transferRate?: number;
  snapshotEveryEntries?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  entriesPerAppendMax?: number;
  inflightAppendsMax?: number;
  /** Steps of a calm tail (all healed and up, no drops, short delays) in which ops must complete. */
  settleSteps?: number;
}

export interface SimResult {
  seed: number;
  steps: number;
  ok: boolean;
  error?: string;
  trace: string[];
  stats: {
    leaders: number;
    crashes: number;
    messagesDelivered: number;
    opsCompleted: number;
    opsInvoked: number;
    snapshotsInstalled: number;
    configChanges: number;
    maxCommit: Index;
    linearizabilityStates: number;
  };
}

/**
 * Fault profiles, chosen by seed so that a range of seeds covers them all;
 * explicit options override. 0: five nodes, three voters, mild faults.
 * 1: three voters, frequent crashes, long delays (split votes, lost votes).
 * 2: five voters, one entry per append, long delays, crashes (Figure 8 shapes).
 * 3: heavy partitions and drops.
 */
export function profile(seed: number): Partial<SimOptions> {
  switch (seed % 4) {
    case 1:
      return { nodes: 3, initialVoters: 3, crashRate: 0.04, restartRate: 0.3, delayTicksMax: 5 };
    case 2:
      return {
        nodes: 5,
        initialVoters: 5,
        leaderCrashRate: 0.5,
        entriesPerAppendMax: 1,
        delayTicksMax: 6,
        crashRate: 0.03,
        restartRate: 0.2,
      };
    case 3:
      return { partitionRate: 0.06, dropRate: 0.15, duplicateRate: 0.05 };
    default:
      return {};
  }
}

/** Every option, from `input`, else the seed's profile, else the default. */
export function resolveOptions(input: SimOptions): Required<SimOptions> {
  const options = { ...profile(input.seed), ...input };
  const nodes = options.nodes ?? 5;
  return {
    seed: options.seed,
    steps: options.steps,
    nodes,
    initialVoters: options.initialVoters ?? Math.min(nodes, 3),
    keys: options.keys ?? 3,
    clients: options.clients ?? 3,
    dropRate: options.dropRate ?? 0.05,
    duplicateRate: options.duplicateRate ?? 0.03,
    delayTicksMax: options.delayTicksMax ?? 3,
    partitionRate: options.partitionRate ?? 0.02,
    crashRate: options.crashRate ?? 0.015,
    leaderCrashRate: options.leaderCrashRate ?? 0,
    restartRate: options.restartRate ?? 0.1,
    membershipRate: options.membershipRate ?? 0.01,
    transferRate: options.transferRate ?? 0.005,
    snapshotEveryEntries: options.snapshotEveryEntries ?? 12,
    electionTicks: options.electionTicks ?? 10,
    heartbeatTicks: options.heartbeatTicks ?? 2,
    settleSteps: options.settleSteps ?? 300,
    entriesPerAppendMax: options.entriesPerAppendMax ?? 8,
    inflightAppendsMax: options.inflightAppendsMax ?? 4,
  };
}
