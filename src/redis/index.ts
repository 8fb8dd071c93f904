// The public surface of `sluice/redis`: limits shared through Redis.

export { BackendUnavailableError, LeaseLostError } from './errors.js';
export {
  type IoRedisLike,
  type NodeRedisLike,
  type RedisAdapter,
  type RedisClient,
  toRedisAdapter,
} from './RedisAdapter.js';
export {
  KeyedRedisRateLimiter,
  RedisRateLimiter,
  type RedisRateLimiterOptions,
  type RedisRateLimiterStats,
  type UnavailablePolicy,
} from './RedisRateLimiter.js';
export {
  type LeaseContext,
  RedisLease,
  RedisSemaphore,
  type RedisSemaphoreAcquireOptions,
  type RedisSemaphoreOptions,
  type RedisSemaphoreStats,
} from './RedisSemaphore.js';
