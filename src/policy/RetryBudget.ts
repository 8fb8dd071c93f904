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
   * Retries allowed per second however light the traffic, so that a quiet
   * service can still retry. A floor, not an addition: over the window the
   * budget is the larger of `ratio` x calls and `minPerSecond` x its seconds,
   * and what it grants above `ratio` comes at most `minPerSecond` a second
   * (a fresh budget does not hand out the whole window's worth at once).
   * Under total failure at L calls a second, retries add at most
   * max(`ratio`, `minPerSecond` / L) to the load: 1.1x from 100 calls a
   * second up with the defaults. A number >= 0. @default 10
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
 * `window`, retries < max(`ratio` x calls, `minPerSecond` x window seconds),
 * the part above `ratio` x calls coming at most `minPerSecond` a second.
 * Share one budget between the retry policies that call the same downstream
 * (one per downstream for "per key"); it bounds the extra load retries can
 * put on it when it is weakest, which `maxAttempts` alone does not.
 *
 * Counts are kept in 10 buckets of `window / 10`: O(1) memory and time.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly #reserve: number;
  readonly #perMs: number;
  readonly #counts: WindowCounters;
  readonly #clock: Clock;
  #refused = 0;
  /** Retries the floor may grant now beyond the ratio: refills at `minPerSecond`, holds at most one second's. */
  #tokens: number;
  #filledAt: number;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = nonNegative('ratio', options.ratio ?? 0.1);
    const minPerSecond = nonNegative('minPerSecond', options.minPerSecond ?? 10);
    checkRenamed(options, { windowMs: 'window' });
    const window = checkMs('window', options.window ?? 10_000, false);
    if (window === 0)
      throw new RangeError(`Expected \`window\` to be a finite number of milliseconds > 0, got ${show(0)}`);
    this.#reserve = (minPerSecond * window) / 1000;
    this.#perMs = minPerSecond / 1000;
    this.#clock = options.clock ?? systemClock;
    this.#counts = new WindowCounters(window, 2);
    this.#tokens = minPerSecond;
    this.#filledAt = this.#clock.now();
  }

  /** Count one call (a first attempt). Retry policies call this for you. */
  recordCall(): void {
    this.#counts.add(CALLS, this.#clock.now());
  }

  /** Take one retry from the budget if there is one. */
  tryRetry(): boolean {
    const now = this.#clock.now();
    const retries = this.#counts.sum(RETRIES, now) + 1;
    const earned = this.ratio * this.#counts.sum(CALLS, now);
    if (retries > earned) {
      // Above what the calls earned: only within the floor, and at its pace.
      const max = this.#perMs * 1000;
      this.#tokens = Math.min(max, this.#tokens + (now - this.#filledAt) * this.#perMs);
      this.#filledAt = now;
      if (retries > this.#reserve || this.#tokens < 1) {
        this.#refused++;
        return false;
      }
      this.#tokens -= 1;
    }
    this.#counts.add(RETRIES, now);
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
