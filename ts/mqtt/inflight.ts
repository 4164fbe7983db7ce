/**
 * A session's QoS 1/2 deliveries in flight, by packet identifier (§2.2.1),
 * and the choice of the next identifier.
 *
 * A Map<number, Delivery> here was ~5% of the broker's self time in the
 * fan-in QoS 1 profile: four hash operations per delivery (has, set, get,
 * delete), and its table rehashed as the window filled and emptied. Since
 * the session chooses the identifiers, it chooses one whose slot is free:
 * an entry lives in slot `id & mask` of a power-of-two table, a lookup is
 * one index and one compare, and identifiers in flight never share a slot.
 *
 * The table doubles when half full (up to 65,536 slots, where slot = id),
 * so a free slot is never more than a table's length of identifiers away.
 * It does not shrink while the session lives (a window that empties
 * refills): its size is bounded by the client's Receive Maximum, so at
 * most 65,535 entries.
 */

const INITIAL_SLOTS = 16;
const MAX_SLOTS = 65_536;
const ID_MAX = 65_535;

export class InflightWindow<T> {
  /** Identifier in each slot; 0 marks a free slot (identifiers are 1–65,535). */
  #ids = new Uint16Array(INITIAL_SLOTS);
  #items: (T | undefined)[] = new Array<T | undefined>(INITIAL_SLOTS).fill(undefined);
  /** When each entry was added, to list them in that order (redelivery keeps the original order). */
  #added = new Float64Array(INITIAL_SLOTS);
  #mask = INITIAL_SLOTS - 1;
  #size = 0;
  #clock = 0;
  #next = 1;

  get size(): number {
    return this.#size;
  }

  get(id: number): T | undefined {
    const slot = id & this.#mask;
    return this.#ids[slot] === id ? this.#items[slot] : undefined;
  }

  /**
   * A free identifier, taken in sequence and skipping those whose slot is in
   * use [MQTT-2.2.1-3]; undefined when all 65,535 are in flight. It is not
   * reserved: `set` it before choosing another.
   */
  nextId(): number | undefined {
    if (this.#size >= ID_MAX) return undefined;
    if (this.#size >= (this.#mask + 1) >> 1) this.#grow();
    const ids = this.#ids;
    const mask = this.#mask;
    let id = this.#next;
    while (ids[id & mask] !== 0) id = id === ID_MAX ? 1 : id + 1;
    this.#next = id === ID_MAX ? 1 : id + 1;
    return id;
  }

  /** Add (or replace) the entry of `id`; the next identifiers chosen follow it. */
  set(id: number, item: T): void {
    if (this.#size >= (this.#mask + 1) >> 1) this.#grow();
    // A colliding identifier can only come from a restored session (nextId avoids them): spread the table.
    while (this.#ids[id & this.#mask] !== 0 && this.#ids[id & this.#mask] !== id) this.#grow();
    const slot = id & this.#mask;
    if (this.#ids[slot] === 0) this.#size++;
    this.#ids[slot] = id;
    this.#items[slot] = item;
    this.#added[slot] = ++this.#clock;
    this.#next = id === ID_MAX ? 1 : id + 1;
  }

  delete(id: number): boolean {
    const slot = id & this.#mask;
    if (this.#ids[slot] !== id) return false;
    this.#ids[slot] = 0;
    this.#items[slot] = undefined;
    this.#size--;
    return true;
  }

  /** Every entry as [id, item], oldest first (reconnect, shared-group hand-over: rare). */
  entries(): [number, T][] {
    const slots: number[] = [];
    for (let s = 0; s <= this.#mask; s++) if (this.#ids[s] !== 0) slots.push(s);
    slots.sort((a, b) => (this.#added[a] as number) - (this.#added[b] as number));
    return slots.map((s) => [this.#ids[s] as number, this.#items[s] as T]);
  }

  clear(): void {
    this.#ids.fill(0);
    this.#items.fill(undefined);
    this.#size = 0;
  }

  /** Double the table; entries apart modulo n stay apart modulo 2n. */
  #grow(): void {
    const n = this.#mask + 1;
    if (n >= MAX_SLOTS) return;
    const ids = new Uint16Array(n * 2);
    const items = new Array<T | undefined>(n * 2).fill(undefined);
    const added = new Float64Array(n * 2);
    const mask = n * 2 - 1;
    for (let s = 0; s < n; s++) {
      const id = this.#ids[s] as number;
      if (id === 0) continue;
      ids[id & mask] = id;
      items[id & mask] = this.#items[s];
      added[id & mask] = this.#added[s] as number;
    }
    this.#ids = ids;
    this.#items = items;
    this.#added = added;
    this.#mask = mask;
  }
}
