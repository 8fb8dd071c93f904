import { type Clock, systemClock } from '../core/clock.js';
import { OverloadedError } from '../core/errors.js';
import { checkFiniteNumber, checkFunction, checkMs, show } from '../core/validate.js';
import { contextOf, type ExecuteOptions, invoke, type Policy, type Work } from '../policy/Policy.js';

/** Options of {@link ClientThrottle}. */
export interface ClientThrottleOptions {
  /**
   * The multiplier K: the client lets through up to K times the requests the
   * backend accepted recently. Lower is more aggressive. A number >= 1. @default 2
   */
  readonly k?: number;
  /** The window requests and accepts are counted over. @default 120000 */
  readonly windowMs?: number;
  /** Whether a failure means the backend rejected the request (overload). @default every error */
  readonly isRejection?: (error: unknown) => boolean;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default Math.random */
  readonly random?: () => number;
}

const BUCKETS = 12;

/**
 * Client-side throttling (Google SRE book, "Handling Overload"): reject
 * locally, before sending, with probability
 * `max(0, (requests - K x accepts) / (requests + 1))` over the last
 * `windowMs`, so a backend that rejects most requests is not also flooded
 * with them. A policy: use it alone or in a `pipeline`. Local rejections
 * throw `OverloadedError` and count as requests (as in the book).
 */
export class ClientThrottle implements Policy {
  readonly #k: number;
  readonly #isRejection: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #bucketMs: number;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #accepts = new Float64Array(BUCKETS);
  #bucket = 0;
  #bucketStart: number;
  #throttled = 0;

  constructor(options: ClientThrottleOptions = {}) {
    this.#k = checkFiniteNumber('k', options.k ?? 2);
    if (this.#k < 1) throw new RangeError(`Expected \`k\` to be a number >= 1, got ${show(this.#k)}`);
    const windowMs = checkMs('windowMs', options.windowMs ?? 120_000, false);
    if (windowMs === 0)
      throw new RangeError(`Expected \`windowMs\` to be a finite number of milliseconds > 0, got ${show(0)}`);
    this.#bucketMs = windowMs / BUCKETS;
    if (options.isRejection !== undefined) checkFunction('isRejection', options.isRejection);
    this.#isRejection = options.isRejection ?? (() => true);
    this.#clock = options.clock ?? systemClock;
    if (options.random !== undefined) checkFunction('random', options.random);
    this.#random = options.random ?? Math.random;
    this.#bucketStart = this.#clock.now();
  }

  /** The probability that the next request is rejected locally. */
  rejectionProbability(): number {
    this.#rotate();
    const requests = sum(this.#requests);
    const accepts = sum(this.#accepts);
    return Math.max(0, (requests - this.#k * accepts) / (requests + 1));
  }

  stats(): { readonly requests: number; readonly accepts: number; readonly throttled: number } {
    this.#rotate();
    return { requests: sum(this.#requests), accepts: sum(this.#accepts), throttled: this.#throttled };
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const p = this.rejectionProbability();
    this.#requests[this.#bucket] = (this.#requests[this.#bucket] as number) + 1;
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
        if (!this.#isRejection(error)) this.#accept();
        throw error;
      },
    );
  }

  #accept(): void {
    this.#rotate();
    this.#accepts[this.#bucket] = (this.#accepts[this.#bucket] as number) + 1;
  }

  #rotate(): void {
    const now = this.#clock.now();
    let steps = Math.floor((now - this.#bucketStart) / this.#bucketMs);
    if (steps <= 0) return;
    this.#bucketStart += steps * this.#bucketMs;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#requests[this.#bucket] = 0;
      this.#accepts[this.#bucket] = 0;
    }
  }
}

function sum(values: Float64Array): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
