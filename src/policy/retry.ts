import { type Backoff, exponentialBackoff } from '../core/backoff.js';
import { type Clock, systemClock } from '../core/clock.js';
import { Emitter } from '../core/Emitter.js';
import { checkCount, checkFunction, checkMs, checkRenamed } from '../core/validate.js';
import { AttemptContext, type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';
import type { RetryBudget } from './RetryBudget.js';
import { sleep } from './sleep.js';

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Attempts in all, the first included. An integer >= 1. @default 3 */
  readonly maxAttempts?: number;
  /** Delay before each retry. @default exponentialBackoff() (100 ms base, x2, full jitter, 30 s cap) */
  readonly backoff?: Backoff;
  /** Whether a failure is worth retrying. The caller's abort is never retried. @default every error */
  readonly isFailure?: (error: unknown, attempt: number) => boolean;
  /** Whether a successful result should be retried anyway (e.g. an HTTP 503 response). @default never */
  readonly isFailureResult?: (result: unknown, attempt: number) => boolean;
  /**
   * The server's "retry after" for a failure, in ms, or `undefined`. When it
   * asks for longer than the backoff, the wait is the server's.
   * @default reads `error.retryAfter`, or a `Retry-After` header on `error.headers` / `error.response.headers`
   */
  readonly retryAfter?: (error: unknown) => number | undefined;
  /** No wait exceeds this, whatever the backoff or the server says. @default Infinity */
  readonly maxDelay?: number;
  /** Retries draw from this budget; when it is empty the last failure is returned at once. */
  readonly budget?: RetryBudget;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) for jitter. @default Math.random */
  readonly random?: () => number;
}

export interface RetryEvents extends Record<string, unknown> {
  /** A retry is scheduled after `delay` ms. */
  retry: { readonly attempt: number; readonly delay: number; readonly error?: unknown; readonly result?: unknown };
  /** The call failed for good (attempts or budget exhausted, or not retryable). */
  giveUp: { readonly attempts: number; readonly reason: 'attempts' | 'budget' | 'not-retryable' | 'aborted' };
}

export interface RetryStats {
  readonly calls: number;
  readonly attempts: number;
  readonly retries: number;
  /** Retries refused by the budget. */
  readonly budgetRefused: number;
}

/**
 * Try again on failure, with backoff, honouring the server's Retry-After, and
 * within a retry budget when one is given. The caller's signal stops the
 * waiting between attempts at once.
 */
export class RetryPolicy extends Emitter<RetryEvents> implements Policy {
  readonly #maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #isFailure: (error: unknown, attempt: number) => boolean;
  readonly #isFailureResult: ((result: unknown, attempt: number) => boolean) | undefined;
  readonly #retryAfter: (error: unknown) => number | undefined;
  readonly #maxDelay: number;
  readonly #budget: RetryBudget | undefined;
  readonly #clock: Clock;
  readonly #random: () => number;
  #calls = 0;
  #attempts = 0;
  #retries = 0;
  #budgetRefused = 0;

  constructor(options: RetryOptions = {}) {
    super();
    this.#maxAttempts = checkCount('maxAttempts', options.maxAttempts ?? 3, 1, false);
    if (options.backoff !== undefined) checkFunction('backoff', options.backoff);
    this.#backoff = options.backoff ?? exponentialBackoff();
    checkRenamed(options, { retryOn: 'isFailure', retryOnResult: 'isFailureResult' });
    if (options.isFailure !== undefined) checkFunction('isFailure', options.isFailure);
    this.#isFailure = options.isFailure ?? (() => true);
    if (options.isFailureResult !== undefined) checkFunction('isFailureResult', options.isFailureResult);
    this.#isFailureResult = options.isFailureResult;
    if (options.retryAfter !== undefined) checkFunction('retryAfter', options.retryAfter);
    this.#retryAfter = options.retryAfter ?? readRetryAfter;
    this.#maxDelay = checkMs('maxDelay', options.maxDelay ?? Number.POSITIVE_INFINITY);
    this.#budget = options.budget;
    this.#clock = options.clock ?? systemClock;
    if (options.random !== undefined) checkFunction('random', options.random);
    this.#random = options.random ?? Math.random;
  }

  stats(): RetryStats {
    return { calls: this.#calls, attempts: this.#attempts, retries: this.#retries, budgetRefused: this.#budgetRefused };
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    checkFunction('fn', fn);
    // The signal is read only when needed (after a failure): see DeadlineContext.
    this.#calls++;
    this.#budget?.recordCall();
    this.#attempts++;
    // The first attempt, without the retry loop's machinery: most calls succeed.
    return invoke(fn, new AttemptContext(options, 1)).then(
      (value) =>
        this.#isFailureResult === undefined || !this.#isFailureResult(value, 1)
          ? value
          : this.#again(fn, options, { ok: true, value }),
      (error: unknown) => this.#again(fn, options, { ok: false, error }),
    );
  }

  /** After attempt 1 did not settle it: decide, wait, try again. */
  async #again<T>(
    fn: Work<T>,
    options: ExecuteOptions | undefined,
    first: { ok: true; value: T } | { ok: false; error: unknown },
  ): Promise<T> {
    let outcome = first;
    let previousDelay = 0;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        this.#attempts++;
        try {
          outcome = { ok: true, value: await invoke(fn, new AttemptContext(options, attempt)) };
        } catch (error) {
          outcome = { ok: false, error };
        }
      }
      if (outcome.ok) {
        if (this.#isFailureResult === undefined || !this.#isFailureResult(outcome.value, attempt)) return outcome.value;
      } else if (options?.signal?.aborted) {
        this.#giveUp(attempt, 'aborted');
        throw outcome.error;
      } else if (!this.#isFailure(outcome.error, attempt)) {
        this.#giveUp(attempt, 'not-retryable');
        throw outcome.error;
      }
      const settled = outcome;
      const last = () => {
        if (settled.ok) return settled.value;
        throw settled.error;
      };
      if (attempt >= this.#maxAttempts) {
        this.#giveUp(attempt, 'attempts');
        return last();
      }
      if (this.#budget !== undefined && !this.#budget.tryRetry()) {
        this.#budgetRefused++;
        this.#giveUp(attempt, 'budget');
        return last();
      }
      let delay = this.#backoff({ attempt, previousDelay, random: this.#random });
      const asked = settled.ok ? undefined : this.#retryAfter(settled.error);
      if (asked !== undefined && asked > delay) delay = asked;
      delay = Math.max(0, Math.min(delay, this.#maxDelay));
      previousDelay = delay;
      this.#retries++;
      if (this.listens('retry')) {
        this.notify(
          'retry',
          settled.ok ? { attempt, delay, result: settled.value } : { attempt, delay, error: settled.error },
        );
      }
      await sleep(this.#clock, delay, options?.signal);
    }
  }

  #giveUp(attempts: number, reason: RetryEvents['giveUp']['reason']): void {
    if (this.listens('giveUp')) this.notify('giveUp', { attempts, reason });
  }
}

/** Try again on failure: `retry({ maxAttempts: 4, budget })`. */
export function retry(options?: RetryOptions): RetryPolicy {
  return new RetryPolicy(options);
}

/**
 * The default `retryAfter`: `error.retryAfter` (a number), or an HTTP
 * `Retry-After` header (seconds, or an HTTP date) found on `error.headers` or
 * `error.response.headers` (a `Headers` object or a plain record).
 */
export function readRetryAfter(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { retryAfter?: unknown; headers?: unknown; response?: { headers?: unknown } };
  if (typeof e.retryAfter === 'number' && Number.isFinite(e.retryAfter)) return Math.max(0, e.retryAfter);
  const header = headerValue(e.headers) ?? headerValue(e.response?.headers);
  if (header === undefined) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function headerValue(headers: unknown): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get('retry-after') ?? undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'retry-after') return Array.isArray(value) ? String(value[0]) : String(value);
  }
  return undefined;
}
