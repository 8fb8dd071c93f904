import { type AcquireOptions, type Admission, type AdmissionStats, type RunContext, runLeased } from './admission.js';
import { type Clock, systemClock } from './clock.js';
import { ClosedError, QueueFullError, TimeoutError } from './errors.js';
import { Permit, type PermitOwner } from './Permit.js';
import { admissions, TRACE_AS, Trace, type TraceAs } from './trace.js';
import { checkCount, checkFiniteNumber, checkFunction, checkMs, checkName, checkSignal, show } from './validate.js';
import { type Waiter, Waiters, type WaitersHost } from './Waiters.js';

/** Options of the {@link Semaphore} constructor. */
export interface SemaphoreOptions {
  /**
   * Most requests allowed to wait; one more rejects with `QueueFullError`
   * (`SLUICE_QUEUE_FULL`). An integer >= 0 or Infinity. @default Infinity
   */
  readonly maxWaiting?: number;
  /** Time source for timeouts. @default systemClock */
  readonly clock?: Clock;
  /**
   * Names the part in its error messages ("orders-db acquire timed out ...")
   * and on the admission channel (`ADMISSION_CHANNEL`, `sluice/otel`). @default 'Semaphore'
   */
  readonly name?: string;
}

/** Counters a metrics exporter can read. All monotonic except the gauges. */
export interface SemaphoreStats extends AdmissionStats {
  readonly capacity: number;
  readonly inUse: number;
}

/**
 * A counting semaphore with weighted, strictly FIFO admission.
 *
 * Fairness: requests are served in arrival order (within a priority). A large
 * request at the head is not overtaken by smaller ones behind it, even if they
 * would fit: that is what keeps heavy requests from starving. `tryAcquire`
 * never jumps the queue: it fails while anyone is waiting.
 *
 * Cancel safety: aborting or timing out a waiting `acquire` removes it from the
 * queue and wakes whoever can now go first. Once `acquire` has resolved, the
 * permit is the caller's and abort has no effect on it; release it.
 */
export class Semaphore implements Admission<Permit>, PermitOwner, AsyncDisposable {
  #capacity: number;
  #inUse = 0;
  readonly #waiters: Waiters;
  #closed = false;
  #closeReason: unknown = undefined;
  #idleResolvers: (() => void)[] = [];
  readonly #maxWaiting: number;
  readonly #name: string;
  #admitted = 0;
  /** Leases out now (`#inUse` is their weight). */
  #running = 0;
  /** Refused at once for `timeout: 0` (the engine counts the ones that waited). */
  #timedOutNow = 0;
  #rejected = 0;
  readonly #trace: Trace;

  /**
   * @param permits capacity: an integer >= 1, or Infinity.
   */
  constructor(permits: number, options: SemaphoreOptions = {}) {
    this.#capacity = checkCount('permits', permits, 1, true);
    this.#maxWaiting =
      options.maxWaiting === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('maxWaiting', options.maxWaiting, 0, true);
    this.#name = checkName(options.name, 'Semaphore');
    const clock = options.clock ?? systemClock;
    const as = (options as TraceAs)[TRACE_AS];
    this.#trace = new Trace(as?.part ?? this, as?.kind ?? 'Semaphore', this.#name, clock);
    this.#waiters = new Waiters(this.#host, clock, undefined, this.#trace);
  }

  /** Total capacity. */
  get capacity(): number {
    return this.#capacity;
  }
  /** Capacity held by outstanding permits. */
  get inUse(): number {
    return this.#inUse;
  }
  /** Capacity free right now (0 when over capacity after a shrink). */
  get available(): number {
    return Math.max(0, this.#capacity - this.#inUse);
  }
  /** Requests waiting. */
  get waiting(): number {
    return this.#waiters.size;
  }
  get closed(): boolean {
    return this.#closed;
  }

  stats(): SemaphoreStats {
    return {
      capacity: this.#capacity,
      inUse: this.#inUse,
      running: this.#running,
      waiting: this.#waiters.size,
      admitted: this.#admitted,
      timedOut: this.#timedOutNow + this.#waiters.counters.timedOut,
      aborted: this.#waiters.counters.aborted,
      rejected: this.#rejected,
    };
  }

  /** Wait for admission. See the class notes for fairness and cancel safety. */
  acquire(options?: AcquireOptions): Promise<Permit> {
    const admission = this.#admit(options);
    return admission instanceof Permit ? Promise.resolve(admission) : admission;
  }

  /** Admission now, or `undefined`. Never jumps ahead of a waiting request. */
  tryAcquire(options?: { readonly weight?: number }): Permit | undefined {
    const weight = options?.weight === undefined ? 1 : this.#checkWeight(options.weight);
    if (this.#closed || this.#waiters.size > 0 || this.#inUse + weight > this.#capacity) return undefined;
    return this.#lend(weight);
  }

  /**
   * Acquire, call `fn({ signal })`, release once it settles. Admitted at once,
   * `fn` starts synchronously; after a wait, in the tick of the grant. Never
   * starts on an aborted signal.
   */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    checkFunction('fn', fn);
    const signal = options?.signal;
    const context: RunContext = { signal };
    return runLeased(this.#admit(options), () => fn(context), signal);
  }

  /**
   * Change the capacity at run time. Growing wakes waiters at once; shrinking
   * lets current holders finish and admits no one until usage is below the new
   * capacity. Waiters whose weight exceeds the new capacity could never be
   * served, so they are rejected with a `RangeError`.
   */
  resize(permits: number): void {
    this.#capacity = checkCount('permits', permits, 1, true);
    if (this.#waiters.size > 0) {
      // Collect first: failing waiters may compact the queue under an iterator.
      const tooHeavy = [...this.#waiters].filter((waiter) => waiter.weight > this.#capacity);
      for (const waiter of tooHeavy) {
        this.#waiters.fail(
          waiter,
          new RangeError(
            `Expected \`weight\` to be at most the capacity ${this.#capacity}, got ${show(waiter.weight)}`,
          ),
        );
      }
      this.#drain();
    }
  }

  /**
   * Stop admitting: every waiter rejects with `ClosedError` (`SLUICE_CLOSED`),
   * later `acquire` calls reject at once and `tryAcquire` returns `undefined`.
   * Holders keep their permits. Resolves once every permit has been released.
   * Idempotent.
   */
  close(): Promise<void> {
    return this.destroy();
  }

  /**
   * `close()`, with `reason` as the waiters' `ClosedError` `cause`. A
   * semaphore cannot take permits back: it too resolves once they are released.
   */
  destroy(reason?: unknown): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#closeReason = reason;
      const waiting = this.#waiters.size;
      this.#rejected += this.#waiters.failAll(this.#closedError(waiting));
    }
    if (this.#inUse === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleResolvers.push(resolve));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal called by Permit.release */
  releasePermit(weight: number, permit: Permit): void {
    this.#inUse -= weight;
    this.#running--;
    if (admissions.hasSubscribers) this.#trace.released(permit);
    if (this.#waiters.size > 0) this.#drain();
    else if (this.#inUse === 0 && this.#idleResolvers.length > 0) {
      const resolvers = this.#idleResolvers;
      this.#idleResolvers = [];
      for (const resolve of resolvers) resolve();
    }
  }

  /** A permit now, or the promise of one (validation errors throw). */
  #admit(options: AcquireOptions | undefined): Permit | Promise<Permit> {
    let weight = 1;
    let priority = 0;
    let timeout = Number.POSITIVE_INFINITY;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (options.weight !== undefined) weight = this.#checkWeight(options.weight);
      if (options.priority !== undefined) priority = checkFiniteNumber('priority', options.priority);
      if (options.timeout !== undefined) timeout = checkMs('timeout', options.timeout);
      signal = checkSignal('signal', options.signal);
    }
    if (this.#closed) {
      this.#rejected++;
      return this.#refuse(this.#closedError());
    }
    const waiters = this.#waiters;
    if (signal?.aborted) return waiters.refuseAborted(signal);
    // Admit now if it fits and no one would be ahead of it: the queue is empty,
    // or this request outranks the (blocked) head by priority.
    if (
      this.#inUse + weight <= this.#capacity &&
      (waiters.size === 0 || priority > (waiters.first() as Waiter).priority)
    ) {
      return this.#lend(weight);
    }
    if (timeout === 0) {
      this.#timedOutNow++;
      return this.#refuse(this.#timeoutError(0, weight));
    }
    if (waiters.size >= this.#maxWaiting) {
      this.#rejected++;
      return this.#refuse(
        new QueueFullError(
          `${this.#name} queue is full (${waiters.size}/${this.#maxWaiting} waiting; ${this.#inUse}/${this.#capacity} in use)`,
        ),
      );
    }
    return waiters.wait<Permit>(weight, priority, undefined, undefined, signal, timeout);
  }

  /** Admission now: the capacity taken, a permit for it. */
  #lend(weight: number): Permit {
    this.#inUse += weight;
    this.#admitted++;
    this.#running++;
    const permit = new Permit(this, weight);
    if (admissions.hasSubscribers) this.#trace.admitted(permit);
    return permit;
  }

  /** A refusal at once (closed, `timeout: 0`, queue full), told on the admission channel. */
  #refuse(error: unknown): Promise<never> {
    if (admissions.hasSubscribers) this.#trace.rejected(error);
    return Promise.reject(error);
  }

  /** Grant waiters from the head while they fit. */
  #drain(): void {
    const waiters = this.#waiters;
    let head = waiters.first();
    while (head !== undefined && this.#inUse + head.weight <= this.#capacity) {
      this.#inUse += head.weight;
      this.#admitted++;
      this.#running++;
      waiters.grant(head, new Permit(this, head.weight));
      head = waiters.first();
    }
  }

  readonly #host: WaitersHost = {
    // A heavy head that leaves may unblock lighter waiters behind it.
    left: (_waiter, wasFirst) => {
      if (wasFirst) this.#drain();
    },
    timeoutError: (waiter, timeout) => this.#timeoutError(timeout, waiter.weight),
  };

  #checkWeight(weight: unknown): number {
    checkCount('weight', weight, 1, false);
    if ((weight as number) > this.#capacity) {
      throw new RangeError(`Expected \`weight\` to be at most the capacity ${this.#capacity}, got ${show(weight)}`);
    }
    return weight as number;
  }

  #timeoutError(ms: number, weight: number): TimeoutError {
    return new TimeoutError(
      `${this.#name} acquire timed out after ${ms} ms (weight ${weight}; ${this.#inUse}/${this.#capacity} in use, ${this.#waiters.size} waiting)`,
    );
  }

  #closedError(rejected?: number): ClosedError {
    const detail = rejected === undefined ? '' : ` (${rejected} waiting rejected)`;
    return new ClosedError(`${this.#name} is closed${detail}`, { cause: this.#closeReason });
  }
}
