/**
 * The simulator's virtual network (ts/raft/simulator.ts): messages in
 * flight with the step they are due at, and the directed links a partition
 * blocks. Every random choice comes from the simulator's seeded generator,
 * in the order it makes them, so one seed still reproduces one run.
 */
import type { SeededRandom } from './clock.ts';
import type { SimOptions } from './sim-options.ts';
import type { Message, NodeId } from './types.ts';

interface InFlight {
  at: number;
  m: Message;
}

export class SimNetwork {
  readonly #rng: SeededRandom;
  readonly #o: Required<SimOptions>;
  #net: InFlight[] = [];
  /** Blocked directed links "from>to". */
  #blocked = new Set<string>();

  constructor(rng: SeededRandom, o: Required<SimOptions>) {
    this.#rng = rng;
    this.#o = o;
  }

  /** Queue `m` at step `now`: maybe dropped, duplicated or delayed, less so when `calm`. */
  send(m: Message, now: number, calm: boolean): void {
    if (!calm && this.#rng.chance(this.#o.dropRate)) return;
    const copies = !calm && this.#rng.chance(this.#o.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = calm ? this.#rng.int(2) : this.#rng.int(this.#o.delayTicksMax + 1);
      this.#net.push({ at: now + 1 + delay, m });
    }
  }

  /** The messages due at step `now`, in random order; the later ones stay queued. */
  takeDue(now: number): InFlight[] {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.#net) (f.at <= now ? due : later).push(f);
    this.#net = later;
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.#rng.int(i + 1);
      const t = due[i] as InFlight;
      due[i] = due[j] as InFlight;
      due[j] = t;
    }
    return due;
  }

  isBlocked(m: Message): boolean {
    return this.#blocked.has(`${m.from}>${m.to}`);
  }

  healAll(): void {
    this.#blocked.clear();
  }

  /** A new partition among `ids` (replacing the previous one); returns what it did, for the trace. */
  partition(ids: NodeId[]): string {
    const r = this.#rng;
    this.#blocked.clear();
    const kind = r.int(4);
    if (kind === 0) {
      return 'heal all links';
    } else if (kind === 1) {
      const a = r.pick(ids);
      for (const b of ids) if (b !== a) this.#blocked.add(`${a}>${b}`).add(`${b}>${a}`);
      return `isolate node ${a}`;
    } else if (kind === 2) {
      const a = r.pick(ids);
      const inbound = r.chance(0.5);
      for (const b of ids) if (b !== a) this.#blocked.add(inbound ? `${b}>${a}` : `${a}>${b}`);
      return `one-way partition: node ${a} ${inbound ? 'cannot receive' : 'cannot send'}`;
    } else {
      const side = new Set(ids.filter(() => r.chance(0.5)));
      for (const a of ids)
        for (const b of ids) if (side.has(a) !== side.has(b)) this.#blocked.add(`${a}>${b}`);
      return `split {${[...side].join(',')}} | {${ids.filter((i) => !side.has(i)).join(',')}}`;
    }
  }
}
