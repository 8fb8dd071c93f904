/**
 * Every option retired by one vocabulary (docs/vocabulary.md) is refused
 * with a TypeError that names its new name, at the call that received it,
 * rather than being ignored in silence.
 */
import { describe, expect, it } from 'vitest';
import {
  AdaptiveLimiter,
  aimd,
  Batcher,
  batch,
  bulkhead,
  ClientThrottle,
  circuitBreaker,
  countWindow,
  dedupe,
  EventLoopLag,
  erlangC,
  fallback,
  limit,
  littlesLaw,
  RetryBudget,
  retry,
  Shutdown,
  TaskQueue,
  timeWindow,
  WorkerPool,
} from '../src/index.js';
import { RedisSemaphore } from '../src/redis/index.js';

const renamed = (old: string, current: string, value: unknown) =>
  `The \`${old}\` option was renamed \`${current}\` (got \`${old}\`: \`${String(value)}\` (${typeof value}))`;

describe('retired option names', () => {
  const cases: [string, () => unknown, string, string, unknown][] = [
    ['limit()', () => limit({ concurrency: 1, maxPending: 1 } as never), 'maxPending', 'maxWaiting', 1],
    ['TaskQueue', () => new TaskQueue({ maxSize: 1 } as never), 'maxSize', 'maxWaiting', 1],
    ['TaskQueue', () => new TaskQueue({ timeout: 5 } as never), 'timeout', 'runTimeout', 5],
    ['bulkhead()', () => bulkhead({ concurrency: 1, queue: 2 } as never), 'queue', 'maxWaiting', 2],
    [
      'WorkerPool',
      () => new WorkerPool({ filename: new URL('./fixtures/tasks.mjs', import.meta.url), maxQueue: 3 } as never),
      'maxQueue',
      'maxWaiting',
      3,
    ],
    [
      'AdaptiveLimiter',
      () => new AdaptiveLimiter({ probeIntervalMs: 9 } as never),
      'probeIntervalMs',
      'probeInterval',
      9,
    ],
    ['AdaptiveLimiter', () => new AdaptiveLimiter({ maxQueueWaitMs: 9 } as never), 'maxQueueWaitMs', 'maxQueueWait', 9],
    ['aimd()', () => aimd({ timeoutMs: 9 } as never), 'timeoutMs', 'maxRtt', 9],
    ['ClientThrottle', () => new ClientThrottle({ windowMs: 9 } as never), 'windowMs', 'window', 9],
    ['EventLoopLag', () => new EventLoopLag({ thresholdMs: 9 } as never), 'thresholdMs', 'threshold', 9],
    ['littlesLaw()', () => littlesLaw({ rate: 1, latencyMs: 1 } as never), 'rate', 'arrivalRate', 1],
    [
      'erlangC()',
      () => erlangC({ servers: 1, arrivalRate: 1, serviceTimeMs: 1 } as never),
      'serviceTimeMs',
      'serviceTime',
      1,
    ],
    [
      'Batcher',
      () => new Batcher(async (x: number[]) => x, { maxBatchSize: 9 } as never),
      'maxBatchSize',
      'maxBatch',
      9,
    ],
    ['dedupe()', () => dedupe(async () => 1, { ttlMs: 9 } as never), 'ttlMs', 'ttl', 9],
    ['Shutdown', () => new Shutdown({ timeoutMs: 9 } as never), 'timeoutMs', 'gracePeriod', 9],
    ['circuitBreaker()', () => circuitBreaker({ openMs: 9 } as never), 'openMs', 'openDuration', 9],
    ['countWindow()', () => countWindow({ size: 10, slowCallMs: 9 } as never), 'slowCallMs', 'slowCallDuration', 9],
    ['timeWindow()', () => timeWindow({ windowMs: 9 } as never), 'windowMs', 'window', 9],
    ['RetryBudget', () => new RetryBudget({ windowMs: 9 } as never), 'windowMs', 'window', 9],
    ['retry()', () => retry({ retryOn: true } as never), 'retryOn', 'isFailure', true],
    ['fallback()', () => fallback(1, { on: true } as never), 'on', 'isFailure', true],
    [
      'RedisSemaphore',
      () => new RedisSemaphore({ client: {} as never, name: 'x', permits: 1, leaseMs: 9 } as never),
      'leaseMs',
      'leaseTtl',
      9,
    ],
  ];
  it.each(cases)('%s', (_part, make, old, current, value) => {
    expect(make).toThrow(new TypeError(renamed(old, current, value)));
  });

  it('batch() refuses `size` at the call', () => {
    expect(() => batch([1, 2, 3], { size: 2 } as never)).toThrow(new TypeError(renamed('size', 'maxBatch', 2)));
  });
});
