import { type Clock, systemClock } from '../core/clock.js';
import { OverloadedError } from '../core/errors.js';
import { checkFiniteNumber, checkFunction, checkMs, checkRenamed, show } from '../core/validate.js';
import { WindowCounters } from '../core/WindowCounters.js';
import { contextOf, type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';

/** Options of {@link ClientThrottle}. */
export interface ClientThrottleOptions {
  /**
   * The multiplier K: the client lets through up to K times the requests the
   * backend accepted recently. Lower is more aggressive. A number >= 1. @default 2
   */
  readonly k?: number;
  /** The window requests and accepts are counted over. @default 120000 */
  readonly window?: number;
  /** Whether a failure means the backend rejected the request (overload). @default every error */
  readonly isFailure?: (error: unknown) => boolean;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default Math.random */
  readonly random?: () => number;
}

const REQUESTS = 0;
const ACCEPTS = 1;

/**
 * Client-side throttling (Google SRE book, "Handling Overload"): reject
 * locally, before sending, with probability
 * `max(0, (requests - K x accepts) / (requests + 1))` over the last
 * `window`, so a backend that rejects most requests is not also flooded
 * with them. A policy: use it alone or in a `pipeline`. Local rejections
 * throw `OverloadedError` and count as requests (as in the book).
 */
export class ClientThrottle implements Policy {
  readonly #k: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #random: () => number;
  readonly #counts: WindowCounters;
  readonly #clock: Clock;
  #throttled = 0;

  constructor(options: ClientThrottleOptions = {}) {
    this.#k = checkFiniteNumber('k', options.k ?? 2);
    if (this.#k < 1) throw new RangeError(`Expected \`k\` to be a number >= 1, got ${show(this.#k)}`);
    checkRenamed(options, { windowMs: 'window', isRejection: 'isFailure' });
    const window = checkMs('window', options.window ?? 120_000, false);
    if (window === 0)
      throw new RangeError(`Expected \`window\` to be a finite number of milliseconds > 0, got ${show(0)}`);
    if (options.isFailure !== undefined) checkFunction('isFailure', options.isFailure);
    this.#isFailure = options.isFailure ?? (() => true);
    if (options.random !== undefined) checkFunction('random', options.random);
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? systemClock;
    this.#counts = new WindowCounters(window, 2, 12);
  }

  /** The probability that the next request is rejected locally. */
  rejectionProbability(): number {
    const requests = this.#counts.sum(REQUESTS, this.#clock.now());
    return Math.max(0, (requests - this.#k * this.#counts.sum(ACCEPTS, this.#clock.now())) / (requests + 1));
  }

  stats(): { readonly requests: number; readonly accepts: number; readonly throttled: number } {
    return {
      requests: this.#counts.sum(REQUESTS, this.#clock.now()),
      accepts: this.#counts.sum(ACCEPTS, this.#clock.now()),
      throttled: this.#throttled,
    };
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    checkFunction('fn', fn);
    const p = this.rejectionProbability();
    this.#counts.add(REQUESTS, this.#clock.now());
    if (p > 0 && this.#random() < p) {
      this.#throttled++;
      return Promise.reject(
        new OverloadedError(
          `Throttled locally: the backend accepted too few recent requests (rejecting ${Math.round(p * 100)}%)`,
        ),
      );
    }
    return invoke(fn, contextOf(options)).then(
      (value) => {
        this.#accept();
        return value;
      },
      (error: unknown) => {
        if (!this.#isFailure(error)) this.#accept();
        throw error;
      },
    );
  }

  #accept(): void {
    this.#counts.add(ACCEPTS, this.#clock.now());
  }
}
