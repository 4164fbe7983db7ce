/**
 * Shared subscriptions [MQTT-4.8.2]: the members of one (group, filter),
 * as the topic tree holds and hands them out, and their round-robin pick.
 */

/** Says whether a shared-group member can take a message now (connected, window not full, ...). */
export type MemberAvailable<S> = (value: S, key: string) => boolean;

/**
 * The members of one shared subscription, keyed by (group, filter) [MQTT-4.8.2].
 * The index hands out groups; the caller picks one member per group.
 */
export interface SharedGroup<S> {
  readonly group: string;
  readonly filter: string;
  readonly size: number;
  get(key: string): S | undefined;
  keyAt(index: number): string;
  valueAt(index: number): S;
  entries(): IterableIterator<[string, S]>;
  /**
   * The distribution strategy: round-robin per group. Starting after the
   * member chosen last time, return the first member for which `available`
   * holds (all are available when it is omitted), and remember it. Returns
   * undefined when no member is available; the caller then queues or drops
   * the message per its policy. Cost: O(1) when the next member is available,
   * O(size) at worst. Membership changes may shift the order by one turn
   * (removal moves the last member into the freed slot).
   */
  pickRoundRobin(available?: MemberAvailable<S>): S | undefined;
}

export class Group<S> implements SharedGroup<S> {
  readonly group: string;
  readonly filter: string;
  #keys: string[] = [];
  #values: S[] = [];
  #index = new Map<string, number>();
  #next = 0;

  constructor(group: string, filter: string) {
    this.group = group;
    this.filter = filter;
  }

  get size(): number {
    return this.#keys.length;
  }

  get(key: string): S | undefined {
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.#values[i];
  }

  keyAt(index: number): string {
    const k = this.#keys[index];
    if (k === undefined) throw new RangeError(`shared group member ${index} out of range`);
    return k;
  }

  valueAt(index: number): S {
    if (index < 0 || index >= this.#values.length) {
      throw new RangeError(`shared group member ${index} out of range`);
    }
    return this.#values[index] as S;
  }

  *entries(): IterableIterator<[string, S]> {
    for (let i = 0; i < this.#keys.length; i++) yield [this.#keys[i] as string, this.#values[i] as S];
  }

  /** Returns whether the key is new to the group. */
  set(key: string, value: S): boolean {
    const i = this.#index.get(key);
    if (i !== undefined) {
      this.#values[i] = value;
      return false;
    }
    this.#index.set(key, this.#keys.length);
    this.#keys.push(key);
    this.#values.push(value);
    return true;
  }

  delete(key: string): boolean {
    const i = this.#index.get(key);
    if (i === undefined) return false;
    const last = this.#keys.length - 1;
    const lastKey = this.#keys.pop() as string;
    const lastValue = this.#values.pop() as S;
    this.#index.delete(key);
    if (i !== last) {
      this.#keys[i] = lastKey;
      this.#values[i] = lastValue;
      this.#index.set(lastKey, i);
    }
    if (this.#next >= last) this.#next = 0;
    return true;
  }

  pickRoundRobin(available?: MemberAvailable<S>): S | undefined {
    const n = this.#keys.length;
    for (let tried = 0, i = this.#next; tried < n; tried++, i = i + 1 === n ? 0 : i + 1) {
      const value = this.#values[i] as S;
      if (available === undefined || available(value, this.#keys[i] as string)) {
        this.#next = i + 1 === n ? 0 : i + 1;
        return value;
      }
    }
    return undefined;
  }
}
