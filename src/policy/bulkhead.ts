import { QueueFullError } from '../core/errors.js';
import type { Permit } from '../core/Permit.js';
import { Semaphore } from '../core/Semaphore.js';
import { checkCount } from '../core/validate.js';
import { contextOf, type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions {
  /** Calls running at once. An integer >= 1. */
  readonly concurrency: number;
  /** Calls allowed to wait for a slot; one more is refused with `QueueFullError`. An integer >= 0 or Infinity. @default 0 */
  readonly queue?: number;
}

/**
 * Isolation: at most `concurrency` calls run at once, `queue` more wait (FIFO),
 * the rest are refused at once with `QueueFullError` (`SLUICE_QUEUE_FULL`),
 * whose message carries the live counts. On top of the core `Semaphore`.
 */
export class BulkheadPolicy implements Policy {
  readonly #semaphore: Semaphore;
  readonly #queue: number;
  #rejected = 0;

  constructor(options: BulkheadOptions) {
    const concurrency = checkCount('concurrency', options?.concurrency, 1, false);
    this.#queue = options.queue === undefined ? 0 : checkCount('queue', options.queue, 0, true);
    this.#semaphore = new Semaphore(concurrency);
  }

  stats(): { readonly running: number; readonly queued: number; readonly rejected: number } {
    return { running: this.#semaphore.inUse, queued: this.#semaphore.waiting, rejected: this.#rejected };
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const sem = this.#semaphore;
    // A free slot needs no signal (reading a lazily created one costs more than the rest).
    const permit = sem.tryAcquire();
    if (permit !== undefined) return this.#run(fn, options, permit);
    if (sem.available === 0 && sem.waiting >= this.#queue) {
      this.#rejected++;
      return Promise.reject(
        new QueueFullError(
          `Bulkhead is full (${sem.inUse}/${sem.capacity} running, ${sem.waiting}/${this.#queue} queued)`,
        ),
      );
    }
    return sem.acquire({ signal: options?.signal }).then((waited) => this.#run(fn, options, waited));
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

/** At most `concurrency` at once, `queue` waiting, the rest refused. */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
