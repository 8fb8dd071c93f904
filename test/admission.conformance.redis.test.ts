/**
 * The admission conformance suite for the Redis-backed limiters, against the
 * real Redis (REDIS_URL): RedisSemaphore, RedisRateLimiter, KeyedRedisRateLimiter.
 * Their decisions take a round trip and run on the server's clock, so these
 * tests assert order and outcomes, never durations; the limiters' own timers
 * (deadlines, sleeps) run on a ManualClock the test moves by hand.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClosedError, isAdmission, type Lease, TimeoutError } from '../src/index.js';
import { RedisRateLimiter, RedisSemaphore } from '../src/redis/index.js';
import { abortListeners, flush, ManualClock, track } from './helpers.js';
import { ioredis } from './redisHelpers.js';

let io: Redis;
beforeAll(() => {
  io = ioredis();
});
afterAll(() => {
  io.disconnect();
});

const unique = () => `conformance-${randomUUID()}`;
const minute = 60_000;

/**
 * Until `check` holds, one Redis round trip (a PING on the limiter's own
 * connection) between checks: bounded by a count of round trips, not by time
 * or by turns of the event loop, which a loaded machine makes too short.
 */
async function eventually(check: () => Promise<boolean>, tries = 2000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await io.ping();
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('condition never held');
}

const queued = (name: string) => io.zcard(`sluice:sem:{${name}}:queue`);

describe('RedisSemaphore conforms to the admission protocol', () => {
  it('is an Admission and admits waiters in arrival order', async () => {
    const sem = new RedisSemaphore({ client: io, name: unique(), permits: 1 });
    expect(isAdmission(sem)).toBe(true);
    const held = await sem.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) =>
      sem.acquire().then(async (lease) => {
        order.push(n);
        await lease.release();
      }),
    );
    await eventually(async () => (await sem.stats().waiting) === 3);
    await held.release();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    await sem.close();
  });

  it('refuses a signal already aborted, queueing nothing and adding no listener', async () => {
    const sem = new RedisSemaphore({ client: io, name: unique(), permits: 1 });
    const controller = new AbortController();
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(sem.acquire({ signal: controller.signal })).rejects.toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(sem.stats()).toMatchObject({ waiting: 0, aborted: 1 });
    await sem.close();
  });

  it('an abort during the first round trip answers at once; 200 such calls keep no place in the Redis queue', async () => {
    const name = unique();
    const sem = new RedisSemaphore({ client: io, name, permits: 1 });
    const held = await sem.acquire();
    const controllers = Array.from({ length: 200 }, () => new AbortController());
    const calls = controllers.map((c) =>
      track(sem.acquire({ signal: c.signal }).catch((e: unknown) => Promise.reject(e))),
    );
    for (const c of controllers) c.abort(new Error('caller left'));
    await flush();
    for (const call of calls) {
      expect(call.state).toBe('rejected');
      expect((call.error as Error).message).toBe('caller left');
    }
    for (const c of controllers) expect(abortListeners(c.signal)).toBe(0);
    expect(sem.stats().waiting).toBe(0);
    await eventually(async () => (await queued(name)) === 0);
    // No ghost ahead: the next caller is served as soon as the permit is back.
    await held.release();
    const next = await sem.acquire();
    expect(await sem.holders()).toBe(1);
    await next.release();
    await sem.close();
  });

  it('a deadline fires at its time for a waiter behind others, and leaves the rest waiting', async () => {
    const name = unique();
    const clock = new ManualClock();
    const sem = new RedisSemaphore({ client: io, name, permits: 1, clock });
    const held = await sem.acquire();
    const first = track(sem.acquire());
    const timed = track(sem.acquire({ timeout: 100 }));
    const last = track(sem.acquire());
    await eventually(async () => (await queued(name)) === 3);
    clock.advance(99);
    await flush();
    expect(timed.state).toBe('pending');
    clock.advance(1);
    await flush();
    expect(timed.state).toBe('rejected');
    expect(timed.error).toBeInstanceOf(TimeoutError);
    expect(first.state).toBe('pending');
    expect(last.state).toBe('pending');
    await eventually(async () => (await queued(name)) === 2); // it left the Redis queue too
    await held.release();
    await eventually(async () => first.state === 'fulfilled');
    await (first.value as { release(): Promise<void> }).release();
    await eventually(async () => last.state === 'fulfilled');
    await (last.value as { release(): Promise<void> }).release();
    await sem.close();
  });

  it('close() rejects waiters with ClosedError, leaves the Redis queue, refuses later calls', async () => {
    const name = unique();
    const sem = new RedisSemaphore({ client: io, name, permits: 1 });
    const held = await sem.acquire();
    const waiters = [track(sem.acquire()), track(sem.acquire({ timeout: minute }))];
    await eventually(async () => (await queued(name)) === 2);
    const closing = sem.close();
    await flush();
    for (const waiter of waiters) expect(waiter.error).toBeInstanceOf(ClosedError);
    expect(sem.closed).toBe(true);
    await expect(sem.acquire()).rejects.toBeInstanceOf(ClosedError);
    await held.release();
    await closing;
    await eventually(async () => (await queued(name)) === 0);
  });

  it('releasing twice gives no extra capacity', async () => {
    const sem = new RedisSemaphore({ client: io, name: unique(), permits: 1 });
    const lease = await sem.acquire();
    await lease.release();
    await lease.release();
    const x = await sem.acquire();
    const y = track(sem.acquire({ timeout: 0 }));
    await eventually(async () => y.state !== 'pending');
    expect(y.error).toBeInstanceOf(TimeoutError);
    expect(await sem.holders()).toBe(1);
    await x.release();
    await sem.close();
  });

  it('run() never starts the work on a signal aborted as the grant arrives', async () => {
    const sem = new RedisSemaphore({ client: io, name: unique(), permits: 1 });
    const held = await sem.acquire();
    const controller = new AbortController();
    let started = false;
    const run = track(
      sem.run(
        () => {
          started = true;
        },
        { signal: controller.signal },
      ),
    );
    await eventually(async () => sem.stats().waiting === 1);
    await held.release();
    controller.abort(new Error('stop'));
    await eventually(async () => run.state !== 'pending');
    expect(started).toBe(false);
    await eventually(async () => (await sem.holders()) === 0);
    await sem.close();
  });
});

describe('the Redis parts leave no timer and no listener once every waiter has its answer', () => {
  it('RedisSemaphore: aborted, timed out and granted waiters, then close', async () => {
    const name = unique();
    const clock = new ManualClock();
    const sem = new RedisSemaphore({ client: io, name, permits: 1, clock });
    const held = await sem.acquire();
    const controller = new AbortController();
    const aborted = track(sem.acquire({ signal: controller.signal }));
    const timed = track(sem.acquire({ timeout: 50 }));
    const granted = track(sem.acquire({ signal: new AbortController().signal }));
    await eventually(async () => (await queued(name)) === 3);
    controller.abort(new Error('left'));
    clock.advance(50);
    await flush();
    expect(aborted.state).toBe('rejected');
    expect(timed.error).toBeInstanceOf(TimeoutError);
    await held.release();
    await eventually(async () => granted.state === 'fulfilled');
    await (granted.value as { release(): Promise<void> }).release();
    expect(abortListeners(controller.signal)).toBe(0);
    await sem.close();
    expect(clock.pending).toBe(0); // no renewal, round or deadline timer left
    expect(sem.stats()).toMatchObject({ waiting: 0, running: 0, aborted: 1, timedOut: 1 });
  });

  it('RedisRateLimiter: waiters timed out and closed leave no timer', async () => {
    const clock = new ManualClock();
    const limiter = new RedisRateLimiter({ client: io, name: unique(), limits: { limit: 1, interval: minute }, clock });
    await limiter.acquire();
    const waiting = [track(limiter.acquire()), track(limiter.acquire({ timeout: 20 })), track(limiter.acquire())];
    await eventually(async () => clock.pending > 1); // the head sleeps until Redis's retryAfter
    clock.advance(20);
    await flush();
    expect(waiting[1]?.error).toBeInstanceOf(TimeoutError);
    await limiter.close();
    await flush();
    for (const call of [waiting[0], waiting[2]]) expect(call?.error).toBeInstanceOf(ClosedError);
    await eventually(async () => clock.pending === 0);
  });
});

describe('RedisRateLimiter conforms to the admission protocol', () => {
  it('is an Admission (and so is its keyed form), and admits waiters in arrival order', async () => {
    const limiter = new RedisRateLimiter({ client: io, name: unique(), limits: { limit: 1, interval: 50 } });
    expect(isAdmission(limiter)).toBe(true);
    expect(isAdmission(limiter.for('k'))).toBe(true);
    await limiter.acquire();
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((n) => limiter.acquire().then(() => order.push(n))));
    expect(order).toEqual([1, 2, 3]);
    await limiter.close();
  });

  it('a deadline fires at its time for a call behind a head that waits longer', async () => {
    // The head waits a minute (Redis's retryAfter); the call behind it with
    // `timeout: 100` must end at 100 ms, not when the head's turn comes.
    const clock = new ManualClock();
    const limiter = new RedisRateLimiter({ client: io, name: unique(), limits: { limit: 1, interval: minute }, clock });
    await limiter.acquire();
    const head = track(limiter.acquire());
    const timed = track(limiter.acquire({ timeout: 100 }));
    await flush();
    clock.advance(99);
    await flush();
    expect(timed.state).toBe('pending');
    clock.advance(1);
    await flush();
    expect(timed.state).toBe('rejected');
    expect((timed.error as Error).message).toMatch(/^Rate limit wait timed out after 100 ms/);
    expect(head.state).toBe('pending');
    expect(limiter.stats()).toMatchObject({ waiting: 1, timedOut: 1 });
    await limiter.close();
    await flush();
    expect(head.error).toBeInstanceOf(ClosedError);
  });

  it('an abort during the round trip answers at once and leaves no listener', async () => {
    const limiter = new RedisRateLimiter({ client: io, name: unique(), limits: { limit: 1, interval: minute } });
    const controller = new AbortController();
    const call = track(limiter.acquire({ signal: controller.signal }));
    controller.abort(new Error('caller left'));
    await flush();
    expect(call.state).toBe('rejected');
    expect(abortListeners(controller.signal)).toBe(0);
    expect(limiter.stats()).toMatchObject({ waiting: 0, aborted: 1 });
    await limiter.close();
  });

  it('close() rejects waiters with ClosedError and refuses later calls', async () => {
    const limiter = new RedisRateLimiter({ client: io, name: unique(), limits: { limit: 1, interval: minute } });
    const lease: Lease = await limiter.acquire();
    lease.release();
    lease.release(); // a spent rate slot: releasing gives nothing back, twice or not
    const waiting = track(limiter.acquire());
    await flush();
    await limiter.close();
    await flush();
    expect(waiting.error).toBeInstanceOf(ClosedError);
    expect(limiter.closed).toBe(true);
    await expect(limiter.acquire()).rejects.toBeInstanceOf(ClosedError);
  });
});
