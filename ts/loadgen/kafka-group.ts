/**
 * A consumer-group member for `ferrymq bench kafka consume --group`: the
 * classic protocol (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup) with the "consumer" protocol type and a round-robin assignor
 * run by the leader, as any Kafka consumer would. The bench consumers do
 * not commit offsets: a run starts from --from each time.
 */
import {
  ApiKey,
  FindCoordinator,
  Heartbeat,
  JoinGroup,
  LeaveGroup,
  SyncGroup,
} from '../kafka/protocol/generated/index.ts';
import { KafkaConn, KafkaError } from './kafka-conn.ts';

const MEMBER_ID_REQUIRED = 79;
const REBALANCE_IN_PROGRESS = 27;
const UNKNOWN_MEMBER_ID = 25;
const ILLEGAL_GENERATION = 22;
/** Retriable while the coordinator loads or moves. */
const COORDINATOR_RETRIABLE = new Set([14, 15, 16]);
const SESSION_TIMEOUT_MS = 30_000;
const HEARTBEAT_MS = 500;
const RETRY_MS = 200;
/** Coordinator look-ups / joins retried while the coordinator is not available (about 20 s). */
const RETRIES_MAX = 100;

/** ConsumerProtocolSubscription v0: the topics, no user data. */
export function encodeSubscription(topics: string[]): Buffer {
  const parts = topics.map((t) => Buffer.from(t));
  const out = Buffer.alloc(2 + 4 + parts.reduce((n, p) => n + 2 + p.length, 0) + 4);
  let o = out.writeInt16BE(0, 0);
  o = out.writeInt32BE(parts.length, o);
  for (const p of parts) {
    o = out.writeInt16BE(p.length, o);
    o += p.copy(out, o);
  }
  out.writeInt32BE(-1, o);
  return out;
}

/** ConsumerProtocolAssignment v0. */
export function encodeAssignment(topic: string, partitions: number[]): Buffer {
  const t = Buffer.from(topic);
  const out = Buffer.alloc(2 + 4 + 2 + t.length + 4 + 4 * partitions.length + 4);
  let o = out.writeInt16BE(0, 0);
  o = out.writeInt32BE(1, o);
  o = out.writeInt16BE(t.length, o);
  o += t.copy(out, o);
  o = out.writeInt32BE(partitions.length, o);
  for (const p of partitions) o = out.writeInt32BE(p, o);
  out.writeInt32BE(-1, o);
  return out;
}

/** The partitions of `topic` in a ConsumerProtocolAssignment (any version: later fields are ignored). */
export function decodeAssignment(b: Buffer, topic: string): number[] {
  if (b.length < 6) return [];
  let o = 2;
  const n = b.readInt32BE(o);
  o += 4;
  const out: number[] = [];
  for (let i = 0; i < n && o + 2 <= b.length; i++) {
    const len = b.readInt16BE(o);
    o += 2;
    const name = b.toString('utf8', o, o + len);
    o += len;
    const m = b.readInt32BE(o);
    o += 4;
    for (let k = 0; k < m; k++, o += 4) if (name === topic) out.push(b.readInt32BE(o));
  }
  return out;
}

/** Round-robin: sorted members take the partitions in turn. */
export function assignRoundRobin(members: string[], partitions: number[]): Map<string, number[]> {
  const sorted = [...members].sort();
  const out = new Map(sorted.map((m) => [m, [] as number[]]));
  for (const [i, p] of partitions.entries()) out.get(sorted[i % sorted.length] as string)?.push(p);
  return out;
}

export interface GroupHandlers {
  /** The partitions this member now owns (replacing the previous ones). */
  assigned(partitions: number[]): void;
  /** A rebalance began: stop fetching until the next assignment. */
  revoked(): void;
  error(message: string): void;
}

export class GroupMember {
  #coordinator: KafkaConn | undefined;
  #memberId = '';
  #generation = -1;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #bootstrap: KafkaConn;
  readonly #group: string;
  readonly #topic: string;
  readonly #partitions: number[];
  readonly #clientId: string;
  readonly #h: GroupHandlers;

  constructor(
    bootstrap: KafkaConn,
    group: string,
    topic: string,
    partitions: number[],
    clientId: string,
    h: GroupHandlers,
  ) {
    this.#bootstrap = bootstrap;
    this.#group = group;
    this.#topic = topic;
    this.#partitions = partitions;
    this.#clientId = clientId;
    this.#h = h;
  }

  /** Join and resolve after the first assignment. */
  async start(): Promise<void> {
    this.#coordinator = await this.#findCoordinator();
    await this.#join();
  }

  async #findCoordinator(): Promise<KafkaConn> {
    for (let attempt = 0; ; attempt++) {
      const c = this.#bootstrap;
      const v = c.version(ApiKey.FindCoordinator);
      const req = FindCoordinator.defaultFindCoordinatorRequest();
      if (v >= 4) req.coordinatorKeys = [this.#group];
      else req.key = this.#group;
      const res = FindCoordinator.decodeFindCoordinatorResponse(
        v,
        await c.request(ApiKey.FindCoordinator, v, FindCoordinator.encodeFindCoordinatorRequest(v, req)),
      );
      const one = v >= 4 ? res.coordinators[0] : res;
      const code = one?.errorCode ?? -1;
      if (one && code === 0) {
        const host = one.host.includes(':') ? `[${one.host}]` : one.host;
        return KafkaConn.open(`${host}:${one.port}`, this.#clientId);
      }
      if (!COORDINATOR_RETRIABLE.has(code) || attempt > 50)
        throw new KafkaError(code, `FindCoordinator ${this.#group}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async #join(): Promise<void> {
    let c = this.#coordinator as KafkaConn;
    for (let attempt = 0; ; attempt++) {
      if (this.#stopped) return;
      const v = c.version(ApiKey.JoinGroup);
      const req = JoinGroup.defaultJoinGroupRequest();
      req.groupId = this.#group;
      req.sessionTimeoutMs = SESSION_TIMEOUT_MS;
      req.rebalanceTimeoutMs = SESSION_TIMEOUT_MS;
      req.memberId = this.#memberId;
      req.protocolType = 'consumer';
      req.protocols = [{ name: 'roundrobin', metadata: encodeSubscription([this.#topic]) }];
      const res = JoinGroup.decodeJoinGroupResponse(
        v,
        await c.request(ApiKey.JoinGroup, v, JoinGroup.encodeJoinGroupRequest(v, req)),
      );
      if (res.errorCode === MEMBER_ID_REQUIRED) {
        this.#memberId = res.memberId;
        continue;
      }
      if (res.errorCode === UNKNOWN_MEMBER_ID) {
        this.#memberId = '';
        continue;
      }
      if (res.errorCode === REBALANCE_IN_PROGRESS) continue;
      if (COORDINATOR_RETRIABLE.has(res.errorCode) && attempt < RETRIES_MAX) {
        // The coordinator is loading or moved (Kafka creates __consumer_offsets on first use): ask again.
        await new Promise((r) => setTimeout(r, RETRY_MS));
        c.close();
        c = await this.#findCoordinator();
        this.#coordinator = c;
        continue;
      }
      if (res.errorCode !== 0) throw new KafkaError(res.errorCode, `JoinGroup ${this.#group}`);
      this.#memberId = res.memberId;
      this.#generation = res.generationId;
      const sv = c.version(ApiKey.SyncGroup);
      const sync = SyncGroup.defaultSyncGroupRequest();
      sync.groupId = this.#group;
      sync.generationId = res.generationId;
      sync.memberId = res.memberId;
      sync.protocolType = 'consumer';
      sync.protocolName = res.protocolName ?? 'roundrobin';
      if (res.leader === res.memberId) {
        const plan = assignRoundRobin(
          res.members.map((m) => m.memberId),
          this.#partitions,
        );
        sync.assignments = [...plan].map(([memberId, ps]) => ({
          memberId,
          assignment: encodeAssignment(this.#topic, ps),
        }));
      }
      const sres = SyncGroup.decodeSyncGroupResponse(
        sv,
        await c.request(ApiKey.SyncGroup, sv, SyncGroup.encodeSyncGroupRequest(sv, sync)),
      );
      if (sres.errorCode === REBALANCE_IN_PROGRESS || sres.errorCode === ILLEGAL_GENERATION) continue;
      if (sres.errorCode !== 0) throw new KafkaError(sres.errorCode, `SyncGroup ${this.#group}`);
      this.#h.assigned(decodeAssignment(sres.assignment, this.#topic));
      this.#scheduleHeartbeat();
      return;
    }
  }

  #scheduleHeartbeat(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.#heartbeat().catch((e: unknown) => this.#h.error(`group: ${(e as Error).message}`));
    }, HEARTBEAT_MS);
  }

  async #heartbeat(): Promise<void> {
    const c = this.#coordinator as KafkaConn;
    const v = c.version(ApiKey.Heartbeat);
    const req = Heartbeat.defaultHeartbeatRequest();
    req.groupId = this.#group;
    req.generationId = this.#generation;
    req.memberId = this.#memberId;
    const res = Heartbeat.decodeHeartbeatResponse(
      v,
      await c.request(ApiKey.Heartbeat, v, Heartbeat.encodeHeartbeatRequest(v, req)),
    );
    if (this.#stopped) return;
    if (res.errorCode === 0) return this.#scheduleHeartbeat();
    if (
      res.errorCode === REBALANCE_IN_PROGRESS ||
      res.errorCode === ILLEGAL_GENERATION ||
      res.errorCode === UNKNOWN_MEMBER_ID
    ) {
      if (res.errorCode === UNKNOWN_MEMBER_ID) this.#memberId = '';
      this.#h.revoked();
      await this.#join();
      return;
    }
    throw new KafkaError(res.errorCode, `Heartbeat ${this.#group}`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    const c = this.#coordinator;
    if (!c || c.closed || this.#memberId === '') return c?.close();
    try {
      const v = c.version(ApiKey.LeaveGroup);
      const req = LeaveGroup.defaultLeaveGroupRequest();
      req.groupId = this.#group;
      if (v >= 3) req.members = [{ memberId: this.#memberId, groupInstanceId: null, reason: 'bench done' }];
      else req.memberId = this.#memberId;
      await Promise.race([
        c.request(ApiKey.LeaveGroup, v, LeaveGroup.encodeLeaveGroupRequest(v, req)),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    } catch {
      // Leaving is a courtesy: the session timeout removes the member anyway.
    }
    c.close();
  }
}
