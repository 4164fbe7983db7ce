/**
 * Retained messages (MQTT 5.0 §3.3.1.3): one per topic, replaced by a newer
 * retained PUBLISH, cleared by an empty payload [MQTT-3.3.1-6], dropped when
 * its Message Expiry Interval passes. Kept in memory and written through to
 * the KV store (namespace `mqtt.retained`) so they survive a restart.
 * Bounded by `mqtt.retained_max`: beyond it a new topic is not retained
 * (counted as dropped), existing topics can still be updated.
 */
import { isExpired, type Message } from './message.ts';
import { topicMatches } from './topic-match.ts';

export interface RetainedPersistence {
  save(m: Message): void;
  remove(topic: string): void;
}

export class RetainedStore {
  readonly #byTopic = new Map<string, Message>();
  readonly #max: number;
  readonly #persist: RetainedPersistence | undefined;
  readonly #onDrop: (reason: string) => void;

  constructor(max: number, persist: RetainedPersistence | undefined, onDrop: (reason: string) => void) {
    this.#max = max;
    this.#persist = persist;
    this.#onDrop = onDrop;
  }

  get size(): number {
    return this.#byTopic.size;
  }

  /** Load without writing back (startup). */
  load(m: Message): void {
    this.#byTopic.set(m.topic, m);
  }

  set(m: Message): void {
    if (m.payload.length === 0) {
      if (this.#byTopic.delete(m.topic)) this.#persist?.remove(m.topic);
      return;
    }
    if (!this.#byTopic.has(m.topic) && this.#byTopic.size >= this.#max) {
      this.#onDrop('retained-limit');
      return;
    }
    const stored: Message = { ...m, retain: true };
    delete stored.from;
    this.#byTopic.set(m.topic, stored);
    this.#persist?.save(stored);
  }

  matching(filter: string, nowMs: number): Message[] {
    const out: Message[] = [];
    for (const [topic, m] of this.#byTopic) {
      if (isExpired(m, nowMs)) {
        this.#byTopic.delete(topic);
        this.#persist?.remove(topic);
        continue;
      }
      if (topicMatches(filter, topic)) out.push(m);
    }
    return out;
  }
}
