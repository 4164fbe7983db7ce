/**
 * Requests of the meta service (service.ts) that must run on a group's
 * leader: run here when this node leads, else forwarded once over gRPC to
 * the leader the group knows, retried every two ticks while no leader is
 * known, up to `meta.request_timeout_ms`; and the receiving side of a
 * forward, which never forwards again. Leader transfer lives here too.
 */
import type { MetaConfig } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import type { NodeId } from '../raft/types.ts';
import { ForwardError, type ForwardKind, type ForwardRequest, type GrpcTransport } from './grpc-transport.ts';
import { NotLeaderError, type RaftGroup } from './raft-group.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** What of the meta service the requests need: its groups (indexed by id, filled as they open). */
export interface LeaderRequestsHost {
  readonly nodeId: NodeId;
  readonly config: MetaConfig;
  readonly transport: GrpcTransport;
  readonly groups: readonly (RaftGroup | undefined)[];
  isClosed(): boolean;
}

export class LeaderRequests {
  readonly #host: LeaderRequestsHost;

  constructor(host: LeaderRequestsHost) {
    this.#host = host;
  }

  group(id: number): RaftGroup {
    const g = this.#host.groups[id];
    if (!g) throw new FerryError('FERRY_ERR_INVALID_ARGUMENT', `no raft group ${id}`);
    return g;
  }

  /**
   * Runs `local` on this node if it leads `group`, else forwards to the
   * leader; retries while no leader is known, up to the request timeout.
   */
  async onLeader(
    group: number,
    kind: ForwardKind,
    payload: Uint8Array,
    node: NodeId,
    local: (g: RaftGroup) => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    const g = this.group(group);
    const deadline = performance.now() + this.#host.config.request_timeout_ms;
    let last: FerryError | undefined;
    for (;;) {
      let leader: NodeId;
      try {
        return await local(g);
      } catch (err) {
        if (!(err instanceof NotLeaderError)) throw err;
        leader = err.leader;
        last = err;
      }
      if (leader !== 0 && leader !== this.#host.nodeId) {
        try {
          return await this.#host.transport.forward(leader, { group, kind, payload, node });
        } catch (err) {
          // Only "not the leader (any more)" is worth another round; the rest is the answer.
          if (!(err instanceof ForwardError) || err.code !== 'FERRY_ERR_NOT_LEADER') throw err;
          last = err;
        }
      }
      if (this.#host.isClosed() || performance.now() >= deadline) {
        throw last ?? new NotLeaderError(g.name, 0);
      }
      await sleep(this.#host.config.tick_ms * 2);
    }
  }

  /** The receiving side of Forward: local only, never forwarded again. */
  serveForward(req: ForwardRequest): Promise<Uint8Array> {
    const g = this.#host.groups[req.group];
    if (!g) return Promise.reject(new FerryError('FERRY_ERR_INVALID_ARGUMENT', `no raft group ${req.group}`));
    switch (req.kind) {
      case 'PROPOSE':
        return g.propose(req.payload);
      case 'READ':
        return g.read(req.payload);
      case 'ADD_VOTER':
        return g.changeMembers({ add: req.node }).then(() => new Uint8Array(0));
      case 'REMOVE_VOTER':
        return g.changeMembers({ remove: req.node }).then(() => new Uint8Array(0));
      case 'TRANSFER_LEADER':
        return this.transferHere(g, req.node);
    }
  }

  /**
   * Leader transfer (the core's TimeoutNow path), run on the group's leader:
   * resolves once `target` leads, fails with FERRY_ERR_CLUSTER_CHANGE when
   * the target is not a voter or the transfer is abandoned (the core gives
   * up after an election timeout), FERRY_ERR_RAFT_TIMEOUT past the request
   * timeout.
   */
  async transferHere(g: RaftGroup, target: NodeId): Promise<Uint8Array> {
    if (!g.isLeader) throw new NotLeaderError(g.name, g.leader);
    if (target === this.#host.nodeId) return new Uint8Array(0);
    if (!g.status().voters.includes(target)) {
      throw new FerryError('FERRY_ERR_CLUSTER_CHANGE', `node ${target} is not a voter of ${g.name}`);
    }
    if (!g.transferLeadership(target)) {
      throw new FerryError('FERRY_ERR_CLUSTER_CHANGE', `${g.name}: transfer to node ${target} refused`);
    }
    const deadline = performance.now() + this.#host.config.request_timeout_ms;
    const abandonMs = 2 * this.#host.config.election_tick_count * this.#host.config.tick_ms;
    const started = performance.now();
    for (;;) {
      await sleep(this.#host.config.tick_ms);
      if (g.leader === target) return new Uint8Array(0);
      if (g.isLeader && performance.now() - started > abandonMs) {
        throw new FerryError('FERRY_ERR_CLUSTER_CHANGE', `${g.name}: transfer to node ${target} abandoned`);
      }
      if (performance.now() >= deadline) {
        throw new FerryError('FERRY_ERR_RAFT_TIMEOUT', `${g.name}: node ${target} not leading in time`);
      }
    }
  }

  /** Moves a group's leadership to `target` (forwarded to the current leader). */
  async transferLeader(group: number, target: NodeId): Promise<void> {
    const g = this.group(group);
    await this.onLeader(group, 'TRANSFER_LEADER', new Uint8Array(0), target, () =>
      this.transferHere(g, target),
    );
  }
}
