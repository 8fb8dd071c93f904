import type { AdmissionStats } from '../core/admission.js';
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/RateLimit.js';

/** A key of a keyed limit: one independent set of limits per distinct key. */
export type RateKey = string | number;

/** Options of the {@link RateLimiter} constructor. */
export interface RateLimiterOptions {
  /**
   * One limit, or several that every call must pass at once (all-or-nothing:
   * a call consumes from every limit or from none), e.g.
   * `[{ limit: 10, interval: 1000 }, { limit: 500, interval: 60_000 }]`.
   */
  readonly limits: RateLimit | readonly RateLimit[];
  /**
   * Most calls allowed to wait per key; one more rejects with `QueueFullError`
   * (`SLUICE_QUEUE_FULL`). An integer >= 0 or Infinity. @default Infinity
   */
  readonly maxWaiting?: number;
  /** Time source. @default systemClock */
  readonly clock?: Clock;
  /** Names the part on the admission channel (`ADMISSION_CHANNEL`, `sluice/otel`). @default 'RateLimiter' */
  readonly name?: string;
}

/** Options of {@link RateLimiter.acquire} and {@link RateLimiter.run}. */
export interface RateAcquireOptions {
  /** Which key's limits apply. @default undefined (one shared key) */
  readonly key?: RateKey | undefined;
  /** The call's cost. An integer from 1 to the smallest burst of the limits. @default 1 */
  readonly weight?: number;
  /** Abort the wait: the call leaves the queue and rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Most ms the call may wait. A call whose admission time (known in advance:
   * see the class notes) lies further away is refused at once with a
   * `TimeoutError`, instead of waiting and failing later. @default Infinity
   */
  readonly timeout?: number;
}

/** Options of the non-waiting calls. */
export interface RateTryOptions {
  readonly key?: RateKey | undefined;
  readonly weight?: number;
}

/** The answer of {@link RateLimiter.consume}: enough for `Retry-After` and `RateLimit-*` headers. */
export interface RateDecision {
  readonly allowed: boolean;
  /** Ms until the same call would be admitted; 0 when `allowed`. Infinity after `close()`. */
  readonly retryAfter: number;
  /** Weight still admissible now, after this decision (the tightest limit's). */
  readonly remaining: number;
  /** The `limit` of the tightest limit (the one `remaining` comes from). */
  readonly limit: number;
  /** Ms until the tightest limit (the one `limit` and `remaining` describe) is back to its full burst. */
  readonly resetAfter: number;
}

export interface RateLimiterStats extends AdmissionStats {
  /** Keys holding state. Idle keys are evicted (their state is "full", so nothing is lost). */
  readonly keys: number;
  /** Non-waiting calls (`tryAcquire`, `consume`) that were refused. */
  readonly denied: number;
}
