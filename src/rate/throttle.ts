import { type Admission, isAdmission } from '../core/admission.js';
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/RateLimit.js';
import { checkFunction, checkMs, checkSignal, show } from '../core/validate.js';
import { type RateKey, RateLimiter } from './RateLimiter.js';

/** Options of {@link throttle}. */
export interface ThrottleOptions<A extends unknown[]> {
  /**
   * The key each call is limited under, from its arguments (e.g. the
   * destination host); passed to the limiter as `key` (read by the keyed ones:
   * RateLimiter, RedisRateLimiter). @default one shared key
   */
  readonly key?: (...args: A) => RateKey;
  /** The cost of each call, from its arguments. @default 1 */
  readonly weight?: (...args: A) => number;
  /** Most ms a call may wait for admission (see `RateLimiter.acquire`). @default Infinity */
  readonly timeout?: number;
  /** Aborts every waiting call (e.g. on shutdown); later calls reject at once. */
  readonly signal?: AbortSignal;
  /** Most calls waiting per key. Only when `limits` are given (not a limiter). @default Infinity */
  readonly maxWaiting?: number;
  /** Only when `limits` are given. @default systemClock */
  readonly clock?: Clock;
}

/** A throttled function: the same arguments, always a promise. */
export interface Throttled<A extends unknown[], R, L extends Admission = RateLimiter> {
  (...args: A): Promise<Awaited<R>>;
  /** The limiter deciding admission (its stats, `close()`). */
  readonly limiter: L;
}

/**
 * Wrap `fn` so that calls start no faster than `limits` allow (or, given a
 * limiter, only as it admits them: any Admission, such as a RedisRateLimiter
 * shared by many processes); extra calls wait their turn (FIFO per key)
 * instead of being dropped. A call admitted at once starts synchronously.
 *
 * ```ts
 * const send = throttle(postWebhook, { limit: 10, interval: 1000 }, { key: (url) => new URL(url).host });
 * ```
 */
export function throttle<A extends unknown[], R>(
  fn: (...args: A) => R,
  limits: RateLimit | readonly RateLimit[],
  options?: ThrottleOptions<A>,
): Throttled<A, R>;
export function throttle<A extends unknown[], R, L extends Admission>(
  fn: (...args: A) => R,
  limiter: L,
  options?: ThrottleOptions<A>,
): Throttled<A, R, L>;
export function throttle<A extends unknown[], R>(
  fn: (...args: A) => R,
  limits: RateLimit | readonly RateLimit[] | Admission,
  options: ThrottleOptions<A> = {},
): Throttled<A, R, Admission> {
  checkFunction('fn', fn);
  if (options.key !== undefined) checkFunction('key', options.key);
  if (options.weight !== undefined) checkFunction('weight', options.weight);
  const timeout = options.timeout === undefined ? undefined : checkMs('timeout', options.timeout);
  const signal = checkSignal('signal', options.signal);
  const given = isAdmission(limits);
  if (!given && (typeof limits !== 'object' || limits === null)) {
    throw new TypeError(`Expected \`limits\` to be a rate limit, a list of them, or a limiter, got ${show(limits)}`);
  }
  const limiter: Admission = given
    ? limits
    : new RateLimiter({
        limits: limits as RateLimit | readonly RateLimit[],
        ...(options.maxWaiting === undefined ? {} : { maxWaiting: options.maxWaiting }),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      });
  const { key, weight } = options;
  const throttled = (...args: A): Promise<Awaited<R>> => {
    try {
      const options: { key?: RateKey; weight?: number; signal?: AbortSignal; timeout?: number } = { signal };
      if (key !== undefined) options.key = key(...args);
      if (weight !== undefined) options.weight = weight(...args);
      if (timeout !== undefined) options.timeout = timeout;
      return limiter.run(() => fn(...args), options) as Promise<Awaited<R>>;
    } catch (error) {
      return Promise.reject(error);
    }
  };
  Object.defineProperty(throttled, 'limiter', { value: limiter, enumerable: true });
  return throttled as Throttled<A, R, Admission>;
}
