import { type Clock, systemClock } from '../core/clock.js';
import { checkFiniteNumber, checkMs, checkRenamed, show } from '../core/validate.js';
import { WindowCounters } from '../core/WindowCounters.js';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per call made, over the window: 0.1 lets a failing
   * downstream see at most 1.1x the normal number of calls. A number >= 0.
   * @default 0.1
   */
  readonly ratio?: number;
  /**
   * Retries always allowed per second whatever the traffic, so that a quiet
   * service can still retry. A number >= 0. @default 10
   */
  readonly minPerSecond?: number;
  /** The window calls and retries are counted over. A finite number of ms > 0. @default 10000 */
  readonly window?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

const CALLS = 0;
const RETRIES = 1;

/**
 * A retry budget (as in Finagle): retries are allowed while, over the last
 * `window`, retries < `ratio` x calls + `minPerSecond` x window seconds.
 * Share one budget between the retry policies that call the same downstream
 * (one per downstream for "per key"); it bounds the extra load retries can
 * put on it when it is weakest, which `maxAttempts` alone does not.
 *
 * Counts are kept in 10 buckets of `window / 10`: O(1) memory and time.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly #reserve: number;
  readonly #counts: WindowCounters;
  readonly #clock: Clock;
  #refused = 0;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = nonNegative('ratio', options.ratio ?? 0.1);
    const minPerSecond = nonNegative('minPerSecond', options.minPerSecond ?? 10);
    checkRenamed(options, { windowMs: 'window' });
    const window = checkMs('window', options.window ?? 10_000, false);
    if (window === 0)
      throw new RangeError(`Expected \`window\` to be a finite number of milliseconds > 0, got ${show(0)}`);
    this.#reserve = (minPerSecond * window) / 1000;
    this.#clock = options.clock ?? systemClock;
    this.#counts = new WindowCounters(window, 2);
  }

  /** Count one call (a first attempt). Retry policies call this for you. */
  recordCall(): void {
    this.#counts.add(CALLS, this.#clock.now());
  }

  /** Take one retry from the budget if there is one. */
  tryRetry(): boolean {
    if (
      this.#counts.sum(RETRIES, this.#clock.now()) + 1 >
      this.ratio * this.#counts.sum(CALLS, this.#clock.now()) + this.#reserve
    ) {
      this.#refused++;
      return false;
    }
    this.#counts.add(RETRIES, this.#clock.now());
    return true;
  }

  stats(): { readonly calls: number; readonly retries: number; readonly refused: number } {
    return {
      calls: this.#counts.sum(CALLS, this.#clock.now()),
      retries: this.#counts.sum(RETRIES, this.#clock.now()),
      refused: this.#refused,
    };
  }
}

function nonNegative(name: string, value: unknown): number {
  const n = checkFiniteNumber(name, value);
  if (n < 0) throw new RangeError(`Expected \`${name}\` to be a finite number >= 0, got ${show(n)}`);
  return n;
}
