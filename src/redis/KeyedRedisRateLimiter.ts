import type { Admission, Lifecycle, RunContext } from '../core/admission.js';
import type { Permit } from '../core/Permit.js';
import type { RateAcquireOptions, RateDecision, RateKey, RateTryOptions } from '../rate/RateLimiter.js';
import type { RedisRateLimiter, RedisRateLimiterStats } from './RedisRateLimiter.js';

/** A {@link RedisRateLimiter} bound to one key. */
export class KeyedRedisRateLimiter implements Admission<Permit, Omit<RateAcquireOptions, 'key'>>, Lifecycle {
  constructor(
    readonly limiter: RedisRateLimiter,
    readonly key: RateKey,
  ) {}
  get closed(): boolean {
    return this.limiter.closed;
  }
  stats(): RedisRateLimiterStats {
    return this.limiter.stats();
  }
  /** Closes the whole limiter (every key). */
  close(): Promise<void> {
    return this.limiter.close();
  }
  /** Destroys the whole limiter (every key). */
  destroy(reason?: unknown): Promise<void> {
    return this.limiter.destroy(reason);
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.limiter.close();
  }
  acquire(options?: Omit<RateAcquireOptions, 'key'>): Promise<Permit> {
    return this.limiter.acquire({ ...options, key: this.key });
  }
  tryAcquire(options?: Omit<RateTryOptions, 'key'>): Promise<Permit | undefined> {
    return this.limiter.tryAcquire({ ...options, key: this.key });
  }
  consume(options?: Omit<RateTryOptions, 'key'>): Promise<RateDecision> {
    return this.limiter.consume({ ...options, key: this.key });
  }
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: Omit<RateAcquireOptions, 'key'>): Promise<T> {
    return this.limiter.run(fn, { ...options, key: this.key });
  }
}
