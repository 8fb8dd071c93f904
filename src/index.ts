// The public surface of `sluice`. Everything exported is listed by name.

export {
  type AdaptiveAcquireOptions,
  AdaptiveLimiter,
  type AdaptiveLimiterEvents,
  type AdaptiveLimiterOptions,
  type AdaptiveLimiterStats,
  AdaptivePermit,
} from './adaptive/AdaptiveLimiter.js';
export {
  aimd,
  type GradientAlgorithm,
  gradient,
  gradient2,
  type LimitAlgorithm,
  type LimitBounds,
  type LimitSample,
  vegas,
} from './adaptive/algorithms.js';
export { EventLoopLag, type EventLoopLagOptions, type LagHistogram } from './adaptive/EventLoopLag.js';
export { type ErlangCResult, erlangC, littlesLaw } from './adaptive/sizing.js';
export {
  type AcquireOptions,
  type Admission,
  type AdmissionStats,
  isAdmission,
  type Lease,
  type Lifecycle,
  type RunContext,
} from './core/admission.js';
export {
  type Backoff,
  type BackoffContext,
  constantBackoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from './core/backoff.js';
export { type Clock, systemClock } from './core/clock.js';
export {
  ClearedError,
  ClosedError,
  isTimeout,
  OverloadedError,
  QueueFullError,
  SluiceError,
  type SluiceErrorCode,
  TimeoutError,
} from './core/errors.js';
export { type LimitFunction, type LimitOptions, type LimitRunOptions, type LimitStats, limit } from './core/limit.js';
export { type LockOptions, Mutex } from './core/Mutex.js';
export { Permit } from './core/Permit.js';
export type { NormalizedLimit, RateAlgorithm, RateLimit } from './core/RateLimit.js';
export {
  Semaphore,
  type SemaphoreOptions,
  type SemaphoreStats,
} from './core/Semaphore.js';
export {
  type OverflowBehaviour,
  type RunningTask,
  type TaskAcquireOptions,
  type TaskContext,
  type TaskOptions,
  TaskQueue,
  type TaskQueueOptions,
  type TaskQueueStats,
  type WaitOptions,
} from './core/TaskQueue.js';
export {
  ADMISSION_CHANNEL,
  type AdmissionMessage,
  type AdmissionMessageBase,
  type RejectReason,
} from './core/trace.js';
export { Batcher, type BatcherOptions, type BatchFunction, type BatchResult } from './flow/Batcher.js';
export { type BatchOptions, batch, merge, transform } from './flow/combinators.js';
export { type DedupeCallOptions, type Deduped, type DedupeOptions, dedupe } from './flow/dedupe.js';
export { GroupCancelledError, IterationStoppedError } from './flow/errors.js';
export { filter, forEach, type MapContext, type MapOptions, map, type Source } from './flow/map.js';
export {
  Shutdown,
  type ShutdownOptions,
  type ShutdownRegisterOptions,
  type ShutdownReport,
  type ShutdownStep,
  type Stoppable,
} from './flow/Shutdown.js';
export { TaskGroup, type TaskGroupOptions } from './flow/TaskGroup.js';
export {
  type BreakerStrategy,
  consecutiveFailures,
  countWindow,
  type RateThresholds,
  timeWindow,
} from './policy/breakers.js';
export { type BulkheadOptions, BulkheadPolicy, type BulkheadStats, bulkhead } from './policy/bulkhead.js';
export {
  type CircuitBreakerEvents,
  type CircuitBreakerOptions,
  CircuitBreakerPolicy,
  type CircuitBreakerStats,
  type CircuitSnapshot,
  type CircuitState,
  circuitBreaker,
} from './policy/CircuitBreaker.js';
export { ClientThrottle, type ClientThrottleOptions } from './policy/ClientThrottle.js';
export { CircuitOpenError, HedgeLostError } from './policy/errors.js';
export { type FallbackOptions, FallbackPolicy, fallback } from './policy/fallback.js';
export { type HedgeEvents, type HedgeOptions, HedgePolicy, hedge } from './policy/hedge.js';
export {
  asPolicy,
  type ExecuteOptions,
  type Layer,
  type Policy,
  type PolicyContext,
  pipeline,
  type Work,
} from './policy/Policy.js';
export { RetryBudget, type RetryBudgetOptions } from './policy/RetryBudget.js';
export {
  type RetryEvents,
  type RetryOptions,
  RetryPolicy,
  type RetryStats,
  readRetryAfter,
  retry,
} from './policy/retry.js';
export {
  type TimeoutEvents,
  type TimeoutOptions,
  TimeoutPolicy,
  type TimeoutStats,
  timeout,
} from './policy/timeout.js';
export {
  type DestroyReason,
  Pool,
  type PoolAcquireOptions,
  type PoolEvents,
  PoolLease,
  type PoolOptions,
  type PoolRunContext,
  type PoolStats,
} from './pool/Pool.js';
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
// The Redis parts' errors are exported here too: a caller may meet them without importing sluice/redis.
export { BackendUnavailableError, LeaseLostError } from './redis/errors.js';
export { WorkerCrashedError } from './workers/errors.js';
export type { HistogramSummary } from './workers/Histogram.js';
export type { ExitReason } from './workers/Thread.js';
export {
  WorkerPool,
  type WorkerPoolEvents,
  type WorkerPoolOptions,
  type WorkerPoolStats,
  type WorkerRunOptions,
} from './workers/WorkerPool.js';
