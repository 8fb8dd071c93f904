import type { AdmissionStats } from '../core/admission.js';
import type { Clock } from '../core/clock.js';
import type { RateLimit } from '../core/RateLimit.js';
import type { RedisClient } from './RedisAdapter.js';

/**
 * What a Redis-backed part does when Redis cannot be reached or does not
 * answer within `commandTimeout`:
 * - `'fail-closed'`: refuse, with `BackendUnavailableError` (`SLUICE_BACKEND_UNAVAILABLE`);
 * - `'fail-open'`: admit (the limit is not enforced during the outage);
 * - `'local'`: decide with an in-process limiter instead (per process, so N
 *   processes admit up to N times `localLimits` together).
 */
export type UnavailablePolicy = 'fail-closed' | 'fail-open' | 'local';

/** Options of the {@link RedisRateLimiter} constructor. */
export interface RedisRateLimiterOptions {
  /** An ioredis or node-redis client, or a `RedisAdapter`. */
  readonly client: RedisClient;
  /** Names the shared limit: every process using the same name and limits shares one state. */
  readonly name: string;
  /** As for `RateLimiter`: one limit or several, all-or-nothing. */
  readonly limits: RateLimit | readonly RateLimit[];
  /** Prefix of every Redis key. @default 'sluice:rate:' */
  readonly prefix?: string;
  /** @default 'fail-closed' */
  readonly onUnavailable?: UnavailablePolicy;
  /** With `onUnavailable: 'local'`: the limits each process enforces alone. @default limits */
  readonly localLimits?: RateLimit | readonly RateLimit[];
  /** Most ms to wait for one Redis call before the failure policy applies. A number > 0. @default 1000 */
  readonly commandTimeout?: number;
  /** Most calls waiting per key in this process. An integer >= 0 or Infinity. @default Infinity */
  readonly maxWaiting?: number;
  /**
   * Most decisions sent to Redis in one script call. Decisions requested in
   * the same tick are batched (one round trip, one script invocation, decided
   * in order), split into calls of about equal size of at most `maxBatch`, so
   * that several are on the wire while Redis works (64 callers: 136k
   * decisions/s in one call of 64, 200k in four of 16); `1` sends each on its
   * own. An integer >= 1. @default 16
   */
  readonly maxBatch?: number;
  /** Time source for local timers (decisions use the Redis server's clock). @default systemClock */
  readonly clock?: Clock;
}

/** `running` counts leases of this process not yet released; `timedOut` also counts waits refused at once because Redis's `retryAfter` already exceeded their `timeout`. */
export interface RedisRateLimiterStats extends AdmissionStats {
  /** Decisions Redis made. */
  readonly decisions: number;
  readonly denied: number;
  /** Calls that met an unavailable Redis (whatever the policy then did). */
  readonly unavailable: number;
  /** Times the server had lost the script and it was sent again. */
  readonly scriptReloads: number;
}

/** Options of the {@link RedisSemaphore} constructor. */
export interface RedisSemaphoreOptions {
  /** An ioredis or node-redis client, or a `RedisAdapter`. */
  readonly client: RedisClient;
  /** Names the semaphore: every process using the same name shares its permits. */
  readonly name: string;
  /** At most this many holders across all processes. An integer >= 1. */
  readonly permits: number;
  /**
   * How long a lease lives without renewal. A holder renews it every
   * `leaseTtl / 3` while it runs, so this is how long a crashed holder's permit
   * stays taken. A finite number >= 100. @default 30000
   */
  readonly leaseTtl?: number;
  /**
   * How long a waiting caller keeps its place in the Redis-side queue without
   * refreshing it (it refreshes every `waitTtl / 3`), so how long a crashed
   * waiter can hold up the queue. A finite number >= 100. @default 10000
   */
  readonly waitTtl?: number;
  /** Prefix of every Redis key and channel. @default 'sluice:sem:' */
  readonly prefix?: string;
  /** Most ms to wait for one Redis call; past it the call fails with `SLUICE_BACKEND_UNAVAILABLE`. @default 1000 */
  readonly commandTimeout?: number;
  /** Time source for local timers (leases use the Redis server's clock). @default systemClock */
  readonly clock?: Clock;
}

export interface RedisSemaphoreAcquireOptions {
  /** Abort the wait: the caller leaves the queue and the promise rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Give up after this many ms with a `TimeoutError` (`SLUICE_TIMEOUT`). @default Infinity */
  readonly timeout?: number;
}

/** What `run` passes to the work. */
export interface LeaseContext {
  /** Aborts when the caller's signal does or the lease is lost (reason: `LeaseLostError`). */
  readonly signal: AbortSignal;
  /** The lease's fencing token. */
  readonly token: number;
}

/** Counts of this process: `running` is the leases it holds, `waiting` its callers waiting. */
export interface RedisSemaphoreStats extends AdmissionStats {
  /** Leases lost (renewal refused, or Redis unreachable for `leaseTtl`). */
  readonly lost: number;
  /** Calls that failed because Redis was unavailable. */
  readonly unavailable: number;
}
