import { type Clock, systemClock } from './clock.js';
import { ClosedError, QueueFullError, TimeoutError } from './errors.js';
import { pending, takeResolver } from './gate.js';
import { Permit, type PermitOwner } from './Permit.js';
import { checkCount, checkFiniteNumber, checkFunction, checkMs, checkSignal, show } from './validate.js';
import { type WaitEntry, WaitQueue } from './WaitQueue.js';

/** Options of {@link Semaphore.acquire} and {@link Semaphore.run}. */
export interface AcquireOptions {
  /** How much capacity to take. An integer from 1 to the capacity. @default 1 */
  readonly weight?: number;
  /** Abort the wait: the request leaves the queue and the promise rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Give up after this many ms with a `TimeoutError` (`SLUICE_TIMEOUT`).
   * `0` means "now or fail". @default Infinity
   */
  readonly timeout?: number;
  /** Higher is served first; FIFO among equals. Any finite number. @default 0 */
  readonly priority?: number;
}

/** Options of the {@link Semaphore} constructor. */
export interface SemaphoreOptions {
  /**
   * Most requests allowed to wait; one more rejects with `QueueFullError`
   * (`SLUICE_QUEUE_FULL`). An integer >= 0 or Infinity. @default Infinity
   */
  readonly maxWaiting?: number;
  /** Time source for timeouts. @default systemClock */
  readonly clock?: Clock;
}

/** Counters a metrics exporter can read. All monotonic except the gauges. */
export interface SemaphoreStats {
  readonly capacity: number;
  readonly inUse: number;
  readonly waiting: number;
  /** Permits granted since construction. */
  readonly acquired: number;
  readonly timedOut: number;
  readonly aborted: number;
  /** Refused because the wait queue was full, or closed. */
  readonly rejected: number;
}

/** What `run` passes to the work. */
export interface RunContext {
  readonly signal: AbortSignal | undefined;
}

class Waiter implements WaitEntry {
  cancelled = false;
  /** Signal and timer, when the request has either (most have neither). */
  guard: Guard | undefined = undefined;
  constructor(
    readonly weight: number,
    public priority: number,
    /**
     * Settles the caller's promise. Rejections go through it too
     * (`resolve(Promise.reject(e))`), so no reject function is kept per waiter.
     */
    readonly resolve: (value: Permit | Promise<never>) => void,
  ) {}
  reject(error: unknown): void {
    this.resolve(Promise.reject(error));
  }
}

class Guard {
  timer: unknown = undefined;
  onAbort: (() => void) | undefined = undefined;
  constructor(readonly signal: AbortSignal | undefined) {}
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
export class Semaphore implements PermitOwner, AsyncDisposable {
  #capacity: number;
  #inUse = 0;
  #queue = new WaitQueue<Waiter>();
  #closed = false;
  #closeReason: unknown = undefined;
  #idleResolvers: (() => void)[] = [];
  readonly #maxWaiting: number;
  readonly #clock: Clock;
  #acquired = 0;
  #timedOut = 0;
  #aborted = 0;
  #rejected = 0;

  /**
   * @param permits capacity: an integer >= 1, or Infinity.
   */
  constructor(permits: number, options: SemaphoreOptions = {}) {
    this.#capacity = checkCount('permits', permits, 1, true);
    this.#maxWaiting =
      options.maxWaiting === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('maxWaiting', options.maxWaiting, 0, true);
    this.#clock = options.clock ?? systemClock;
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
    return this.#queue.size;
  }
  get closed(): boolean {
    return this.#closed;
  }

  stats(): SemaphoreStats {
    return {
      capacity: this.#capacity,
      inUse: this.#inUse,
      waiting: this.#queue.size,
      acquired: this.#acquired,
      timedOut: this.#timedOut,
      aborted: this.#aborted,
      rejected: this.#rejected,
    };
  }

  /** Wait for admission. See the class notes for fairness and cancel safety. */
  acquire(options?: AcquireOptions): Promise<Permit> {
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
      return Promise.reject(this.#closedError());
    }
    if (signal?.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    // Admit now if it fits and no one would be ahead of it: the queue is empty,
    // or this request outranks the (blocked) head by priority.
    if (this.#inUse + weight <= this.#capacity && (this.#queue.size === 0 || priority > this.#headPriority())) {
      this.#inUse += weight;
      this.#acquired++;
      return Promise.resolve(new Permit(this, weight));
    }
    if (timeout === 0) {
      this.#timedOut++;
      return Promise.reject(this.#timeoutError(0, weight));
    }
    if (this.#queue.size >= this.#maxWaiting) {
      this.#rejected++;
      return Promise.reject(
        new QueueFullError(
          `Semaphore queue is full (${this.#queue.size}/${this.#maxWaiting} waiting; ${this.#inUse}/${this.#capacity} in use)`,
        ),
      );
    }
    const promise = pending<Permit>();
    const waiter = new Waiter(weight, priority, takeResolver<Permit | Promise<never>>());
    this.#queue.push(waiter);
    if (signal !== undefined || timeout !== Number.POSITIVE_INFINITY) {
      const guard = new Guard(signal);
      waiter.guard = guard;
      if (signal !== undefined) {
        guard.onAbort = () => {
          this.#aborted++;
          this.#cancel(waiter, signal.reason);
        };
        signal.addEventListener('abort', guard.onAbort, { once: true });
      }
      if (timeout !== Number.POSITIVE_INFINITY) {
        guard.timer = this.#clock.setTimeout(() => {
          guard.timer = undefined;
          this.#timedOut++;
          this.#cancel(waiter, this.#timeoutError(timeout, weight));
        }, timeout);
      }
    }
    return promise;
  }

  /** Admission now, or `undefined`. Never jumps ahead of a waiting request. */
  tryAcquire(options?: { readonly weight?: number }): Permit | undefined {
    const weight = options?.weight === undefined ? 1 : this.#checkWeight(options.weight);
    if (this.#closed || this.#queue.size > 0 || this.#inUse + weight > this.#capacity) return undefined;
    this.#inUse += weight;
    this.#acquired++;
    return new Permit(this, weight);
  }

  /** Acquire, call `fn({ signal })`, release in `finally`. */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    checkFunction('fn', fn);
    // Validate synchronously (bad options throw), then wait.
    return this.#runWith(this.acquire(options), fn, options);
  }

  async #runWith<T>(
    admission: Promise<Permit>,
    fn: (context: RunContext) => T | PromiseLike<T>,
    options: AcquireOptions | undefined,
  ): Promise<T> {
    const permit = await admission;
    try {
      return await fn({ signal: options?.signal });
    } finally {
      permit.release();
    }
  }

  /**
   * Change the capacity at run time. Growing wakes waiters at once; shrinking
   * lets current holders finish and admits no one until usage is below the new
   * capacity. Waiters whose weight exceeds the new capacity could never be
   * served, so they are rejected with a `RangeError`.
   */
  resize(permits: number): void {
    this.#capacity = checkCount('permits', permits, 1, true);
    if (this.#queue.size > 0) {
      // Collect first: cancelling may compact the queue under an iterator.
      const tooHeavy = [...this.#queue].filter((waiter) => waiter.weight > this.#capacity);
      for (const waiter of tooHeavy) {
        this.#cancel(
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
   * Stop admitting: every waiter rejects with `ClosedError` (`SLUICE_CLOSED`,
   * `cause` = `reason`), later `acquire` calls reject at once and `tryAcquire`
   * returns `undefined`. Holders keep their permits. Resolves once every permit
   * has been released. Idempotent.
   */
  close(reason?: unknown): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#closeReason = reason;
      const waiters = this.#queue.drain();
      const error = this.#closedError(waiters.length);
      for (const waiter of waiters) {
        this.#rejected++;
        this.#settle(waiter);
        waiter.reject(error);
      }
    }
    if (this.#inUse === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleResolvers.push(resolve));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal called by Permit.release */
  releasePermit(weight: number): void {
    this.#inUse -= weight;
    if (this.#queue.size > 0) this.#drain();
    else if (this.#inUse === 0 && this.#idleResolvers.length > 0) {
      const resolvers = this.#idleResolvers;
      this.#idleResolvers = [];
      for (const resolve of resolvers) resolve();
    }
  }

  #drain(): void {
    const queue = this.#queue;
    let head = queue.peek();
    while (head !== undefined && this.#inUse + head.weight <= this.#capacity) {
      queue.dropHead();
      this.#inUse += head.weight;
      this.#acquired++;
      this.#settle(head);
      head.resolve(new Permit(this, head.weight));
      head = queue.peek();
    }
  }

  #headPriority(): number {
    return (this.#queue.peek() as Waiter).priority;
  }

  #cancel(waiter: Waiter, error: unknown): void {
    if (waiter.cancelled) return;
    const wasHead = this.#queue.peek() === waiter;
    this.#queue.cancel(waiter);
    this.#settle(waiter);
    waiter.reject(error);
    // A heavy head that leaves may unblock lighter waiters behind it.
    if (wasHead) this.#drain();
  }

  #settle(waiter: Waiter): void {
    const guard = waiter.guard;
    if (guard === undefined) return;
    waiter.guard = undefined;
    if (guard.onAbort !== undefined) {
      (guard.signal as AbortSignal).removeEventListener('abort', guard.onAbort);
      guard.onAbort = undefined;
    }
    if (guard.timer !== undefined) {
      this.#clock.clearTimeout(guard.timer);
      guard.timer = undefined;
    }
  }

  #checkWeight(weight: unknown): number {
    checkCount('weight', weight, 1, false);
    if ((weight as number) > this.#capacity) {
      throw new RangeError(`Expected \`weight\` to be at most the capacity ${this.#capacity}, got ${show(weight)}`);
    }
    return weight as number;
  }

  #timeoutError(ms: number, weight: number): TimeoutError {
    return new TimeoutError(
      `Semaphore acquire timed out after ${ms} ms (weight ${weight}; ${this.#inUse}/${this.#capacity} in use, ${this.#queue.size} waiting)`,
    );
  }

  #closedError(rejected?: number): ClosedError {
    const detail = rejected === undefined ? '' : ` (${rejected} waiting rejected)`;
    return new ClosedError(`Semaphore is closed${detail}`, { cause: this.#closeReason });
  }
}
