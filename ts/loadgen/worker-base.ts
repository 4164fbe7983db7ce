/**
 * The worker side of shared.ts: this worker's counter slots, the phase,
 * error reporting (counted always, the first few messages sent to the main
 * thread) and the message loop. Every load worker (MQTT, Kafka) builds on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  C_ERRORS,
  C_RECEIVED,
  C_SENT,
  ERROR_MESSAGES_MAX,
  type FromWorker,
  PHASE_MEASURE,
  PHASE_STOP,
  SLOTS,
  type ToWorker,
  type WorkerData,
} from './shared.ts';

export class WorkerContext<O> {
  readonly data: WorkerData<O>;
  readonly options: O;
  readonly #ctr: Float64Array;
  readonly #phase: Int32Array;
  readonly #forgiven: BigInt64Array;
  readonly #all: Float64Array;
  readonly #workers: number;
  readonly #base: number;
  readonly #messages = new Set<string>();

  constructor() {
    if (!parentPort) throw new Error('a load worker runs in a worker thread');
    this.data = workerData as WorkerData<O>;
    this.options = this.data.options;
    this.#ctr = new Float64Array(this.data.counters);
    this.#phase = new Int32Array(this.data.phase, 0, 1);
    this.#forgiven = new BigInt64Array(this.data.phase, 8, 1);
    this.#all = this.#ctr;
    this.#workers = this.#ctr.length / SLOTS;
    this.#base = this.data.index * SLOTS;
  }

  /** Publish a running total (only this worker writes its slots). */
  set(slot: number, value: number): void {
    this.#ctr[this.#base + slot] = value;
  }

  get measuring(): boolean {
    return Atomics.load(this.#phase, 0) === PHASE_MEASURE;
  }

  /** Sent and received over every worker, and what stalled windows wrote off. */
  global(): { sent: number; received: number; forgiven: number } {
    let sent = 0;
    let received = 0;
    for (let w = 0; w < this.#workers; w++) {
      sent += this.#all[w * SLOTS + C_SENT] as number;
      received += this.#all[w * SLOTS + C_RECEIVED] as number;
    }
    return { sent, received, forgiven: Number(Atomics.load(this.#forgiven, 0)) };
  }

  /** Write off `n` messages as lost (a window that saw no delivery for a while). */
  forgive(n: number): void {
    Atomics.add(this.#forgiven, 0, BigInt(Math.ceil(n)));
  }

  get stopping(): boolean {
    return Atomics.load(this.#phase, 0) === PHASE_STOP;
  }

  #errors = 0;
  error(message: string): void {
    this.#errors++;
    this.set(C_ERRORS, this.#errors);
    if (this.#messages.size < ERROR_MESSAGES_MAX && !this.#messages.has(message)) {
      this.#messages.add(message);
      this.post({ type: 'error', message });
    }
  }

  post(m: FromWorker): void {
    parentPort?.postMessage(m);
  }

  /** Run `handlers[type]` for each message from the main thread; a throw is fatal for the run. */
  serve(handlers: Partial<Record<ToWorker['type'], () => Promise<void> | void>>): void {
    parentPort?.on('message', (m: ToWorker) => {
      const h = handlers[m.type];
      if (!h) return;
      Promise.resolve()
        .then(h)
        .catch((e: unknown) =>
          this.post({ type: 'fatal', message: e instanceof Error ? e.message : String(e) }),
        );
    });
  }
}
