/**
 * Every error sluice creates is a SluiceError with a stable code, owned by the
 * part that raises it, recognisable by `instanceof` and by `isTimeout`.
 */
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  CircuitOpenError,
  GroupCancelledError,
  HedgeLostError,
  IterationStoppedError,
  isTimeout,
  LeaseLostError,
  SluiceError,
  TimeoutError,
  WorkerCrashedError,
} from '../src/index.js';
import * as redis from '../src/redis/index.js';

describe('errors', () => {
  it.each([
    [new HedgeLostError('x'), 'SLUICE_HEDGE_LOST', 'HedgeLostError'],
    [new GroupCancelledError('x'), 'SLUICE_GROUP_CANCELLED', 'GroupCancelledError'],
    [new IterationStoppedError('x'), 'SLUICE_ITERATION_STOPPED', 'IterationStoppedError'],
    [new CircuitOpenError('x', 10), 'SLUICE_CIRCUIT_OPEN', 'CircuitOpenError'],
    [new BackendUnavailableError('x'), 'SLUICE_BACKEND_UNAVAILABLE', 'BackendUnavailableError'],
    [new LeaseLostError('x'), 'SLUICE_LEASE_LOST', 'LeaseLostError'],
    [new WorkerCrashedError('x'), 'SLUICE_WORKER_CRASHED', 'WorkerCrashedError'],
  ])('%s is a SluiceError with its code and name', (error, code, name) => {
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    // A class recognises only its own code: the brand check looks at the code, not the module.
    expect(error instanceof TimeoutError).toBe(false);
  });

  it('the Redis errors are the same classes from `sluice` and `sluice/redis`', () => {
    expect(redis.BackendUnavailableError).toBe(BackendUnavailableError);
    expect(redis.LeaseLostError).toBe(LeaseLostError);
  });

  it('isTimeout recognises sluice timeouts and AbortSignal.timeout() reasons, nothing else', async () => {
    expect(isTimeout(new TimeoutError('x'))).toBe(true);
    const signal = AbortSignal.timeout(0);
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    expect(isTimeout(signal.reason)).toBe(true);
    expect(isTimeout(AbortSignal.abort().reason)).toBe(false);
    expect(isTimeout(new Error('timeout'))).toBe(false);
    expect(isTimeout(undefined)).toBe(false);
  });
});

describe('retired option names', () => {
  it('are refused with the new name, not ignored (a bound that bounds nothing)', async () => {
    const { limit, TaskQueue, bulkhead } = await import('../src/index.js');
    expect(() => limit({ concurrency: 1, maxPending: 5 } as never)).toThrow(
      'The `maxPending` option was renamed `maxWaiting` (got `maxPending`: `5` (number))',
    );
    expect(() => new TaskQueue({ maxSize: 5 } as never)).toThrow('The `maxSize` option was renamed `maxWaiting`');
    expect(() => bulkhead({ concurrency: 1, queue: 5 } as never)).toThrow(
      'The `queue` option was renamed `maxWaiting`',
    );
    const { WorkerPool } = await import('../src/index.js');
    const filename = new URL('./fixtures/tasks.mjs', import.meta.url);
    expect(() => new WorkerPool({ filename, maxQueue: 5 } as never)).toThrow(
      'The `maxQueue` option was renamed `maxWaiting`',
    );
  });

  it('every bound on waiters refuses with QueueFullError, the adaptive limiter too', async () => {
    const { AdaptiveLimiter, aimd, QueueFullError } = await import('../src/index.js');
    const limiter = new AdaptiveLimiter({ algorithm: aimd({ initial: 1, min: 1, max: 1 }), maxWaiting: 0 });
    const permit = await limiter.acquire();
    await expect(limiter.acquire()).rejects.toBeInstanceOf(QueueFullError);
    permit.release();
    await limiter.close();
  });
});
