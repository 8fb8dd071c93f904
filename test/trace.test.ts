/**
 * The admission channel (`diagnostics_channel`, 'sluice:admission'): what a
 * subscriber sees from each traced part, with wait and hold times on fake
 * time (a real Redis for the Redis parts), and that nothing is published,
 * timed or kept while nobody listens.
 */
import { randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADMISSION_CHANNEL,
  AdaptiveLimiter,
  type AdmissionMessage,
  aimd,
  ClearedError,
  limit,
  Mutex,
  Pool,
  QueueFullError,
  RateLimiter,
  Semaphore,
  TaskQueue,
  TimeoutError,
} from '../src/index.js';
import { RedisRateLimiter, RedisSemaphore } from '../src/redis/index.js';
import { flush, useFakeTime } from './helpers.js';
import { ioredis } from './redisHelpers.js';

/** Subscribe for the test; the messages, each without its `part` and `error` (checked apart). */
function listen() {
  const messages: AdmissionMessage[] = [];
  const onMessage = (message: unknown) => messages.push(message as AdmissionMessage);
  subscribe(ADMISSION_CHANNEL, onMessage);
  return {
    messages,
    /** `type:name[:detail]` per message: wait times for admit, hold times for release, reason for reject. */
    lines: () =>
      messages.map((m) => {
        if (m.type === 'wait') return `wait:${m.name}:${m.waiting}`;
        if (m.type === 'admit') return `admit:${m.name}:${m.wait}`;
        if (m.type === 'reject') return `reject:${m.name}:${m.reason}:${m.wait}`;
        return `release:${m.name}:${m.hold}`;
      }),
    stop: () => unsubscribe(ADMISSION_CHANNEL, onMessage),
  };
}

describe('admission channel', () => {
  afterEach(() => vi.useRealTimers());

  it('Semaphore: admitted at once or after a wait, refused, aborted, timed out, released, with times', async () => {
    useFakeTime();
    const sem = new Semaphore(1, { name: 'db', maxWaiting: 2 });
    const tap = listen();
    try {
      const first = await sem.acquire();
      const second = sem.acquire();
      const controller = new AbortController();
      const aborted = sem.acquire({ signal: controller.signal }).catch((e: unknown) => e);
      await expect(sem.acquire()).rejects.toBeInstanceOf(QueueFullError);
      vi.advanceTimersByTime(30);
      controller.abort(new Error('gone'));
      vi.advanceTimersByTime(20);
      first.release(); // held 50 ms; the second waited 50 ms
      const held = await second;
      const late = sem.acquire({ timeout: 10 }).catch((e: unknown) => e);
      vi.advanceTimersByTime(10);
      expect(await late).toBeInstanceOf(TimeoutError);
      held.release();
      expect(await aborted).toEqual(new Error('gone'));
      expect(tap.lines()).toEqual([
        'admit:db:0',
        'wait:db:1',
        'wait:db:2',
        'reject:db:full:0',
        'reject:db:aborted:30',
        'release:db:50',
        'admit:db:50',
        'wait:db:1',
        'reject:db:timeout:10',
        'release:db:10',
      ]);
      expect(tap.messages.every((m) => m.part === sem && m.kind === 'Semaphore')).toBe(true);
      const refusal = tap.messages.find((m) => m.type === 'reject' && m.reason === 'full');
      expect(refusal?.type === 'reject' && refusal.error).toBeInstanceOf(QueueFullError);
    } finally {
      tap.stop();
    }
  });

  it('a Mutex speaks as itself; closing a part rejects its waiters as closed', async () => {
    const mutex = new Mutex();
    const tap = listen();
    try {
      const held = await mutex.lock();
      const waiting = mutex.lock().catch((e: unknown) => e);
      const closing = mutex.close();
      await waiting;
      held.release();
      await closing;
      expect(tap.lines().map((l) => l.replace(/:[\d.]+$/, ''))).toEqual([
        'admit:Mutex',
        'wait:Mutex',
        'reject:Mutex:closed',
        'release:Mutex',
      ]);
      expect(tap.messages.every((m) => m.part === mutex && m.kind === 'Mutex')).toBe(true);
    } finally {
      tap.stop();
    }
  });

  it('RateLimiter: admitted at once, then after the interval; its lease released', async () => {
    useFakeTime();
    const rate = new RateLimiter({ limits: { limit: 1, interval: 1000 }, name: 'api' });
    const tap = listen();
    try {
      (await rate.acquire()).release();
      const next = rate.acquire();
      vi.advanceTimersByTime(1000);
      await flush();
      (await next).release();
      await expect(rate.acquire({ timeout: 5 })).rejects.toBeInstanceOf(TimeoutError);
      expect(tap.lines()).toEqual([
        'admit:api:0',
        'release:api:0',
        'wait:api:1',
        'admit:api:1000',
        'release:api:0',
        'reject:api:timeout:0',
      ]);
      expect(tap.messages.every((m) => m.part === rate && m.kind === 'RateLimiter')).toBe(true);
    } finally {
      tap.stop();
    }
  });

  it('Pool: a borrow at once and one that waits for a return, with the hold time', async () => {
    useFakeTime();
    let n = 0;
    const pool = new Pool({ create: () => ({ id: ++n }), min: 1, max: 1, name: 'conns' });
    await flush();
    const tap = listen();
    try {
      const lease = await pool.acquire();
      const waiting = pool.acquire();
      vi.advanceTimersByTime(25);
      lease.release();
      (await waiting).release();
      expect(tap.lines()).toEqual([
        'admit:conns:0',
        'wait:conns:1',
        'release:conns:25',
        'admit:conns:25',
        'release:conns:0',
      ]);
      expect(tap.messages.every((m) => m.part === pool && m.kind === 'Pool')).toBe(true);
    } finally {
      tap.stop();
      await pool.close();
    }
  });

  it('limit(): calls at once and after a wait, their run times, a full queue, acquire and clear', async () => {
    useFakeTime();
    const db = limit({ concurrency: 1, maxWaiting: 2, name: 'db' });
    const tap = listen();
    try {
      let finish!: () => void;
      const first = db(
        () =>
          new Promise<void>((resolve) => {
            finish = resolve;
          }),
      );
      const second = db(async () => 'second');
      const cleared = db.acquire().catch((e: unknown) => e);
      await expect(db(() => 1)).rejects.toBeInstanceOf(QueueFullError);
      vi.advanceTimersByTime(40);
      expect(db.clear()).toBe(2); // the second call and the acquire
      finish();
      await first;
      await expect(second).rejects.toBeInstanceOf(ClearedError);
      expect(await cleared).toBeInstanceOf(ClearedError);
      const permit = db.tryAcquire();
      vi.advanceTimersByTime(5);
      permit?.release();
      expect(tap.lines()).toEqual([
        'admit:db:0',
        'wait:db:1',
        'wait:db:2',
        'reject:db:full:0',
        'reject:db:cleared:40',
        'reject:db:cleared:40',
        'release:db:40',
        'admit:db:0',
        'release:db:5',
      ]);
      expect(tap.messages.every((m) => m.part === db && m.kind === 'limit')).toBe(true);
    } finally {
      tap.stop();
    }
  });

  it('TaskQueue and AdaptiveLimiter: waits, starts and ends', async () => {
    useFakeTime();
    const queue = new TaskQueue({ concurrency: 1, name: 'jobs' });
    const adaptive = new AdaptiveLimiter({ algorithm: aimd({ initial: 1, min: 1, max: 1 }), name: 'api' });
    const tap = listen();
    try {
      const a = queue.add(() => new Promise((resolve) => setTimeout(resolve, 30)));
      const b = queue.add(() => 'b');
      vi.advanceTimersByTime(30);
      await a;
      await b;
      const held = await adaptive.acquire();
      const next = adaptive.acquire();
      vi.advanceTimersByTime(10);
      held.success();
      (await next).drop();
      expect(tap.lines()).toEqual([
        'admit:jobs:0',
        'wait:jobs:1',
        'release:jobs:30',
        'admit:jobs:30',
        'release:jobs:0',
        'admit:api:0',
        'wait:api:1',
        'release:api:10',
        'admit:api:10',
        'release:api:0',
      ]);
    } finally {
      tap.stop();
    }
  });

  it('nothing is timed or published while nobody listens; a listener that joins mid-wait gets undefined times', async () => {
    useFakeTime();
    const sem = new Semaphore(1);
    const held = await sem.acquire(); // before anyone listens
    const waiting = sem.acquire();
    const tap = listen();
    try {
      held.release();
      (await waiting).release();
      expect(tap.lines()).toEqual(['release:Semaphore:undefined', 'admit:Semaphore:undefined', 'release:Semaphore:0']);
    } finally {
      tap.stop();
    }
    tap.messages.length = 0;
    (await sem.acquire()).release();
    expect(tap.messages).toEqual([]);
  });
});

describe('admission channel, Redis parts (real Redis)', () => {
  const redis = ioredis();
  afterAll(async () => {
    await redis.quit();
  });

  it('RedisSemaphore and RedisRateLimiter: admissions, a refusal and releases', async () => {
    const name = `trace-${randomUUID()}`;
    const sem = new RedisSemaphore({ client: redis, name, permits: 1, leaseTtl: 5000 });
    const rate = new RedisRateLimiter({ client: redis, name, limits: { limit: 1, interval: 60_000 } });
    const tap = listen();
    try {
      const lease = await sem.acquire();
      await expect(sem.acquire({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
      await lease.release();
      (await rate.acquire()).release();
      await expect(rate.acquire({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
      const seen = tap.messages.map((m) => `${m.kind}:${m.name}:${m.type}${m.type === 'reject' ? `:${m.reason}` : ''}`);
      expect(seen).toEqual([
        `RedisSemaphore:${name}:wait`,
        `RedisSemaphore:${name}:admit`,
        `RedisSemaphore:${name}:reject:timeout`,
        `RedisSemaphore:${name}:release`,
        `RedisRateLimiter:${name}:wait`,
        `RedisRateLimiter:${name}:admit`,
        `RedisRateLimiter:${name}:release`,
        `RedisRateLimiter:${name}:wait`,
        `RedisRateLimiter:${name}:reject:timeout`,
      ]);
      const admit = tap.messages.find((m) => m.type === 'admit' && m.part === sem);
      expect(admit?.type === 'admit' && typeof admit.wait === 'number' && admit.wait >= 0).toBe(true);
    } finally {
      tap.stop();
      await sem.close();
      await rate.close();
    }
  });
});
