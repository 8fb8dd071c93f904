import { type Clock, systemClock } from '../core/clock.js';
import { Deque } from '../core/Deque.js';
import { arm, disarm } from '../core/disarm.js';
import { ClosedError, OverloadedError, TimeoutError } from '../core/errors.js';
import { Listeners } from '../core/Listeners.js';
import { checkCount, checkFunction, checkMs, checkSignal, show } from '../core/validate.js';
import { type GradientAlgorithm, gradient, type LimitAlgorithm } from './algorithms.js';

/** Options of the {@link AdaptiveLimiter} constructor. */
export interface AdaptiveLimiterOptions {
  /** How the limit moves. @default gradient() (Envoy-style, with periodic probes of the unloaded latency) */
  readonly algorithm?: LimitAlgorithm;
  /** For algorithms that need the unloaded latency (`gradient`): probe it this often. @default 10000 */
  readonly probeIntervalMs?: number;
  /** Calls measured at minimum concurrency per probe. @default 5 */
  readonly probeSamples?: number;
  /** Which failures count as drops (overload signals). @default every error */
  readonly isDrop?: (error: unknown) => boolean;
  /**
   * Share of the limit reserved for each partition, e.g. `{ live: 0.7, batch: 0.3 }`.
   * Under contention a partition below its share is served first; when the
   * others are idle any partition may use the whole limit.
   */
  readonly partitions?: Readonly<Record<string, number>>;
  /** Most callers waiting. @default Infinity */
  readonly maxWaiting?: number;
  /**
   * Load shedding: while the oldest waiter has waited longer than this, new
   * callers are refused at once with `OverloadedError`, and waiters are
   * served newest first (adaptive LIFO: the fresh ones can still meet their
   * deadlines). @default Infinity (off)
   */
  readonly maxQueueWaitMs?: number;
  /** Refuse new callers while this returns true (e.g. an `EventLoopLag` monitor's `overloaded`). */
  readonly overloaded?: () => boolean;
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface AdaptiveAcquireOptions {
  readonly signal?: AbortSignal | undefined;
  /** @default Infinity */
  readonly timeout?: number;
  /** With `partitions`: which one the call belongs to. */
  readonly partition?: string;
}

export interface AdaptiveLimiterStats {
  readonly limit: number;
  readonly inflight: number;
  readonly waiting: number;
  readonly succeeded: number;
  readonly dropped: number;
  /** Refused by shedding or `overloaded`. */
  readonly shed: number;
  readonly timedOut: number;
  /** The unloaded RTT from the last probe (gradient), or 0. */
  readonly minRtt: number;
}

export interface AdaptiveLimiterEvents extends Record<string, unknown> {
  limit: { readonly from: number; readonly to: number };
}

/**
 * Proof of admission to an {@link AdaptiveLimiter}. Report how the call went
 * exactly once: `success()` (also `release()` / `using`), `drop()` (it failed
 * from overload: the limit goes down) or `ignore()` (no signal, e.g. a
 * client error).
 */
export class AdaptivePermit implements Disposable {
  #limiter: AdaptiveLimiter | undefined;
  /** @internal */
  readonly startedAt: number;
  /** @internal */
  readonly inflight: number;
  /** @internal */
  readonly partition: string;
  /** @internal */
  readonly probe: boolean;

  /** @internal */
  constructor(limiter: AdaptiveLimiter, startedAt: number, inflight: number, partition: string, probe: boolean) {
    this.#limiter = limiter;
    this.startedAt = startedAt;
    this.inflight = inflight;
    this.partition = partition;
    this.probe = probe;
  }

  get released(): boolean {
    return this.#limiter === undefined;
  }
  success(): void {
    this.#end('success');
  }
  drop(): void {
    this.#end('drop');
  }
  ignore(): void {
    this.#end('ignore');
  }
  release(): void {
    this.#end('success');
  }
  [Symbol.dispose](): void {
    this.#end('success');
  }
  #end(outcome: 'success' | 'drop' | 'ignore'): void {
    const limiter = this.#limiter;
    if (limiter === undefined) return;
    this.#limiter = undefined;
    limiter.complete(this, outcome);
  }
}

class Waiter {
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  timer: unknown = undefined;
  done = false;
  constructor(
    readonly partition: string,
    readonly seq: number,
    readonly enqueuedAt: number,
    readonly resolve: (permit: AdaptivePermit) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

const NONE = '';

/**
 * A concurrency limit that finds itself: the admission protocol on top of a
 * limit that a {@link LimitAlgorithm} moves from the latency and failures of
 * completed calls (errors and timeouts count as drops), within its bounds.
 * Optional partitions with guaranteed shares, queue-wait load shedding with
 * adaptive LIFO, and an external overload signal (event-loop lag).
 */
export class AdaptiveLimiter {
  readonly #algorithm: LimitAlgorithm;
  readonly #probing: GradientAlgorithm | undefined;
  readonly #probeInterval: number;
  readonly #probeSamples: number;
  readonly #isDrop: (error: unknown) => boolean;
  readonly #shares: Map<string, number> | undefined;
  readonly #maxWaiting: number;
  readonly #maxQueueWait: number;
  readonly #overloaded: (() => boolean) | undefined;
  readonly #clock: Clock;
  readonly #listeners = new Listeners<AdaptiveLimiterEvents>();
  readonly #queues = new Map<string, Deque<Waiter>>();
  readonly #inflightBy = new Map<string, number>();
  #limit: number;
  #inflight = 0;
  #waiting = 0;
  #seq = 0;
  #probeUntil = 0; // samples still to take in the current probe (0: not probing)
  #probeRtts: number[] = [];
  #nextProbeAt = 0;
  #closed = false;
  #succeeded = 0;
  #dropped = 0;
  #shed = 0;
  #timedOut = 0;

  constructor(options: AdaptiveLimiterOptions = {}) {
    this.#algorithm = options.algorithm ?? gradient();
    if (typeof this.#algorithm?.update !== 'function') {
      throw new TypeError(
        `Expected \`algorithm\` to be a limit algorithm (aimd(), vegas(), gradient2(), gradient()), got ${show(options.algorithm)}`,
      );
    }
    const maybeGradient = this.#algorithm as Partial<GradientAlgorithm>;
    this.#probing = typeof maybeGradient.setMinRtt === 'function' ? (this.#algorithm as GradientAlgorithm) : undefined;
    this.#probeInterval = checkMs('probeIntervalMs', options.probeIntervalMs ?? 10_000, false);
    this.#probeSamples = checkCount('probeSamples', options.probeSamples ?? 5, 1, false);
    if (options.isDrop !== undefined) checkFunction('isDrop', options.isDrop);
    this.#isDrop = options.isDrop ?? (() => true);
    if (options.partitions !== undefined) {
      const shares = new Map<string, number>();
      let total = 0;
      for (const [name, share] of Object.entries(options.partitions)) {
        if (typeof share !== 'number' || !(share > 0) || share > 1) {
          throw new RangeError(`Expected \`partitions.${name}\` to be a share in (0, 1], got ${show(share)}`);
        }
        shares.set(name, share);
        total += share;
      }
      if (total > 1 + 1e-9)
        throw new RangeError(`Expected the partition shares to add up to at most 1, got ${show(total)}`);
      this.#shares = shares;
    }
    this.#maxWaiting = checkCount('maxWaiting', options.maxWaiting ?? Number.POSITIVE_INFINITY, 0, true);
    this.#maxQueueWait = checkMs('maxQueueWaitMs', options.maxQueueWaitMs ?? Number.POSITIVE_INFINITY);
    if (options.overloaded !== undefined) checkFunction('overloaded', options.overloaded);
    this.#overloaded = options.overloaded;
    this.#clock = options.clock ?? systemClock;
    this.#limit = Math.max(1, Math.round(this.#algorithm.limit));
    if (this.#probing !== undefined) this.#probeUntil = this.#probeSamples; // measure the unloaded RTT first
  }

  /** The concurrency limit in force (an integer). */
  get limit(): number {
    return this.#probeUntil > 0 ? 1 : this.#limit;
  }
  get inflight(): number {
    return this.#inflight;
  }

  on<K extends keyof AdaptiveLimiterEvents>(
    name: K,
    listener: (payload: AdaptiveLimiterEvents[K]) => void,
  ): () => void {
    return this.#listeners.on(name, listener);
  }

  stats(): AdaptiveLimiterStats {
    return {
      limit: this.limit,
      inflight: this.#inflight,
      waiting: this.#waiting,
      succeeded: this.#succeeded,
      dropped: this.#dropped,
      shed: this.#shed,
      timedOut: this.#timedOut,
      minRtt: this.#probing?.minRtt ?? 0,
    };
  }

  /** Wait for admission; report the outcome on the permit. */
  acquire(options?: AdaptiveAcquireOptions): Promise<AdaptivePermit> {
    const signal = checkSignal('signal', options?.signal);
    const timeout = options?.timeout === undefined ? Number.POSITIVE_INFINITY : checkMs('timeout', options.timeout);
    const partition = this.#partition(options?.partition);
    if (this.#closed) return Promise.reject(new ClosedError('Adaptive limiter is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const refusal = this.#refusal();
    if (refusal !== undefined) {
      this.#shed++;
      return Promise.reject(new OverloadedError(refusal));
    }
    if (this.#waiting === 0 && this.#inflight < this.limit) return Promise.resolve(this.#admit(partition));
    if (timeout === 0) {
      this.#timedOut++;
      return Promise.reject(new TimeoutError(`Adaptive limiter acquire timed out after 0 ms (${this.#describe()})`));
    }
    if (this.#waiting >= this.#maxWaiting) {
      this.#shed++;
      return Promise.reject(new OverloadedError(`Adaptive limiter queue is full (${this.#describe()})`));
    }
    return new Promise<AdaptivePermit>((resolve, reject) => {
      const waiter = new Waiter(partition, this.#seq++, this.#clock.now(), resolve, reject);
      let queue = this.#queues.get(partition);
      if (queue === undefined) {
        queue = new Deque<Waiter>();
        this.#queues.set(partition, queue);
      }
      queue.push(waiter);
      this.#waiting++;
      arm(
        waiter,
        this.#clock,
        signal,
        (reason) => this.#leave(waiter, reason),
        timeout,
        () => {
          this.#timedOut++;
          this.#leave(
            waiter,
            new TimeoutError(`Adaptive limiter acquire timed out after ${timeout} ms (${this.#describe()})`),
          );
        },
      );
    });
  }

  /** Admission now, or `undefined`. Never jumps the queue. */
  tryAcquire(options?: { readonly partition?: string }): AdaptivePermit | undefined {
    const partition = this.#partition(options?.partition);
    if (this.#closed || this.#waiting > 0 || this.#inflight >= this.limit || this.#refusal() !== undefined) {
      return undefined;
    }
    return this.#admit(partition);
  }

  /** Acquire, run `fn({ signal })`, and report the outcome: success, or a drop when `isDrop(error)`. */
  async run<T>(
    fn: (context: { signal: AbortSignal | undefined }) => T | PromiseLike<T>,
    options?: AdaptiveAcquireOptions,
  ): Promise<T> {
    checkFunction('fn', fn);
    const permit = await this.acquire(options);
    try {
      const value = await fn({ signal: options?.signal });
      permit.success();
      return value;
    } catch (error) {
      if (options?.signal?.aborted) permit.ignore();
      else if (this.#isDrop(error)) permit.drop();
      else permit.ignore();
      throw error;
    }
  }

  /** Refuse new callers; waiters reject with `ClosedError`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const queue of this.#queues.values()) {
      for (const waiter of queue) this.#leave(waiter, new ClosedError('Adaptive limiter is closed'));
    }
  }

  /** @internal called by AdaptivePermit */
  complete(permit: AdaptivePermit, outcome: 'success' | 'drop' | 'ignore'): void {
    this.#inflight--;
    this.#inflightBy.set(permit.partition, (this.#inflightBy.get(permit.partition) ?? 1) - 1);
    const now = this.#clock.now();
    if (outcome === 'drop') this.#dropped++;
    else if (outcome === 'success') this.#succeeded++;
    if (outcome !== 'ignore') this.#sample(permit, now, outcome === 'drop');
    this.#dispatch();
  }

  #sample(permit: AdaptivePermit, now: number, dropped: boolean): void {
    const rtt = now - permit.startedAt;
    const probing = this.#probing;
    if (probing !== undefined && this.#probeUntil > 0) {
      if (permit.probe && !dropped) {
        this.#probeRtts.push(rtt);
        if (--this.#probeUntil === 0) {
          probing.setMinRtt(Math.min(...this.#probeRtts));
          this.#probeRtts = [];
          this.#nextProbeAt = now + this.#probeInterval;
          this.#setLimit(probing.limit);
        }
      }
      return;
    }
    const next = this.#algorithm.update({ now, rtt, inflight: permit.inflight, dropped });
    this.#setLimit(next);
    if (probing !== undefined && now >= this.#nextProbeAt) {
      this.#probeUntil = this.#probeSamples; // drain to one call at a time and measure
    }
  }

  #setLimit(value: number): void {
    const next = Math.max(1, Math.round(value));
    if (next === this.#limit) return;
    const from = this.#limit;
    this.#limit = next;
    if (this.#listeners.has('limit')) this.#listeners.emit('limit', { from, to: next });
  }

  #admit(partition: string): AdaptivePermit {
    this.#inflight++;
    this.#inflightBy.set(partition, (this.#inflightBy.get(partition) ?? 0) + 1);
    const probe = this.#probeUntil > 0;
    return new AdaptivePermit(this, this.#clock.now(), this.#inflight, partition, probe);
  }

  #dispatch(): void {
    while (this.#waiting > 0 && this.#inflight < this.limit) {
      const waiter = this.#next();
      if (waiter === undefined) return;
      this.#waiting--;
      waiter.done = true;
      disarm(waiter, this.#clock);
      waiter.resolve(this.#admit(waiter.partition));
    }
  }

  /** The waiter to serve next: partitions below their share first; FIFO, or LIFO while shedding. */
  #next(): Waiter | undefined {
    const lifo = this.#shedding();
    let best: { queue: Deque<Waiter>; waiter: Waiter; under: boolean } | undefined;
    for (const [partition, queue] of this.#queues) {
      const waiter = lifo ? this.#peekTail(queue) : this.#peekHead(queue);
      if (waiter === undefined) continue;
      const share = this.#shares?.get(partition);
      const under = share !== undefined && (this.#inflightBy.get(partition) ?? 0) < Math.ceil(share * this.#limit);
      const better =
        best === undefined ||
        (under && !best.under) ||
        (under === best.under && (lifo ? waiter.seq > best.waiter.seq : waiter.seq < best.waiter.seq));
      if (better) best = { queue, waiter, under };
    }
    if (best === undefined) return undefined;
    if (lifo) best.queue.pop();
    else best.queue.shift();
    return best.waiter;
  }

  /** The first waiter still waiting (dropping the ones that left). */
  #peekHead(queue: Deque<Waiter>): Waiter | undefined {
    while (queue.length > 0 && (queue.peek() as Waiter).done) queue.shift();
    return queue.peek();
  }

  /** The last waiter still waiting (dropping the ones that left). */
  #peekTail(queue: Deque<Waiter>): Waiter | undefined {
    while (queue.length > 0) {
      const tail = queue.pop() as Waiter;
      if (!tail.done) {
        queue.push(tail);
        return tail;
      }
    }
    return undefined;
  }

  /** Whether the oldest live waiter has waited past `maxQueueWaitMs`. */
  #shedding(): boolean {
    if (this.#maxQueueWait === Number.POSITIVE_INFINITY || this.#waiting === 0) return false;
    let oldest = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues.values()) {
      const head = this.#peekHead(queue);
      if (head !== undefined) oldest = Math.min(oldest, head.enqueuedAt);
    }
    return this.#clock.now() - oldest > this.#maxQueueWait;
  }

  /** Why a new caller would be refused now, if it would (the error is built only when needed). */
  #refusal(): string | undefined {
    if (this.#overloaded?.() === true) return `Refused: the process is overloaded (${this.#describe()})`;
    if (this.#shedding()) {
      return `Shedding load: the oldest waiter has waited over ${this.#maxQueueWait} ms (${this.#describe()})`;
    }
    return undefined;
  }

  #leave(waiter: Waiter, error: unknown): void {
    if (waiter.done) return;
    waiter.done = true;
    this.#waiting--;
    disarm(waiter, this.#clock);
    waiter.reject(error);
  }

  #partition(name: unknown): string {
    if (this.#shares === undefined) {
      if (name !== undefined)
        throw new TypeError(`Expected no \`partition\` (the limiter has no partitions), got ${show(name)}`);
      return NONE;
    }
    if (typeof name !== 'string' || !this.#shares.has(name)) {
      throw new TypeError(
        `Expected \`partition\` to be one of ${[...this.#shares.keys()].map((k) => `'${k}'`).join(', ')}, got ${show(name)}`,
      );
    }
    return name;
  }

  #describe(): string {
    return `limit ${this.limit}, ${this.#inflight} in flight, ${this.#waiting} waiting`;
  }
}
