import type { Clock } from '../core/clock.js';
import { checkFunction, checkMs, checkSignal } from '../core/validate.js';
import type { RateLimit } from './RateLimit.js';
import { type RateKey, RateLimiter } from './RateLimiter.js';

/** Options of {@link throttle}. */
export interface ThrottleOptions<A extends unknown[]> {
  /** The key each call is limited under, from its arguments (e.g. the destination host). @default one shared key */
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
export interface Throttled<A extends unknown[], R> {
  (...args: A): Promise<Awaited<R>>;
  /** The limiter deciding admission (its stats, `close()`). */
  readonly limiter: RateLimiter;
}

/**
 * Wrap `fn` so that calls start no faster than `limits` allow; extra calls wait
 * their turn (FIFO per key) instead of being dropped.
 *
 * ```ts
 * const send = throttle(postWebhook, { limit: 10, interval: 1000 }, { key: (url) => new URL(url).host });
 * ```
 */
export function throttle<A extends unknown[], R>(
  fn: (...args: A) => R,
  limits: RateLimit | readonly RateLimit[] | RateLimiter,
  options: ThrottleOptions<A> = {},
): Throttled<A, R> {
  checkFunction('fn', fn);
  if (options.key !== undefined) checkFunction('key', options.key);
  if (options.weight !== undefined) checkFunction('weight', options.weight);
  const timeout = options.timeout === undefined ? undefined : checkMs('timeout', options.timeout);
  const signal = checkSignal('signal', options.signal);
  const limiter =
    limits instanceof RateLimiter
      ? limits
      : new RateLimiter({
          limits: limits as RateLimit | readonly RateLimit[],
          ...(options.maxWaiting === undefined ? {} : { maxWaiting: options.maxWaiting }),
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        });
  const { key, weight } = options;
  const throttled = (...args: A): Promise<Awaited<R>> => {
    let admission: Promise<unknown>;
    try {
      admission = limiter.acquire({
        key: key?.(...args),
        weight: weight?.(...args) ?? 1,
        signal,
        ...(timeout === undefined ? {} : { timeout }),
      });
    } catch (error) {
      return Promise.reject(error);
    }
    return admission.then(() => fn(...args)) as Promise<Awaited<R>>;
  };
  Object.defineProperty(throttled, 'limiter', { value: limiter, enumerable: true });
  return throttled as Throttled<A, R>;
}
