// The public surface of `sluice`. Everything exported is listed by name.
export { type Clock, systemClock } from './core/clock.js';
export {
  BackendUnavailableError,
  ClearedError,
  ClosedError,
  LeaseLostError,
  QueueFullError,
  SluiceError,
  type SluiceErrorCode,
  TimeoutError,
} from './core/errors.js';
export { type LimitFunction, type LimitOptions, type LimitRunOptions, limit } from './core/limit.js';
export { type LockOptions, Mutex } from './core/Mutex.js';
export { Permit } from './core/Permit.js';
export { PriorityQueue, type Queue, type QueueAddOptions, type RunFunction } from './core/PriorityQueue.js';
export {
  type AcquireOptions,
  type RunContext,
  Semaphore,
  type SemaphoreOptions,
  type SemaphoreStats,
} from './core/Semaphore.js';
export {
  type OverflowBehaviour,
  type RunningTask,
  type TaskContext,
  type TaskOptions,
  TaskQueue,
  type TaskQueueEvents,
  type TaskQueueOptions,
  type TaskQueueStats,
  type WaitOptions,
} from './core/TaskQueue.js';
export type { NormalizedLimit, RateAlgorithm, RateLimit } from './rate/RateLimit.js';
export {
  KeyedRateLimiter,
  type RateAcquireOptions,
  type RateDecision,
  type RateKey,
  RateLimiter,
  type RateLimiterOptions,
  type RateLimiterStats,
  type RateTryOptions,
} from './rate/RateLimiter.js';
export { rateLimitHeaders } from './rate/rateLimitHeaders.js';
export { type Throttled, type ThrottleOptions, throttle } from './rate/throttle.js';
