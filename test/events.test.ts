/**
 * One event mechanism: every part that emits is a Node EventEmitter with one
 * payload per event, so `on` chains, `off` removes, and `events.once` works.
 */

import { EventEmitter, once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import PQueue from '../src/compat/p-queue.js';
import {
  AdaptiveLimiter,
  aimd,
  CircuitBreakerPolicy,
  consecutiveFailures,
  HedgePolicy,
  Pool,
  RetryPolicy,
  TimeoutPolicy,
  WorkerPool,
} from '../src/index.js';
import { flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

describe('events', () => {
  it('every part that emits is an EventEmitter', () => {
    const parts = [
      new Pool({ create: () => ({}), max: 1 }),
      new AdaptiveLimiter(),
      new RetryPolicy(),
      new TimeoutPolicy(100),
      new CircuitBreakerPolicy(),
      new HedgePolicy({ delay: 10 }),
      new PQueue(), // the p-queue drop-in; sluice's own TaskQueue has no events
      new WorkerPool({ filename: new URL('./fixtures/tasks.mjs', import.meta.url), maxThreads: 1 }),
    ];
    for (const part of parts) expect(part).toBeInstanceOf(EventEmitter);
    return (parts[7] as WorkerPool).close();
  });

  it('events.once waits for an event; on chains; off removes', async () => {
    const pool = new Pool({ create: () => ({ id: 1 }), max: 1 });
    const created = once(pool, 'create');
    const seen: unknown[] = [];
    const listener = (payload: unknown) => seen.push(payload);
    expect(pool.on('destroy', listener).on('create', listener)).toBe(pool);
    (await pool.acquire()).release();
    const [payload] = await created;
    expect(payload).toEqual({ resource: { id: 1 } });
    expect(seen).toEqual([{ resource: { id: 1 } }]);
    pool.off('destroy', listener);
    await pool.close();
    expect(seen).toHaveLength(1); // the destroy listener was removed
  });

  it('a throwing listener breaks neither the part nor the listeners after it', async () => {
    const breaker = new CircuitBreakerPolicy({ breaker: consecutiveFailures(1) });
    const errors: unknown[] = [];
    const onError = (error: unknown) => errors.push(error);
    process.on('uncaughtException', onError);
    const changes: string[] = [];
    breaker.on('stateChange', () => {
      throw new Error('listener bug');
    });
    breaker.on('stateChange', ({ to }) => changes.push(to));
    await expect(
      breaker.execute(() => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    expect(changes).toEqual(['open']);
    await flush();
    process.off('uncaughtException', onError);
    expect(errors).toEqual([new Error('listener bug')]);
  });

  it('the adaptive limiter and the policies emit through the same mechanism', async () => {
    const limiter = new AdaptiveLimiter({ algorithm: aimd({ initial: 2, min: 1, max: 10 }) });
    const limitChanged = once(limiter, 'limit');
    const permit = await limiter.acquire();
    permit.drop();
    expect((await limitChanged)[0]).toEqual({ from: 2, to: 1 });
    const retry = new RetryPolicy({ maxAttempts: 2, backoff: () => 0 });
    const retried = once(retry, 'retry');
    let calls = 0;
    const done = retry.execute(() => {
      if (++calls === 1) throw new Error('once');
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(0);
    expect((await retried)[0]).toMatchObject({ attempt: 1 });
    await expect(done).resolves.toBe('ok');
  });
});
