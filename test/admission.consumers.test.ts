/**
 * The parts that take a limiter (pipeline, map, transform, throttle,
 * TaskGroup) accept any Admission and nothing else, checked by the types and
 * at run time, and hand the work the limiter's signal (the caller's joined
 * with the lease's) through one shared adapter.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  AdaptiveLimiter,
  type Admission,
  type AdmissionStats,
  bulkhead,
  EventLoopLag,
  forEach,
  isAdmission,
  type Lease,
  type Lifecycle,
  limit,
  Mutex,
  map,
  Pool,
  type PoolAcquireOptions,
  type PoolRunContext,
  pipeline,
  RateLimiter,
  type RunContext,
  retry,
  Semaphore,
  TaskGroup,
  TaskQueue,
  throttle,
  transform,
  WorkerPool,
} from '../src/index.js';
import type { KeyedRedisRateLimiter, RedisRateLimiter, RedisSemaphore } from '../src/redis/index.js';
import { fakeNow, flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

/**
 * A limiter whose lease can be lost (as a Redis semaphore's can): `run`
 * hands the work the lease's signal. Built on a real Semaphore for admission.
 */
class LosableLimiter implements Admission {
  readonly semaphore = new Semaphore(1);
  readonly lease = new AbortController();
  get closed(): boolean {
    return this.semaphore.closed;
  }
  acquire(options?: { signal?: AbortSignal | undefined }): Promise<Lease> {
    return this.semaphore.acquire(options);
  }
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: { signal?: AbortSignal | undefined }): Promise<T> {
    return this.semaphore.run(() => fn({ signal: this.lease.signal }), options);
  }
  close(): Promise<void> {
    return this.semaphore.close();
  }
  stats(): AdmissionStats {
    return this.semaphore.stats();
  }
}

describe('the signal of a lease reaches the work', () => {
  it('in map(), and in transform() stages', async () => {
    const limiter = new LosableLimiter();
    const seen: AbortSignal[] = [];
    await forEach(
      [1],
      (_n, { signal }) => {
        seen.push(signal);
      },
      { limiter },
    );
    const out: number[] = [];
    await streamPipeline(
      Readable.from([1, 2]),
      transform(
        (n: number, { signal }) => {
          seen.push(signal);
          return n * 10;
        },
        { limiter },
      ),
      new Writable({
        objectMode: true,
        write(chunk: number, _encoding, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    expect(out).toEqual([10, 20]);
    expect(seen).toHaveLength(3);
    for (const signal of seen) expect(signal).toBe(limiter.lease.signal);
  });

  it('in a pipeline layer', async () => {
    const limiter = new LosableLimiter();
    const policy = pipeline(retry({ maxAttempts: 2 }), limiter);
    const signal = await policy.execute(({ signal }) => signal);
    expect(signal).toBe(limiter.lease.signal);
  });

  it('in a TaskGroup child', async () => {
    const limiter = new LosableLimiter();
    const group = new TaskGroup({ limiter });
    const signal = group.spawn(({ signal }) => signal);
    await group;
    expect(await signal).toBe(limiter.lease.signal);
  });
});

describe('only an Admission is accepted where a limiter is expected', () => {
  const workers = new WorkerPool({ filename: new URL('./fixtures/tasks.mjs', import.meta.url), maxThreads: 1 });
  afterEach(() => workers.close());

  it('a WorkerPool is refused by the types and at run time (it is not a limiter)', () => {
    // @ts-expect-error a WorkerPool has run(data), not the admission protocol
    expect(() => pipeline(workers)).toThrow(/Expected a layer to be a policy .* or a limiter \(an Admission/);
    // @ts-expect-error see above
    expect(() => map([1], (n) => n, { limiter: workers })).toThrow(/Expected `limiter` to be a limiter/);
    // @ts-expect-error see above
    expect(() => new TaskGroup({ limiter: workers })).toThrow(/Expected `limiter` to be a limiter/);
    // @ts-expect-error see above
    expect(() => throttle(() => 1, workers)).toThrow();
  });

  it('throttle() takes any Admission, not only a RateLimiter', async () => {
    const semaphore = new Semaphore(1);
    let running = 0;
    let most = 0;
    const send = throttle(async (n: number) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 10));
      running--;
      return n;
    }, semaphore);
    expect(send.limiter).toBe(semaphore);
    const calls = [1, 2, 3].map((n) => send(n));
    await vi.advanceTimersByTimeAsync(30);
    expect(await Promise.all(calls)).toEqual([1, 2, 3]);
    expect(most).toBe(1);
  });

  it('throttle() starts a call admitted at once synchronously', () => {
    let started = false;
    const go = throttle(
      () => {
        started = true;
      },
      { limit: 5, interval: 1000 },
    );
    void go();
    expect(started).toBe(true);
  });

  it('pipeline(pool): the work receives the borrowed resource', async () => {
    const pool = new Pool({ create: () => ({ name: 'conn-1' }), max: 1 });
    const policy = pipeline(pool);
    const resource = await policy.execute(({ resource }) => resource);
    expect(resource).toEqual({ name: 'conn-1' });
    await pool.close();
  });
});

describe('defects fixed with the engine', () => {
  it('RateLimiter.run starts the work at its admission, not a tick later while the caller is busy', async () => {
    // Calls #1 and #101 of a 100-per-second sliding window: with the work
    // started a tick after admission, a busy caller made them start less than
    // a second apart, so a strict downstream window saw 101.
    const limiter = new RateLimiter({ limits: { limit: 100, interval: 1000, algorithm: 'sliding-window' } });
    const starts: number[] = [];
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 101; i++) calls.push(limiter.run(() => starts.push(fakeNow())));
    expect(starts).toHaveLength(100); // admitted at once: started inside run()
    vi.advanceTimersByTime(1000);
    await flush();
    expect(starts).toHaveLength(101);
    expect((starts[100] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(1000);
    await Promise.all(calls);
  });

  it('a TaskGroup child may spawn another child while the group is awaited', async () => {
    const group = new TaskGroup<number>();
    group.spawn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      group.spawn(async () => 2);
      return 1;
    });
    const waited = group.wait();
    await vi.advanceTimersByTimeAsync(10);
    expect(await waited).toEqual([1, 2]);
    expect(() => group.spawn(async () => 3)).toThrow('TaskGroup is closed');
  });
});

describe('every limiter is an Admission by its type', () => {
  it('type-checks as one (and is one at run time)', async () => {
    const pool = new Pool({ create: () => ({}), max: 1 });
    const parts: Admission[] = [
      limit(1),
      new TaskQueue({ concurrency: 1 }),
      new Semaphore(1),
      new Mutex(),
      bulkhead({ concurrency: 1 }),
      new RateLimiter({ limits: { limit: 1, interval: 1000 } }),
      new RateLimiter({ limits: { limit: 1, interval: 1000 } }).for('k'),
      pool,
      new AdaptiveLimiter(),
    ];
    const admissionOfPool: Admission<Lease, PoolAcquireOptions, PoolRunContext<object>> = pool;
    expect(admissionOfPool).toBe(pool);
    for (const part of parts) expect(isAdmission(part)).toBe(true);
    for (const part of parts) await part.close();
  });
});

describe('every part with waiters, timers or resources has the one lifecycle', () => {
  it('close / destroy / closed / Symbol.asyncDispose by its type, and each works', async () => {
    const parts = (): Lifecycle[] => [
      limit(1),
      new TaskQueue({ concurrency: 1 }),
      new Semaphore(1),
      new Mutex(),
      bulkhead({ concurrency: 1 }),
      new RateLimiter({ limits: { limit: 1, interval: 1000 } }),
      new RateLimiter({ limits: { limit: 1, interval: 1000 } }).for('k'),
      new Pool({ create: () => ({}), max: 1 }),
      new AdaptiveLimiter(),
      new EventLoopLag(),
      new WorkerPool({ filename: new URL('./fixtures/tasks.mjs', import.meta.url), maxThreads: 1 }),
    ];
    // The Redis parts need a server; their types are checked here, their behaviour in the Redis suites.
    expectTypeOf<RedisRateLimiter>().toMatchTypeOf<Lifecycle>();
    expectTypeOf<KeyedRedisRateLimiter>().toMatchTypeOf<Lifecycle>();
    expectTypeOf<RedisSemaphore>().toMatchTypeOf<Lifecycle>();
    for (const part of parts()) {
      expect(part.closed).toBe(false);
      await part.close();
      expect(part.closed).toBe(true);
      await part.close(); // idempotent
    }
    for (const part of parts()) {
      await part.destroy(new Error('now'));
      expect(part.closed).toBe(true);
    }
    for (const part of parts()) {
      {
        await using scoped = part;
        expect(scoped.closed).toBe(false);
      }
      expect(part.closed).toBe(true);
    }
  });
});
