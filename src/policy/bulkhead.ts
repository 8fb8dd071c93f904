import { QueueFullError } from '../core/errors.js';
import { Semaphore } from '../core/Semaphore.js';
import { checkCount } from '../core/validate.js';
import { type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';

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

  async execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const sem = this.#semaphore;
    if (sem.available === 0 && sem.waiting >= this.#queue) {
      this.#rejected++;
      throw new QueueFullError(
        `Bulkhead is full (${sem.inUse}/${sem.capacity} running, ${sem.waiting}/${this.#queue} queued)`,
      );
    }
    const signal = options?.signal;
    const permit = await sem.acquire({ signal });
    try {
      return await invoke(fn, { signal, attempt: options?.attempt ?? 1 });
    } finally {
      permit.release();
    }
  }
}

/** At most `concurrency` at once, `queue` waiting, the rest refused. */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
