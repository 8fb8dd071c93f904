import { type Admission, admitted, checkAdmission } from '../core/admission.js';
import { type Clock, systemClock } from '../core/clock.js';
import { TimeoutError } from '../core/errors.js';
import { Semaphore } from '../core/Semaphore.js';
import { checkCount, checkFunction, checkMs, checkSignal, show } from '../core/validate.js';
import { GroupCancelledError } from './errors.js';

/** Options of {@link TaskGroup}. */
export interface TaskGroupOptions {
  /**
   * `'fail-fast'`: the first failure aborts the other children and the group
   * rejects with it (the other failures are in `errors`). `'settle'`: every
   * child runs to the end; the group resolves with their settled results.
   * @default 'fail-fast'
   */
  readonly mode?: 'fail-fast' | 'settle';
  /** Children running at once. An integer >= 1 or Infinity. @default Infinity */
  readonly concurrency?: number;
  /**
   * Admit each child through this limiter too (any Admission: a rate limit, a
   * pool, a Redis semaphore). A child waits for `concurrency` first, then for
   * the limiter; its signal also aborts when its lease is lost.
   */
  readonly limiter?: Admission;
  /** Aborts every child (and the group rejects with the reason, in fail-fast mode). */
  readonly signal?: AbortSignal | undefined;
  /**
   * The group's deadline, ms from its creation. When it passes, the group's
   * signal aborts with a `TimeoutError` (`SLUICE_TIMEOUT`) and `await group`
   * rejects with it at once, in either mode, without waiting for children
   * that ignore their signal (they are left to finish on their own; the
   * error says how many were still running). @default Infinity
   */
  readonly runTimeout?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Structured concurrency: children spawned in a group share its signal, and
 * `await group` (or `await using`) waits for every one of them, so no task
 * outlives its scope. In fail-fast mode the first failure cancels the rest.
 *
 * ```ts
 * await using group = new TaskGroup();
 * const user = group.spawn(({ signal }) => fetchUser(id, { signal }));
 * const cart = group.spawn(({ signal }) => fetchCart(id, { signal }));
 * await group; // both done, or the first failure (the other aborted)
 * ```
 */
export class TaskGroup<T = unknown> implements PromiseLike<T[]>, AsyncDisposable {
  readonly #mode: 'fail-fast' | 'settle';
  readonly #controller = new AbortController();
  readonly #semaphore: Semaphore | undefined;
  readonly #limiter: Admission | undefined;
  readonly #children: Promise<PromiseSettledResult<T>>[] = [];
  readonly #onAbort: (() => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  #first: { error: unknown } | undefined = undefined;
  /** Failures after the first (fail-fast), for diagnostics. */
  readonly errors: unknown[] = [];
  /** Set once every child has settled after `wait()`: the scope is over. */
  #finished = false;
  readonly #clock: Clock;
  #timer: unknown;
  /** Rejects when `runTimeout` passes (never settles without one). */
  readonly #deadline: Promise<never> | undefined;
  #settledCount = 0;

  constructor(options: TaskGroupOptions = {}) {
    const mode = options.mode ?? 'fail-fast';
    if (mode !== 'fail-fast' && mode !== 'settle') {
      throw new TypeError(`Expected \`mode\` to be 'fail-fast' or 'settle', got ${show(mode)}`);
    }
    this.#mode = mode;
    const concurrency = checkCount('concurrency', options.concurrency ?? Number.POSITIVE_INFINITY, 1, true);
    this.#semaphore =
      concurrency === Number.POSITIVE_INFINITY ? undefined : new Semaphore(concurrency, { name: 'TaskGroup' });
    this.#limiter = options.limiter === undefined ? undefined : checkAdmission('limiter', options.limiter);
    this.#signal = checkSignal('signal', options.signal);
    this.#clock = options.clock ?? systemClock;
    const runTimeout = checkMs('runTimeout', options.runTimeout ?? Number.POSITIVE_INFINITY);
    if (runTimeout !== Number.POSITIVE_INFINITY) {
      this.#deadline = new Promise<never>((_, reject) => {
        // Unreferenced: the children keep the process alive, not their deadline.
        this.#timer = this.#clock.setTimeout(
          () => {
            const running = this.#children.length - this.#settledCount;
            const error = new TimeoutError(
              `The task group ran past its runTimeout of ${runTimeout} ms (${running} ${running === 1 ? 'child' : 'children'} still running)`,
            );
            this.#cancel(error, true);
            reject(error);
          },
          runTimeout,
          false,
        );
      });
      // Seen by whoever awaits the group; never an unhandled rejection of its own.
      this.#deadline.catch(() => {});
    }
    if (this.#signal !== undefined) {
      const signal = this.#signal;
      if (signal.aborted) this.#cancel(signal.reason, true);
      else {
        this.#onAbort = () => this.#cancel(signal.reason, true);
        signal.addEventListener('abort', this.#onAbort, { once: true });
      }
    }
  }

  /** The group's signal: aborts when the group is cancelled. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Start a child. Its promise is the child's own; the group observes its
   * failure. Children may spawn more children while the group is awaited; once
   * every child has settled the scope is over and `spawn` throws.
   */
  spawn<R extends T>(fn: (context: { signal: AbortSignal }) => R | PromiseLike<R>): Promise<R> {
    checkFunction('fn', fn);
    if (this.#finished) throw new Error('TaskGroup is closed: every child has finished');
    const signal = this.#controller.signal;
    const limiter = this.#limiter;
    const call = (childSignal: AbortSignal): Promise<R> => {
      if (childSignal.aborted) return Promise.reject(childSignal.reason);
      try {
        return Promise.resolve(fn({ signal: childSignal }));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const start = (): Promise<R> =>
      limiter === undefined
        ? call(signal)
        : admitted(limiter, (leaseSignal) => call((leaseSignal ?? signal) as AbortSignal), signal);
    const child = this.#semaphore === undefined ? start() : this.#semaphore.run(start, { signal });
    this.#children.push(
      child.then(
        (value) => {
          this.#settledCount++;
          return { status: 'fulfilled', value } as PromiseSettledResult<T>;
        },
        (reason: unknown) => {
          this.#settledCount++;
          if (this.#mode === 'fail-fast') {
            if (this.#first === undefined) this.#cancel(reason, false);
            else if (!(reason instanceof GroupCancelledError) && reason !== this.#first.error) this.errors.push(reason);
          }
          return { status: 'rejected', reason } as PromiseSettledResult<T>;
        },
      ),
    );
    return child;
  }

  /**
   * Wait for every child. fail-fast: the results in spawn order, or the first
   * failure (after every child has settled). settle: every child's outcome.
   */
  async wait(): Promise<T[]> {
    const outcomes = await (this.#deadline === undefined
      ? this.#settleAll()
      : Promise.race([this.#settleAll(), this.#deadline]));
    if (this.#mode === 'settle') return outcomes as unknown as T[];
    if (this.#first !== undefined) throw this.#first.error;
    return outcomes.map((o) => (o as PromiseFulfilledResult<T>).value);
  }

  /** Every child settled (children may spawn more while we wait: until none is new); the scope is over. */
  async #settleAll(): Promise<PromiseSettledResult<T>[]> {
    let count = 0;
    while (count < this.#children.length) {
      count = this.#children.length;
      await Promise.all(this.#children);
    }
    this.#finished = true;
    this.#clock.clearTimeout(this.#timer);
    if (this.#onAbort !== undefined) (this.#signal as AbortSignal).removeEventListener('abort', this.#onAbort);
    return Promise.all(this.#children);
  }

  // biome-ignore lint/suspicious/noThenProperty: a group is awaitable on purpose (`await group`).
  then<A = T[], B = never>(
    onfulfilled?: ((value: T[]) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.wait().then(onfulfilled, onrejected);
  }

  /** Graceful: accept no more children and wait for the running ones (for `Shutdown`). */
  async close(): Promise<void> {
    await this.wait().catch(() => {});
  }

  /** Now: cancel the running children and wait for them to stop. */
  destroy(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }

  /** Leaving the scope: cancel what still runs and wait for it (failures are not rethrown here). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#cancel(new GroupCancelledError('The task group scope ended'), false, true);
    await this.wait().catch(() => {});
  }

  #cancel(reason: unknown, external: boolean, quiet = false): void {
    if (this.#controller.signal.aborted) return;
    if (!quiet && this.#mode === 'fail-fast' && this.#first === undefined) this.#first = { error: reason };
    this.#controller.abort(
      external || quiet ? reason : new GroupCancelledError('A sibling task failed', { cause: reason }),
    );
  }
}
