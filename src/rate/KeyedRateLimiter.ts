import type { Admission, Lifecycle, RunContext } from '../core/admission.js';
import type { Permit } from '../core/Permit.js';
import type { RateLimiter } from './RateLimiter.js';
import type { RateAcquireOptions, RateDecision, RateKey, RateLimiterStats, RateTryOptions } from './types.js';

/** A {@link RateLimiter} bound to one key (see `RateLimiter.for`). */
export class KeyedRateLimiter implements Admission<Permit, Omit<RateAcquireOptions, 'key'>>, Lifecycle {
  constructor(
    readonly limiter: RateLimiter,
    readonly key: RateKey,
  ) {}
  get closed(): boolean {
    return this.limiter.closed;
  }
  stats(): RateLimiterStats {
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
  tryAcquire(options?: Omit<RateTryOptions, 'key'>): Permit | undefined {
    return this.limiter.tryAcquire({ ...options, key: this.key });
  }
  consume(options?: Omit<RateTryOptions, 'key'>): RateDecision {
    return this.limiter.consume({ ...options, key: this.key });
  }
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: Omit<RateAcquireOptions, 'key'>): Promise<T> {
    return this.limiter.run(fn, { ...options, key: this.key });
  }
}
