/**
 * Long file: one class, admission under a moving limit with partitions,
 * probes of the unloaded latency and queue-wait shedding; the permit and the
 * algorithms live beside it.
 */
import { type Admission, type AdmissionStats, type RunContext, runLeased } from '../core/admission.js';
import { type Clock, systemClock } from '../core/clock.js';
import { Emitter } from '../core/Emitter.js';
import { ClosedError, OverloadedError, QueueFullError, TimeoutError } from '../core/errors.js';
import { admissions, Trace } from '../core/trace.js';
import { checkCount, checkFunction, checkMs, checkName, checkRenamed, checkSignal, show } from '../core/validate.js';
import { WaitCounters, type Waiter, Waiters, type WaitersHost } from '../core/Waiters.js';
import { AdaptivePermit } from './AdaptivePermit.js';
import { type GradientAlgorithm, gradient, type LimitAlgorithm } from './algorithms.js';

export { AdaptivePermit } from './AdaptivePermit.js';

/** Options of the {@link AdaptiveLimiter} constructor. */
export interface AdaptiveLimiterOptions {
  /** How the limit moves. @default gradient() (Envoy-style, with periodic probes of the unloaded latency) */
  readonly algorithm?: LimitAlgorithm;
  /** For algorithms that need the unloaded latency (`gradient`): probe it this often. @default 10000 */
  readonly probeInterval?: number;
  /** Calls measured at minimum concurrency per probe. @default 5 */
  readonly probeSamples?: number;
  /** Which failures count as drops (overload signals). @default every error */
  readonly isFailure?: (error: unknown) => boolean;
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
  readonly maxQueueWait?: number;
  /** Refuse new callers while this returns true (e.g. an `EventLoopLag` monitor's `overloaded`). */
  readonly overloaded?: () => boolean;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Names the limiter on the admission channel (`ADMISSION_CHANNEL`, `sluice/otel`). @default 'AdaptiveLimiter' */
  readonly name?: string;
}

export interface AdaptiveAcquireOptions {
  readonly signal?: AbortSignal | undefined;
  /** @default Infinity */
  readonly timeout?: number;
  /** With `partitions`: which one the call belongs to. */
  readonly partition?: string;
}

/** `rejected` counts refusals by shedding, `overloaded`, `maxWaiting` and close. */
export interface AdaptiveLimiterStats extends AdmissionStats {
  readonly limit: number;
  readonly succeeded: number;
  readonly dropped: number;
  /** The unloaded RTT from the last probe (gradient), or 0. */
  readonly minRtt: number;
}

export interface AdaptiveLimiterEvents extends Record<string, unknown> {
  limit: { readonly from: number; readonly to: number };
}

const NONE = '';

/**
 * A concurrency limit that finds itself: the admission protocol on top of a
 * limit that a {@link LimitAlgorithm} moves from the latency and failures of
 * completed calls (errors and timeouts count as drops), within its bounds.
 * Optional partitions with guaranteed shares, queue-wait load shedding with
 * adaptive LIFO, and an external overload signal (event-loop lag).
 */
export class AdaptiveLimiter
  extends Emitter<AdaptiveLimiterEvents>
  implements Admission<AdaptivePermit, AdaptiveAcquireOptions>
{
  readonly #algorithm: LimitAlgorithm;
  readonly #probing: GradientAlgorithm | undefined;
  readonly #probeInterval: number;
  readonly #probeSamples: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #shares: Map<string, number> | undefined;
  readonly #maxWaiting: number;
  readonly #maxQueueWait: number;
  readonly #overloaded: (() => boolean) | undefined;
  readonly #clock: Clock;
  /** One wait queue per partition (a waiter's `data` is when it arrived). */
  readonly #queues = new Map<string, Waiters>();
  readonly #counters = new WaitCounters();
  /** Arrival numbers (a waiter's `extra`): order across the partitions' queues. */
  #seq = 0;
  readonly #runningBy = new Map<string, number>();
  #limit: number;
  #running = 0;
  #waiting = 0;
  #probeUntil = 0; // samples still to take in the current probe (0: not probing)
  #probeRtts: number[] = [];
  #nextProbeAt = 0;
  #closed = false;
  #idleResolvers: (() => void)[] = [];
  #succeeded = 0;
  #dropped = 0;
  #rejected = 0;
  #admitted = 0;
  /** Refused at once for `timeout: 0` (the engines count the ones that waited). */
  #timedOutNow = 0;
  readonly #trace: Trace;

  constructor(options: AdaptiveLimiterOptions = {}) {
    super();
    this.#algorithm = options.algorithm ?? gradient();
    if (typeof this.#algorithm?.update !== 'function') {
      throw new TypeError(
        `Expected \`algorithm\` to be a limit algorithm (aimd(), vegas(), gradient2(), gradient()), got ${show(options.algorithm)}`,
      );
    }
    const maybeGradient = this.#algorithm as Partial<GradientAlgorithm>;
    this.#probing = typeof maybeGradient.setMinRtt === 'function' ? (this.#algorithm as GradientAlgorithm) : undefined;
    checkRenamed(options, { probeIntervalMs: 'probeInterval', isDrop: 'isFailure', maxQueueWaitMs: 'maxQueueWait' });
    this.#probeInterval = checkMs('probeInterval', options.probeInterval ?? 10_000, false);
    this.#probeSamples = checkCount('probeSamples', options.probeSamples ?? 5, 1, false);
    if (options.isFailure !== undefined) checkFunction('isFailure', options.isFailure);
    this.#isFailure = options.isFailure ?? (() => true);
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
    this.#maxQueueWait = checkMs('maxQueueWait', options.maxQueueWait ?? Number.POSITIVE_INFINITY);
    if (options.overloaded !== undefined) checkFunction('overloaded', options.overloaded);
    this.#overloaded = options.overloaded;
    this.#clock = options.clock ?? systemClock;
    this.#trace = new Trace(this, 'AdaptiveLimiter', checkName(options.name, 'AdaptiveLimiter'), this.#clock);
    this.#limit = Math.max(1, Math.round(this.#algorithm.limit));
    if (this.#probing !== undefined) this.#probeUntil = this.#probeSamples; // measure the unloaded RTT first
  }

  /** The concurrency limit in force (an integer). */
  get limit(): number {
    return this.#probeUntil > 0 ? 1 : this.#limit;
  }
  /** Callers waiting now. */
  get waiting(): number {
    return this.#waiting;
  }
  get running(): number {
    return this.#running;
  }
  get closed(): boolean {
    return this.#closed;
  }

  stats(): AdaptiveLimiterStats {
    return {
      limit: this.limit,
      running: this.#running,
      waiting: this.#waiting,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#timedOutNow + this.#counters.timedOut,
      aborted: this.#counters.aborted,
      succeeded: this.#succeeded,
      dropped: this.#dropped,
      minRtt: this.#probing?.minRtt ?? 0,
    };
  }

  /** Wait for admission; report the outcome on the permit. */
  acquire(options?: AdaptiveAcquireOptions): Promise<AdaptivePermit> {
    const admission = this.#enter(options);
    return admission instanceof Promise ? admission : Promise.resolve(admission);
  }

  /** A permit now, or the promise of one (validation errors throw). */
  #enter(options: AdaptiveAcquireOptions | undefined): AdaptivePermit | Promise<AdaptivePermit> {
    const signal = checkSignal('signal', options?.signal);
    const timeout = options?.timeout === undefined ? Number.POSITIVE_INFINITY : checkMs('timeout', options.timeout);
    const partition = this.#partition(options?.partition);
    if (this.#closed) {
      this.#rejected++;
      return this.#refuse(new ClosedError('Adaptive limiter is closed'));
    }
    if (signal?.aborted) {
      this.#counters.aborted++;
      if (admissions.hasSubscribers) this.#trace.rejected(signal.reason, undefined, 'aborted');
      return Promise.reject(signal.reason);
    }
    const refusal = this.#refusal();
    if (refusal !== undefined) {
      this.#rejected++;
      return this.#refuse(new OverloadedError(refusal));
    }
    if (this.#waiting === 0 && this.#running < this.limit) return this.#admitNow(partition);
    if (timeout === 0) {
      this.#timedOutNow++;
      return this.#refuse(new TimeoutError(`Adaptive limiter acquire timed out after 0 ms (${this.#describe()})`));
    }
    if (this.#waiting >= this.#maxWaiting) {
      this.#rejected++;
      return this.#refuse(new QueueFullError(`Adaptive limiter queue is full (${this.#describe()})`));
    }
    let queue = this.#queues.get(partition);
    if (queue === undefined) {
      queue = new Waiters(this.#host, this.#clock, this.#counters, this.#trace);
      this.#queues.set(partition, queue);
    }
    this.#waiting++;
    return queue.wait<AdaptivePermit>(1, 0, this.#clock.now(), this.#seq++, signal, timeout);
  }

  readonly #host: WaitersHost = {
    left: () => {
      this.#waiting--;
    },
    timeoutError: (_waiter, timeout) =>
      new TimeoutError(`Adaptive limiter acquire timed out after ${timeout} ms (${this.#describe()})`),
  };

  /** Admission now, or `undefined`. Never jumps the queue. */
  tryAcquire(options?: { readonly partition?: string }): AdaptivePermit | undefined {
    const partition = this.#partition(options?.partition);
    if (this.#closed || this.#waiting > 0 || this.#running >= this.limit || this.#refusal() !== undefined) {
      return undefined;
    }
    return this.#admitNow(partition);
  }

  /** Admission without a wait, told on the admission channel. */
  #admitNow(partition: string): AdaptivePermit {
    const permit = this.#admit(partition);
    if (admissions.hasSubscribers) this.#trace.admitted(permit);
    return permit;
  }

  /** A refusal at once, told on the admission channel. */
  #refuse(error: unknown): Promise<never> {
    if (admissions.hasSubscribers) this.#trace.rejected(error);
    return Promise.reject(error);
  }

  /**
   * Acquire, run `fn({ signal })`, and report the outcome: success, or a drop
   * when `isFailure(error)` (failures after the caller's abort are ignored).
   * Admitted at once, `fn` starts synchronously. Never starts on an aborted signal.
   */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: AdaptiveAcquireOptions): Promise<T> {
    checkFunction('fn', fn);
    const signal = options?.signal;
    const context: RunContext = { signal };
    return runLeased(
      this.#enter(options),
      () => fn(context),
      signal,
      (permit, failed, error) => {
        if (!failed) permit.success();
        else if (signal?.aborted) permit.ignore();
        else if (this.#isFailure(error)) permit.drop();
        else permit.ignore();
      },
    );
  }

  /**
   * Refuse new callers; waiters reject with `ClosedError`. Resolves once every
   * permit has been reported. Idempotent.
   */
  close(): Promise<void> {
    return this.destroy();
  }

  /** `close()`, with `reason` as the waiters' `ClosedError` `cause`. */
  destroy(reason?: unknown): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const error = new ClosedError('Adaptive limiter is closed', { cause: reason });
      for (const queue of this.#queues.values()) this.#waiting -= queue.failAll(error);
    }
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleResolvers.push(resolve));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal called by AdaptivePermit */
  complete(permit: AdaptivePermit, outcome: 'success' | 'drop' | 'ignore'): void {
    this.#running--;
    if (admissions.hasSubscribers) this.#trace.released(permit);
    this.#runningBy.set(permit.partition, (this.#runningBy.get(permit.partition) ?? 1) - 1);
    const now = this.#clock.now();
    if (outcome === 'drop') this.#dropped++;
    else if (outcome === 'success') this.#succeeded++;
    if (outcome !== 'ignore') this.#sample(permit, now, outcome === 'drop');
    this.#dispatch();
    if (this.#running === 0 && this.#idleResolvers.length > 0) {
      const resolvers = this.#idleResolvers;
      this.#idleResolvers = [];
      for (const resolve of resolvers) resolve();
    }
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
    const next = this.#algorithm.update({ now, rtt, running: permit.running, dropped });
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
    if (this.listens('limit')) this.notify('limit', { from, to: next });
  }

  #admit(partition: string): AdaptivePermit {
    this.#running++;
    this.#admitted++;
    this.#runningBy.set(partition, (this.#runningBy.get(partition) ?? 0) + 1);
    const probe = this.#probeUntil > 0;
    return new AdaptivePermit(this, this.#clock.now(), this.#running, partition, probe);
  }

  #dispatch(): void {
    while (this.#waiting > 0 && this.#running < this.limit) {
      const next = this.#next();
      if (next === undefined) return;
      const [queue, waiter, partition] = next;
      this.#waiting--;
      queue.grant(waiter, this.#admit(partition));
    }
  }

  /** The waiter to serve next: partitions below their share first; FIFO, or LIFO while shedding. */
  #next(): [Waiters, Waiter, string] | undefined {
    const lifo = this.#shedding();
    let best: [Waiters, Waiter, string] | undefined;
    let bestUnder = false;
    for (const [partition, queue] of this.#queues) {
      const waiter = lifo ? queue.last() : queue.first();
      if (waiter === undefined) continue;
      const share = this.#shares?.get(partition);
      const under = share !== undefined && (this.#runningBy.get(partition) ?? 0) < Math.ceil(share * this.#limit);
      const better =
        best === undefined ||
        (under && !bestUnder) ||
        (under === bestUnder &&
          (lifo
            ? (waiter.extra as number) > (best[1].extra as number)
            : (waiter.extra as number) < (best[1].extra as number)));
      if (better) {
        best = [queue, waiter, partition];
        bestUnder = under;
      }
    }
    return best;
  }

  /** Whether the oldest live waiter has waited past `maxQueueWait`. */
  #shedding(): boolean {
    if (this.#maxQueueWait === Number.POSITIVE_INFINITY || this.#waiting === 0) return false;
    let oldest = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues.values()) {
      const head = queue.first();
      if (head !== undefined) oldest = Math.min(oldest, head.data as number);
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
    return `limit ${this.limit}, ${this.#running} in flight, ${this.#waiting} waiting`;
  }
}
