import type { Admission, RunContext } from './admission.js';
import type { Clock } from './clock.js';
import type { Permit } from './Permit.js';
import { Semaphore, type SemaphoreStats } from './Semaphore.js';
import { TRACE_AS, type TraceAs } from './trace.js';
import { show } from './validate.js';

/** Options of {@link Mutex.lock} and {@link Mutex.run}. */
export interface LockOptions {
  /** Abort the wait; the promise rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Give up after this many ms with `TimeoutError`. @default Infinity */
  readonly timeout?: number;
  /** Higher is served first; FIFO among equals. @default 0 */
  readonly priority?: number;
}

/**
 * Mutual exclusion: the one-permit {@link Semaphore}, FIFO, cancellable.
 *
 * ```ts
 * const mutex = new Mutex();
 * await mutex.run(async () => { await writeFileAtomically(); });
 * ```
 */
export class Mutex implements Admission<Permit, LockOptions>, AsyncDisposable {
  readonly #semaphore: Semaphore;

  constructor(options: { readonly clock?: Clock; readonly maxWaiting?: number; readonly name?: string } = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object (a Mutex has one permit), got ${show(options)}`);
    }
    const as: TraceAs = { [TRACE_AS]: { part: this, kind: 'Mutex' } };
    this.#semaphore = new Semaphore(1, { ...options, name: options.name ?? 'Mutex', ...as });
  }

  /** Whether someone holds the lock. */
  get locked(): boolean {
    return this.#semaphore.inUse > 0;
  }
  /** Callers waiting for the lock. */
  get waiting(): number {
    return this.#semaphore.waiting;
  }

  get closed(): boolean {
    return this.#semaphore.closed;
  }
  stats(): SemaphoreStats {
    return this.#semaphore.stats();
  }

  /** Wait for the lock; release the returned permit (or `using` it) to unlock. */
  lock(options?: LockOptions): Promise<Permit> {
    return this.#semaphore.acquire(options);
  }

  /** The admission protocol's name for `lock`. */
  acquire(options?: LockOptions): Promise<Permit> {
    return this.#semaphore.acquire(options);
  }

  /** The lock now, or `undefined` (also while others are waiting). */
  tryLock(): Permit | undefined {
    return this.#semaphore.tryAcquire();
  }
  /** The admission protocol's name for `tryLock`. */
  tryAcquire(): Permit | undefined {
    return this.#semaphore.tryAcquire();
  }

  /** Run `fn` while holding the lock (runExclusive). */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: LockOptions): Promise<T> {
    return this.#semaphore.run(fn, options);
  }

  /** Reject waiters with `ClosedError`; resolves once the holder unlocks. */
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
}
