import type { AcquireOptions, Admission, AdmissionStats, RunContext } from '../core/admission.js';
import { QueueFullError } from '../core/errors.js';
import type { Permit } from '../core/Permit.js';
import { Semaphore } from '../core/Semaphore.js';
import { checkCount, checkFunction, checkRenamed } from '../core/validate.js';
import { contextOf, type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions {
  /** Calls running at once. An integer >= 1. */
  readonly concurrency: number;
  /** Calls allowed to wait for a slot; one more is refused with `QueueFullError`. An integer >= 0 or Infinity. @default 0 */
  readonly maxWaiting?: number;
}

/** What a bulkhead's `stats()` reports. */
export interface BulkheadStats extends AdmissionStats {
  readonly concurrency: number;
}

/**
 * Isolation: at most `concurrency` calls run at once, `maxWaiting` more wait (FIFO),
 * the rest are refused at once with `QueueFullError` (`SLUICE_QUEUE_FULL`),
 * whose message carries the live counts. On top of the core `Semaphore`.
 * A policy (`execute`) and a limiter (`acquire`, `run`) at once.
 */
export class BulkheadPolicy implements Policy, Admission<Permit, Omit<AcquireOptions, 'weight'>> {
  readonly #semaphore: Semaphore;
  readonly #maxWaiting: number;
  #rejected = 0;

  constructor(options: BulkheadOptions) {
    const concurrency = checkCount('concurrency', options?.concurrency, 1, false);
    checkRenamed(options, { queue: 'maxWaiting' });
    this.#maxWaiting = options.maxWaiting === undefined ? 0 : checkCount('maxWaiting', options.maxWaiting, 0, true);
    this.#semaphore = new Semaphore(concurrency, { name: 'Bulkhead' });
  }

  stats(): BulkheadStats {
    const { running, waiting, admitted, rejected, timedOut, aborted, capacity } = this.#semaphore.stats();
    return {
      running,
      waiting,
      admitted,
      rejected: rejected + this.#rejected,
      timedOut,
      aborted,
      concurrency: capacity,
    };
  }

  get closed(): boolean {
    return this.#semaphore.closed;
  }

  /** Stop admitting: waiters reject with `ClosedError`; resolves once running calls are done. */
  close(): Promise<void> {
    return this.#semaphore.close();
  }

  /** `close()`, with `reason` as the waiters' `ClosedError` `cause`. */
  destroy(reason?: unknown): Promise<void> {
    return this.#semaphore.destroy(reason);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A slot, waiting in the queue when all are taken; refused with `QueueFullError` when the queue is full too. */
  acquire(options?: Omit<AcquireOptions, 'weight'>): Promise<Permit> {
    const permit = this.tryAcquire();
    if (permit !== undefined) return Promise.resolve(permit);
    const full = this.#full();
    if (full !== undefined) return Promise.reject(full);
    return this.#semaphore.acquire(options);
  }

  /** A slot now, or `undefined`. Never jumps the queue. */
  tryAcquire(): Permit | undefined {
    return this.#semaphore.tryAcquire();
  }

  /** The admission protocol's `run`: `fn({ signal })` in a slot. */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: Omit<AcquireOptions, 'weight'>): Promise<T> {
    checkFunction('fn', fn);
    const full = this.#semaphore.available === 0 ? this.#full() : undefined;
    if (full !== undefined) return Promise.reject(full);
    return this.#semaphore.run(fn, options);
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    checkFunction('fn', fn);
    const sem = this.#semaphore;
    // A free slot needs no signal (reading a lazily created one costs more than the rest).
    const permit = sem.tryAcquire();
    if (permit !== undefined) return this.#run(fn, options, permit);
    const full = this.#full();
    if (full !== undefined) return Promise.reject(full);
    return sem.acquire({ signal: options?.signal }).then((waited) => this.#run(fn, options, waited));
  }

  /** The refusal when every slot is taken and the queue is full (counted), else undefined. */
  #full(): QueueFullError | undefined {
    const sem = this.#semaphore;
    if (sem.available > 0 || sem.waiting < this.#maxWaiting || sem.closed) return undefined;
    this.#rejected++;
    return new QueueFullError(
      `Bulkhead is full (${sem.inUse}/${sem.capacity} running, ${sem.waiting}/${this.#maxWaiting} waiting)`,
    );
  }

  #run<T>(fn: Work<T>, options: ExecuteOptions | undefined, permit: Permit): Promise<T> {
    return invoke(fn, contextOf(options)).then(
      (value) => {
        permit.release();
        return value;
      },
      (error: unknown) => {
        permit.release();
        throw error;
      },
    );
  }
}

/** At most `concurrency` at once, `maxWaiting` waiting, the rest refused. */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
