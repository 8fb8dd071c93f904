import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackendUnavailableError, TimeoutError } from '../src/index.js';
import { type RedisAdapter, RedisRateLimiter, RedisSemaphore } from '../src/redis/index.js';
import { flush, track, useFakeTime } from './helpers.js';

// A Redis that never answers (a black-holed network): every call must give up
// exactly at `commandTimeout`, on fake time, whatever the failure policy.
const silent: RedisAdapter = {
  command: () => new Promise<never>(() => {}),
  subscribe: () => new Promise<never>(() => {}),
};
// A Redis that refuses connections.
const refusing: RedisAdapter = {
  command: () =>
    Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })),
  subscribe: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')),
};

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

const limits = { limit: 10, interval: 1000 };

describe('Redis unreachable: never a hang', () => {
  it('fail-closed rejects exactly at commandTimeout', async () => {
    const limiter = new RedisRateLimiter({ client: silent, name: 'x', limits, commandTimeout: 250 });
    const decision = track(limiter.consume());
    await vi.advanceTimersByTimeAsync(249);
    expect(decision.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(decision.state).toBe('rejected');
    expect(decision.error).toBeInstanceOf(BackendUnavailableError);
    expect((decision.error as Error).message).toBe('Redis did not answer a rate limit decision within 250 ms');
  });

  it('fail-open admits and local decides in-process, both at commandTimeout', async () => {
    const open = new RedisRateLimiter({
      client: silent,
      name: 'x',
      limits,
      commandTimeout: 100,
      onUnavailable: 'fail-open',
    });
    const local = new RedisRateLimiter({
      client: silent,
      name: 'x',
      limits,
      commandTimeout: 100,
      onUnavailable: 'local',
      localLimits: { limit: 1, interval: 1000 },
    });
    const a = track(open.consume());
    const b = track(local.acquire());
    const c = track(local.consume());
    await vi.advanceTimersByTimeAsync(100);
    expect(a.value?.allowed).toBe(true);
    expect(b.state).toBe('fulfilled');
    expect(c.value).toMatchObject({ allowed: false, retryAfter: 1000 });
    expect(local.stats().unavailable).toBe(2);
  });

  it('a refused connection fails at once, with the cause', async () => {
    const limiter = new RedisRateLimiter({ client: refusing, name: 'x', limits });
    const error = await limiter.consume().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(/Redis is unavailable \(a rate limit decision\): connect ECONNREFUSED/);
    expect((error as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
    await limiter.close(); // nothing in flight: the deadline timer stops
  });

  it('one deadline timer for the decisions in flight; it stops by itself once nothing is pending', async () => {
    const answers: ((reply: unknown) => void)[] = [];
    const slow: RedisAdapter = {
      ...silent,
      command: () => new Promise((resolve) => answers.push(resolve)),
    };
    const limiter = new RedisRateLimiter({ client: slow, name: 'x', limits, commandTimeout: 500 });
    const first = track(limiter.consume());
    await vi.advanceTimersByTimeAsync(200);
    const second = track(limiter.consume());
    await flush();
    expect(answers.length).toBe(2);
    expect(vi.getTimerCount()).toBe(1); // one timer for both
    answers[0]?.([1, 0, 9, 10, 100]);
    await flush();
    expect(first.state).toBe('fulfilled');
    expect(second.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(499); // the second's deadline is 500 ms after it began
    expect(second.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(second.error).toBeInstanceOf(BackendUnavailableError);
    expect(vi.getTimerCount()).toBe(0); // nothing pending: not re-armed
  });

  it('an error reply about the request itself is not hidden behind the policy', async () => {
    const wrong: RedisAdapter = {
      ...silent,
      command: () => Promise.reject(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')),
    };
    const limiter = new RedisRateLimiter({ client: wrong, name: 'x', limits, onUnavailable: 'fail-open' });
    await expect(limiter.consume()).rejects.toThrow(/^WRONGTYPE/);
    await limiter.close();
  });

  it('the semaphore fails closed at commandTimeout', async () => {
    const sem = new RedisSemaphore({ client: silent, name: 'x', permits: 1, commandTimeout: 300 });
    const acquired = track(sem.acquire());
    await vi.advanceTimersByTimeAsync(299);
    expect(acquired.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(acquired.error).toBeInstanceOf(BackendUnavailableError);
    expect(sem.stats().unavailable).toBe(1);
    await sem.close();
  });
});

describe('Redis unreachable: every waiting caller answered on time', () => {
  it('10 queued calls with timeout 300 all end at 300 ms, not one per commandTimeout', async () => {
    const limiter = new RedisRateLimiter({ client: silent, name: 'x', limits: { limit: 1, interval: 1000 } });
    const calls = Array.from({ length: 10 }, () => track(limiter.acquire({ timeout: 300 })));
    await vi.advanceTimersByTimeAsync(299);
    expect(calls.filter((c) => c.state === 'pending')).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(1);
    for (const call of calls) expect(call.error).toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(1000); // the head's request gives up; nothing is left to answer
  });

  it('fail-closed: 10 queued calls without a timeout all fail at the first commandTimeout', async () => {
    const limiter = new RedisRateLimiter({ client: silent, name: 'x', limits: { limit: 1, interval: 1000 } });
    const calls = Array.from({ length: 10 }, () => track(limiter.acquire()));
    await vi.advanceTimersByTimeAsync(1000);
    for (const call of calls) expect(call.error).toBeInstanceOf(BackendUnavailableError);
    expect(limiter.stats().waiting).toBe(0);
  });

  it('the semaphore answers an abort at once while Redis does not answer', async () => {
    const sem = new RedisSemaphore({ client: silent, name: 'x', permits: 1 });
    const controller = new AbortController();
    const call = track(sem.acquire({ signal: controller.signal }));
    await flush();
    controller.abort(new Error('caller left'));
    await flush();
    expect(call.state).toBe('rejected');
    expect((call.error as Error).message).toBe('caller left');
    await vi.advanceTimersByTimeAsync(1000);
    await sem.close();
  });
});
