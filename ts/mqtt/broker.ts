/**
 * The MQTT messaging core: sessions by client id, the subscription index,
 * retained messages, and routing of one published message to every
 * matching session. Connections call into it; it never touches sockets.
 *
 * Routing: a PUBLISH is matched against the topic tree once; per session,
 * overlapping subscriptions combine into one delivery with the highest QoS
 * and every Subscription Identifier [MQTT-3.3.4-2..5]; each shared group
 * hands the message to one member, chosen round-robin among members that are
 * connected (any member if none is) [MQTT-4.8.2-5].
 */
import type { QoS } from 'mqtt-packet';
import { isExpired, type Message } from './message.ts';
import type { RetainedStore } from './retained.ts';
import { type Delivery, Session, type SessionLimits, type Subscription } from './session.ts';
import type { SessionStore, StoredSession } from './session-store.ts';
import { type SharedGroup, type TopicCacheStats, TopicTree } from './topic-tree.ts';
import type { Will } from './will.ts';

const NEVER_EXPIRES = 0xffff_ffff;

export interface BrokerMetrics {
  received(bytes: number): void;
  routed(deliveries: number): void;
  dropped(reason: string): void;
}

interface SubRef {
  session: Session;
  sub: Subscription;
}

export interface BrokerLimits extends SessionLimits {
  /** `mqtt.topic_cache_bytes_max`: bound of the topic tree's match cache (0: off). */
  topicCacheBytesMax?: number;
}

/**
 * One session's delivery being assembled while a PUBLISH is matched. The
 * objects are reused from one publish to the next (emptied after use, so
 * they keep no session alive).
 */
interface Route {
  session: Session | undefined;
  qos: QoS;
  retain: boolean;
  ids: number[];
  shared: { group: string; filter: string } | undefined;
}

/** The Subscription Identifiers of a delivery that has none (never modified: shared by all such deliveries). */
const NO_IDS: number[] = [];
Object.freeze(NO_IDS);

function isLinked(ref: SubRef): boolean {
  return ref.session.link !== undefined;
}

export interface PublishResult {
  /** Sessions the message went to. */
  delivered: number;
  /** Settles once persistent sessions have stored it (undefined if none had to). */
  saved: Promise<void> | undefined;
  /** The MQTT → Kafka append of a QoS > 0 message, when the bridge took it (never rejects). */
  appended?: Promise<BridgeOutcome> | undefined;
}

export type BridgeOutcome = { ok: true } | { ok: false; quota: boolean; reason: string };

/** The MQTT → Kafka bridge as the broker sees it (ts/bridge/mqtt-to-kafka.ts). */
export interface BridgeTap {
  /** Undefined when the message is not bridged or is QoS 0 (fire-and-forget). */
  append(message: Message, nowMs: number): Promise<BridgeOutcome> | undefined;
}

export class Broker {
  readonly sessions = new Map<string, Session>();
  readonly #tree: TopicTree<SubRef>;
  readonly retained: RetainedStore;
  readonly #limits: BrokerLimits;
  readonly #metrics: BrokerMetrics;
  readonly startedAtMs = Date.now();
  messagesReceived = 0;
  messagesSent = 0;
  readonly #delayedWills = new Map<string, NodeJS.Timeout>();
  readonly #store: SessionStore | undefined;
  /** Sessions written to the store at least once; only those cost I/O when they end. */
  readonly #persisted = new WeakSet<Session>();
  /** Set by the node when the MQTT ↔ Kafka bridge runs: sees every message routed here. */
  bridge: BridgeTap | undefined;

  constructor(retained: RetainedStore, limits: BrokerLimits, metrics: BrokerMetrics, store?: SessionStore) {
    this.retained = retained;
    this.#tree = new TopicTree<SubRef>({ cacheBytesMax: limits.topicCacheBytesMax ?? 0 });
    this.#limits = limits;
    this.#metrics = metrics;
    this.#store = store;
  }

  #newSession(clientId: string, protocolVersion: 3 | 4 | 5, expiryS: number): Session {
    const s = new Session(clientId, protocolVersion, expiryS, this.#limits, (_d, reason) =>
      this.#metrics.dropped(reason),
    );
    this.sessions.set(clientId, s);
    return s;
  }

  /** Write the session's subscriptions and expiry if it is persistent (expiry > 0). */
  #saveMeta(session: Session): void {
    const store = this.#store;
    session.persistence = store && session.expiryS > 0 ? store : undefined;
    if (!session.persistence || !store) return;
    this.#persisted.add(session);
    void store.saveMeta(
      session.clientId,
      session.protocolVersion,
      session.expiryS,
      session.subscriptions.values(),
    );
  }

  /** Recreate sessions stored before a restart; they start disconnected, with their expiry running. */
  restore(stored: readonly StoredSession[]): void {
    for (const st of stored) {
      const s = this.#newSession(st.clientId, st.protocolVersion, st.expiryS);
      s.persistence = this.#store;
      this.#persisted.add(s);
      for (const sub of st.subscriptions) this.subscribe(s, sub, { save: false });
      for (const m of st.messages.sort((a, b) => a.seq - b.seq)) {
        m.delivery.seq = m.seq;
        s.restore(m.delivery, m.packetId, m.state);
      }
      this.detach(s);
    }
  }

  /** The topic tree's match cache counters (for metrics). */
  get topicCacheStats(): Readonly<TopicCacheStats> {
    return this.#tree.cacheStats;
  }

  get subscriptionCount(): number {
    return this.#tree.size + this.#tree.sharedSize;
  }

  /** The existing session of `clientId`, or a new one. */
  session(
    clientId: string,
    protocolVersion: 3 | 4 | 5,
    expiryS: number,
  ): { session: Session; present: boolean } {
    const existing = this.sessions.get(clientId);
    if (existing) {
      existing.protocolVersion = protocolVersion;
      existing.expiryS = expiryS;
      if (existing.expiryTimer) clearTimeout(existing.expiryTimer);
      existing.expiryTimer = undefined;
      this.#saveMeta(existing);
      return { session: existing, present: true };
    }
    const s = this.#newSession(clientId, protocolVersion, expiryS);
    this.#saveMeta(s);
    return { session: s, present: false };
  }

  /**
   * A connection ended without a clean DISCONNECT: publish its will now, or
   * after the Will Delay Interval, or when the session ends if that comes
   * first [MQTT-3.1.3-9].
   */
  scheduleWill(will: Will, session: Session): void {
    const delayS = Math.min(will.delayS, session.expiryS);
    if (delayS <= 0) {
      this.publish(will.message, Date.now());
      return;
    }
    this.cancelDelayedWill(session.clientId);
    const timer = setTimeout(() => {
      this.#delayedWills.delete(session.clientId);
      this.publish(will.message, Date.now());
    }, delayS * 1000);
    timer.unref();
    this.#delayedWills.set(session.clientId, timer);
  }

  /** The client reconnected within the will delay: no will [MQTT-3.1.3-9]. */
  cancelDelayedWill(clientId: string): void {
    const t = this.#delayedWills.get(clientId);
    if (t) {
      clearTimeout(t);
      this.#delayedWills.delete(clientId);
    }
  }

  /**
   * A member of a shared group left with messages it had not acknowledged:
   * hand each to another member (connected ones first), or count it dropped.
   */
  #redistributeShared(session: Session, nowMs: number): void {
    for (const d of session.takeShared()) {
      const shared = d.shared;
      if (!shared) continue;
      const group = this.#tree.getShared(shared.group, shared.filter);
      const other = (ref: SubRef): boolean => ref.session !== session;
      const chosen =
        group?.pickRoundRobin((ref) => other(ref) && ref.session.link !== undefined) ??
        group?.pickRoundRobin(other);
      if (!chosen) {
        this.#metrics.dropped('shared-no-member');
        continue;
      }
      const redelivery: Delivery = {
        message: d.message,
        qos: Math.min(chosen.sub.qos, d.message.qos) as QoS,
        retain: d.retain,
        subscriptionIds: chosen.sub.subscriptionId ? [chosen.sub.subscriptionId] : [],
        bytes: d.bytes,
        shared,
      };
      void chosen.session.deliver(redelivery, nowMs);
    }
  }

  /** The session lost its connection: end it now, or when its expiry passes. */
  detach(session: Session): void {
    if (session.link) return;
    this.#redistributeShared(session, Date.now());
    if (session.expiryS === 0) {
      this.endSession(session);
      return;
    }
    if (session.expiryS === NEVER_EXPIRES) return;
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(() => {
      if (!session.link) this.endSession(session);
    }, session.expiryS * 1000);
    session.expiryTimer.unref();
  }

  /** Stop every timer (shutdown). */
  stop(): void {
    for (const t of this.#delayedWills.values()) clearTimeout(t);
    this.#delayedWills.clear();
    for (const s of this.sessions.values()) if (s.expiryTimer) clearTimeout(s.expiryTimer);
  }

  /** End a session: drop its subscriptions and forget it. */
  endSession(session: Session): void {
    for (const sub of session.subscriptions.values()) this.#removeFromTree(session, sub);
    session.clear();
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    if (this.#persisted.has(session)) {
      this.#persisted.delete(session);
      void this.#store?.deleteSession(session.clientId);
    }
    session.persistence = undefined;
  }

  subscribe(session: Session, sub: Subscription, opts: { save?: boolean } = {}): { existed: boolean } {
    const existed = session.subscriptions.get(sub.filter);
    // A replaced subscription may have moved between shared and plain: drop the old index entry first.
    if (existed) this.#removeFromTree(session, existed);
    session.subscriptions.set(sub.filter, sub);
    const ref: SubRef = { session, sub };
    if (sub.group !== undefined) this.#tree.addShared(sub.group, sub.topicFilter, session.clientId, ref);
    else this.#tree.add(sub.topicFilter, session.clientId, ref);
    if (opts.save !== false) this.#saveMeta(session);
    return { existed: existed !== undefined };
  }

  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.subscriptions.get(filter);
    if (!sub) return false;
    session.subscriptions.delete(filter);
    this.#removeFromTree(session, sub);
    this.#saveMeta(session);
    return true;
  }

  #removeFromTree(session: Session, sub: Subscription): void {
    if (sub.group !== undefined) this.#tree.removeShared(sub.group, sub.topicFilter, session.clientId);
    else this.#tree.remove(sub.topicFilter, session.clientId);
  }

  /**
   * Route a message to its subscribers and, if it is retained, update the
   * retained store. Returns how many sessions it went to. `nowMs`: the
   * clock if the caller has read it. `bridged` marks a message the bridge
   * read from Kafka: it is not appended again.
   */
  publish(message: Message, nowMs?: number, opts?: { bridged?: boolean }): PublishResult {
    this.messagesReceived++;
    this.#metrics.received(message.payload.length);
    // The clock is read once here when something needs it (the bridge's
    // timestamp, a message that can expire), not per message otherwise.
    const now = nowMs ?? (message.expiresAtMs !== undefined ? Date.now() : undefined);
    const appended = opts?.bridged ? undefined : this.bridge?.append(message, now ?? Date.now());
    if (message.retain) this.retained.set(message);
    if (isExpired(message, now)) return { delivered: 0, saved: undefined, appended };
    // The routes of this message, filled by the visitors below. A re-entrant
    // publish (from inside a delivery) gets its own list.
    const outer = this.#routing;
    const routes = outer ? [] : this.#routes;
    this.#routing = true;
    let n = 0;
    let saves: Promise<void>[] | undefined;
    try {
      this.#message = message;
      this.#routeList = routes;
      try {
        this.#tree.matchWith(message.topic, this.#visitSub, this.#visitGroup);
        n = this.#routeCount;
      } finally {
        this.#message = undefined;
        this.#routeCount = 0;
        this.#multi = undefined;
      }
      const bytes = message.payload.length + message.topic.length;
      for (let i = 0; i < n; i++) {
        const r = routes[i] as Route;
        const session = r.session as Session;
        const d: Delivery = {
          message,
          qos: r.qos,
          retain: r.retain,
          subscriptionIds: r.ids,
          bytes,
          seq: undefined,
          shared: r.shared,
          pubrel: false,
        };
        r.session = undefined;
        r.ids = NO_IDS;
        r.shared = undefined;
        const saved = session.deliver(d, now);
        if (saved) {
          saves ??= [];
          saves.push(saved);
        }
      }
    } finally {
      // Still set while delivering, so a publish from inside a delivery cannot reuse `routes`.
      this.#routing = outer;
    }
    this.#metrics.routed(n);
    return {
      delivered: n,
      saved:
        saves === undefined ? undefined : saves.length === 1 ? saves[0] : Promise.all(saves).then(() => {}),
      appended,
    };
  }

  // Routing state of the publish being matched (visitors are bound once, not closures per message).
  #routing = false;
  #message: Message | undefined;
  #routes: Route[] = [];
  #routeList: Route[] = this.#routes;
  #routeCount = 0;
  /** Sessions with several subscriptions routed so far (they may match twice); undefined until one is. */
  #multi: Map<Session, Route> | undefined;

  readonly #visitSub = (ref: SubRef): void => {
    this.#route(ref);
  };

  readonly #visitGroup = (group: SharedGroup<SubRef>): void => {
    // [MQTT-4.8.2-5]: a connected member first, round-robin; any member if none is.
    const chosen = group.pickRoundRobin(isLinked) ?? group.pickRoundRobin();
    if (chosen) this.#route(chosen);
  };

  /**
   * Add one matching subscription to the routes. Per session, overlapping
   * subscriptions combine into one delivery with the highest QoS and every
   * Subscription Identifier [MQTT-3.3.4-2..5]. A session with one
   * subscription can match only once, so only sessions with several are
   * looked up.
   */
  #route(ref: SubRef): void {
    const message = this.#message as Message;
    const { session, sub } = ref;
    // [MQTT-3.8.3-3] No Local: not to the publisher's own subscription.
    if (sub.noLocal && message.from === session.clientId) return;
    const qos = Math.min(sub.qos, message.qos) as QoS;
    // [MQTT-3.3.1-12/13] Retain As Published keeps the flag, else it is cleared on forwarding.
    const retain = sub.retainAsPublished ? message.retain : false;
    const shared = sub.group !== undefined ? { group: sub.group, filter: sub.topicFilter } : undefined;
    const several = session.subscriptions.size > 1;
    if (several) {
      const entry = this.#multi?.get(session);
      if (entry !== undefined) {
        // Also reached through a plain subscription: it belongs to this session.
        if (!shared) entry.shared = undefined;
        if (qos > entry.qos) entry.qos = qos;
        entry.retain ||= retain;
        if (sub.subscriptionId) {
          if (entry.ids === NO_IDS) entry.ids = [];
          entry.ids.push(sub.subscriptionId);
        }
        return;
      }
    }
    const ids = sub.subscriptionId ? [sub.subscriptionId] : NO_IDS;
    let route = this.#routeList[this.#routeCount];
    if (route === undefined) {
      route = { session, qos, retain, ids, shared };
      this.#routeList[this.#routeCount] = route;
    } else {
      route.session = session;
      route.qos = qos;
      route.retain = retain;
      route.ids = ids;
      route.shared = shared;
    }
    this.#routeCount++;
    if (several) {
      this.#multi ??= new Map();
      this.#multi.set(session, route);
    }
  }

  /** Retained messages for a new subscription [MQTT-3.3.1-9], honouring expiry. */
  retainedFor(sub: Subscription, nowMs: number): Message[] {
    if (sub.group !== undefined) return []; // [MQTT-3.8.4-?] retained messages are not sent to shared subscriptions
    return this.retained.matching(sub.topicFilter, nowMs);
  }
}
