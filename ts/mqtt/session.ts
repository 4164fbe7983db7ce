/**
 * A client's session (MQTT 5.0 §4.1): subscriptions, the QoS 1/2 messages
 * in flight towards the client, those queued behind the client's Receive
 * Maximum or while it is offline, and the packet ids of QoS 2 messages it
 * sent that await PUBREL. The session outlives its connections while its
 * expiry allows; it holds a link to at most one live connection.
 *
 * Bounds: the queue is limited by count and bytes (`mqtt.session_queue_max`,
 * `mqtt.session_queue_bytes_max`); when full, the oldest queued message is
 * dropped (QoS 0 first) and counted in `ferrymq_mqtt_dropped_messages_total`.
 */
import type { QoS } from 'mqtt-packet';
import { InflightWindow } from './inflight.ts';
import { isExpired, type Message } from './message.ts';

export interface Subscription {
  /** The filter as subscribed, `$share/...` prefix included. */
  filter: string;
  /** The filter matched against topics (without a share prefix). */
  topicFilter: string;
  group?: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

/** One message on its way to this client. */
export interface Delivery {
  message: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[];
  bytes: number;
  /** Key of this delivery in the session store (persistent sessions, QoS > 0). */
  seq?: number;
  /** Set when it reached this session only through a shared subscription (for redelivery). */
  shared?: { group: string; filter: string } | undefined;
  /**
   * While in flight (QoS 2): PUBREC came and PUBREL was sent, PUBCOMP is
   * awaited. Kept on the delivery (one session's own) rather than in an
   * entry object per message in flight.
   */
  pubrel?: boolean;
}

/** Where a persistent session writes its QoS 1/2 deliveries (session-store.ts). */
export interface SessionPersistence {
  saveMessage(clientId: string, seq: number, d: Delivery, packetId: number, state: number): Promise<void>;
  deleteMessage(clientId: string, seq: number): Promise<void>;
}

const STATE_QUEUED = 0;
const STATE_PUBLISH = 1;
const STATE_PUBREL = 2;

/** What a session needs from its live connection. */
export interface SessionLink {
  readonly receiveMaximum: number;
  sendPublish(delivery: Delivery, packetId: number | undefined, dup: boolean): boolean;
  sendPubrel(packetId: number): void;
}

export interface SessionLimits {
  queueMessagesMax: number;
  queueBytesMax: number;
}

/**
 * The queue of every session that has queued nothing (an idle connection's
 * session keeps no array of its own). Frozen: a push to it throws instead of
 * reaching every session; #enqueue and restore replace it first.
 */
const NO_DELIVERIES: Delivery[] = Object.freeze([]) as unknown as Delivery[];

export class Session {
  readonly clientId: string;
  protocolVersion: 3 | 4 | 5;
  /** Seconds the session outlives a disconnect; 0xFFFFFFFF never expires. */
  expiryS: number;
  // The collections are allocated on first use: an idle connection's
  // session holds none (memory per connection).
  #subscriptions: Map<string, Subscription> | undefined;
  #inflight: InflightWindow<Delivery> | undefined;
  #incomingQoS2: Set<number> | undefined;
  /** NO_DELIVERIES until the first message is queued. */
  #queue: Delivery[] = NO_DELIVERIES;
  #queueBytes = 0;
  link: SessionLink | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  /** Set while the session has an expiry and the node has a KV store. */
  persistence: SessionPersistence | undefined;
  #seq = 0;
  readonly #limits: SessionLimits;
  readonly #onDrop: (d: Delivery, reason: string) => void;

  constructor(
    clientId: string,
    protocolVersion: 3 | 4 | 5,
    expiryS: number,
    limits: SessionLimits,
    onDrop: (d: Delivery, reason: string) => void,
  ) {
    this.clientId = clientId;
    this.protocolVersion = protocolVersion;
    this.expiryS = expiryS;
    this.#limits = limits;
    this.#onDrop = onDrop;
  }

  get subscriptions(): Map<string, Subscription> {
    this.#subscriptions ??= new Map();
    return this.#subscriptions;
  }

  /** QoS 1/2 deliveries sent to the client and not yet completed, by packet id. */
  get inflight(): InflightWindow<Delivery> {
    this.#inflight ??= new InflightWindow();
    return this.#inflight;
  }

  /** Packet ids of incoming QoS 2 PUBLISHes awaiting PUBREL [MQTT-4.3.3-8]. */
  get incomingQoS2(): Set<number> {
    this.#incomingQoS2 ??= new Set();
    return this.#incomingQoS2;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Hand a message to the session: sent now if the window allows, else
   * queued (bounded). `nowMs` here and below: the clock if the caller has
   * read it; otherwise it is read only for messages that can expire. For a persistent session a QoS 1/2 delivery is written
   * to the session store first; the returned promise settles when it is.
   */
  deliver(d: Delivery, nowMs?: number): Promise<void> | undefined {
    let saved: Promise<void> | undefined;
    if (this.persistence && d.qos > 0) {
      d.seq = ++this.#seq;
      saved = this.persistence.saveMessage(this.clientId, d.seq, d, 0, STATE_QUEUED);
    }
    const link = this.link;
    if (link && this.#queue.length === 0 && this.#trySend(link, d, nowMs)) return saved;
    if (!link && d.qos === 0) {
      // QoS 0 is not kept for offline clients (§4.1: MAY store; we do not).
      this.#onDrop(d, 'offline-qos0');
      return saved;
    }
    this.#enqueue(d);
    return saved;
  }

  /** Restore a stored delivery after a restart (session-store.ts). */
  restore(d: Delivery, packetId: number, state: number): void {
    if (d.seq !== undefined) this.#seq = Math.max(this.#seq, d.seq);
    if (packetId > 0 && state !== STATE_QUEUED) {
      d.pubrel = state === STATE_PUBREL;
      this.inflight.set(packetId, d);
    } else {
      if (this.#queue === NO_DELIVERIES) this.#queue = [];
      this.#queue.push(d);
      this.#queueBytes += d.bytes;
    }
  }

  #forget(d: Delivery): void {
    if (d.seq !== undefined) void this.persistence?.deleteMessage(this.clientId, d.seq);
  }

  #enqueue(d: Delivery): void {
    if (this.#queue === NO_DELIVERIES) this.#queue = [];
    this.#queue.push(d);
    this.#queueBytes += d.bytes;
    while (
      this.#queue.length > this.#limits.queueMessagesMax ||
      this.#queueBytes > this.#limits.queueBytesMax
    ) {
      // Drop the oldest QoS 0 message if any, else the oldest message.
      let i = this.#queue.findIndex((q) => q.qos === 0);
      if (i < 0) i = 0;
      const [dropped] = this.#queue.splice(i, 1);
      if (!dropped) break;
      this.#queueBytes -= dropped.bytes;
      this.#forget(dropped);
      this.#onDrop(dropped, 'queue-full');
    }
  }

  /** Send now if the client's Receive Maximum allows; false means "keep it queued". */
  #trySend(link: SessionLink, d: Delivery, nowMs: number | undefined): boolean {
    if (isExpired(d.message, nowMs)) {
      this.#forget(d);
      this.#onDrop(d, 'expired');
      return true;
    }
    if (d.qos === 0) {
      link.sendPublish(d, undefined, false);
      return true;
    }
    // [MQTT-3.3.4-9]: no more unacknowledged QoS>0 PUBLISHes than the client's Receive Maximum.
    if ((this.#inflight?.size ?? 0) >= link.receiveMaximum) return false;
    const inflight = this.inflight;
    const id = inflight.nextId();
    if (id === undefined) return false;
    d.pubrel = false;
    inflight.set(id, d);
    if (d.seq !== undefined) void this.persistence?.saveMessage(this.clientId, d.seq, d, id, STATE_PUBLISH);
    link.sendPublish(d, id, false);
    return true;
  }

  /** Move queued messages into the window as it opens (after an ack, or on reconnect). */
  drain(nowMs?: number): void {
    const link = this.link;
    if (!link) return;
    while (this.#queue.length > 0) {
      const d = this.#queue[0] as Delivery;
      if (!this.#trySend(link, d, nowMs)) break;
      this.#queue.shift();
      this.#queueBytes -= d.bytes;
    }
  }

  /**
   * On reconnect with an existing session: resend unacknowledged PUBLISHes
   * with DUP set and PUBRELs, in their original order [MQTT-4.4.0-1], then
   * whatever is queued.
   */
  resume(nowMs?: number): void {
    const link = this.link;
    if (!link) return;
    for (const [id, d] of this.#inflight?.entries() ?? []) {
      if (d.pubrel) link.sendPubrel(id);
      else link.sendPublish(d, id, true);
    }
    this.drain(nowMs);
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) finished a delivery. */
  complete(packetId: number, nowMs?: number): boolean {
    const inflight = this.#inflight;
    const d = inflight?.get(packetId);
    if (inflight === undefined || d === undefined) return false;
    inflight.delete(packetId);
    if (d.seq !== undefined) this.#forget(d);
    if (this.#queue.length > 0) this.drain(nowMs);
    return true;
  }

  /** PUBREC: the QoS 2 delivery moves to its PUBREL phase. */
  released(packetId: number): boolean {
    const d = this.#inflight?.get(packetId);
    if (!d) return false;
    d.pubrel = true;
    if (d.seq !== undefined)
      void this.persistence?.saveMessage(this.clientId, d.seq, d, packetId, STATE_PUBREL);
    return true;
  }

  /**
   * Remove and return the deliveries this session got only through a shared
   * subscription and has not completed (queued, or PUBLISH sent without
   * PUBACK / PUBREC), so another member of the group can take them
   * [MQTT-4.8.2-?] (5.0 §4.8.2: a member that leaves).
   */
  takeShared(): Delivery[] {
    const out: Delivery[] = [];
    for (const [id, d] of this.#inflight?.entries() ?? []) {
      if (!d.pubrel && d.shared) {
        this.inflight.delete(id);
        this.#forget(d);
        out.push(d);
      }
    }
    const keep: Delivery[] = [];
    for (const d of this.#queue) {
      if (d.shared) {
        this.#queueBytes -= d.bytes;
        this.#forget(d);
        out.push(d);
      } else {
        keep.push(d);
      }
    }
    this.#queue = keep.length > 0 ? keep : NO_DELIVERIES;
    return out;
  }

  /** A clean start, or the end of the session: forget everything. */
  clear(): void {
    this.#subscriptions?.clear();
    this.#inflight?.clear();
    this.#incomingQoS2?.clear();
    this.#queue = NO_DELIVERIES;
    this.#queueBytes = 0;
  }

  /** Snapshot of queued deliveries (for persistence and tests). */
  queuedDeliveries(): readonly Delivery[] {
    return this.#queue;
  }
}
