import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClosedError, constantBackoff, Pool, type PoolOptions, QueueFullError, TimeoutError } from '../src/index.js';
import { abortListeners, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

interface Conn {
  id: number;
  alive: boolean;
}

/** A factory whose creates take `createMs` and which records what happens. */
function factory(createMs = 0) {
  let next = 0;
  const log = { created: [] as number[], destroyed: [] as number[] };
  const options = {
    create: async () => {
      if (createMs > 0) await new Promise((resolve) => setTimeout(resolve, createMs));
      const conn = { id: ++next, alive: true };
      log.created.push(conn.id);
      return conn;
    },
    destroy: (conn: Conn) => {
      conn.alive = false;
      log.destroyed.push(conn.id);
    },
  } satisfies Pick<PoolOptions<Conn>, 'create' | 'destroy'>;
  return { options, log };
}

async function closed(pool: Pool<Conn>) {
  await pool.close();
}

describe('Pool: lending', () => {
  it('pre-fills min, lends idle resources LIFO, serves waiters FIFO', async () => {
    const { options } = factory();
    const pool = new Pool<Conn>({ ...options, min: 2, max: 2 });
    await flush();
    expect(pool.stats()).toMatchObject({ size: 2, idle: 2, created: 2 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    a.release();
    b.release();
    const hot = await pool.acquire();
    expect(hot.resource.id).toBe(b.resource.id); // the most recently returned first
    const cold = pool.tryAcquire();
    expect(cold?.resource.id).toBe(a.resource.id);
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) =>
      pool.acquire().then((lease) => {
        order.push(n);
        lease.release();
      }),
    );
    expect(pool.tryAcquire()).toBeUndefined(); // never jumps the queue
    hot.release();
    cold?.release();
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3]);
    await closed(pool);
  });

  it('priority waiters go first; FIFO among equals', async () => {
    const { options } = factory();
    const pool = new Pool<Conn>({ ...options, max: 1 });
    const first = await pool.acquire();
    const order: string[] = [];
    const take = (name: string, priority = 0) =>
      pool.acquire({ priority }).then((lease) => {
        order.push(name);
        lease.release();
      });
    const low = take('low');
    const high = take('high', 5);
    first.release();
    await Promise.all([low, high]);
    expect(order).toEqual(['high', 'low']);
    await closed(pool);
  });

  it('a burst of waiters does not open a stampede: creates are demand-driven and re-checked', async () => {
    // HikariCP's spike: 50 acquirers, 150 ms creates, 2 ms of use, min 5.
    const { options } = factory(150);
    const pool = new Pool<Conn>({ ...options, min: 5, max: 50 });
    await vi.advanceTimersByTimeAsync(5 * 150); // min is filled (one create at a time)
    expect(pool.stats().size).toBe(5);
    const work = Array.from({ length: 50 }, () =>
      pool.use(async () => {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }),
    );
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(work);
    // The five served everyone in 20 ms; the one create started meanwhile came back to an empty queue.
    expect(pool.stats().size).toBe(6);
    await closed(pool);
  });

  it('maxWaiting bounds the queue; an aborted waiter leaves it and its listener', async () => {
    const { options } = factory();
    const pool = new Pool<Conn>({ ...options, max: 1, maxWaiting: 1 });
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire({ signal: controller.signal });
    await expect(pool.acquire()).rejects.toThrow(QueueFullError);
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(abortListeners(controller.signal)).toBe(0);
    held.release();
    await closed(pool);
  });

  it('work that fails in use() or run() never lends its resource unchecked: destroyed, validated, or kept when isBroken says so', async () => {
    // No validate: a resource whose work failed is destroyed.
    const { options, log } = factory();
    const pool = new Pool<Conn>({ ...options, max: 1 });
    await expect(pool.use(() => Promise.reject(new Error('query failed')))).rejects.toThrow('query failed');
    expect(log.destroyed).toEqual([1]);
    await expect(
      pool.run(() => {
        throw new Error('thrown');
      }),
    ).rejects.toThrow('thrown');
    expect(log.destroyed).toEqual([1, 2]);
    expect(await pool.run(({ resource }) => resource.id)).toBe(3);
    const lease = await pool.acquire();
    lease.release(new Error('connection reset'));
    lease.release(); // idempotent
    expect(log.destroyed).toEqual([1, 2, 3]);
    await closed(pool);

    // With validate: checked before the next borrower (the waiter behind it gets a live one).
    const checked = factory();
    const validated: number[] = [];
    const dead = new Set<number>();
    const strict = new Pool<Conn>({
      ...checked.options,
      max: 1,
      validateAfterIdle: 60_000,
      validate: (conn) => {
        validated.push(conn.id);
        return !dead.has(conn.id);
      },
    });
    const first = strict.use(async (conn) => {
      dead.add(conn.id);
      throw new Error('connection lost');
    });
    const next = strict.use((conn) => conn.id);
    await expect(first).rejects.toThrow('connection lost');
    expect(await next).toBe(2);
    expect(validated).toEqual([1]);
    expect(checked.log.destroyed).toEqual([1]);
    // A failure that left the resource sound: validated, then lent again.
    await expect(strict.use(() => Promise.reject(new Error('unique violation')))).rejects.toThrow();
    expect(await strict.use((conn) => conn.id)).toBe(2);
    expect(validated).toEqual([1, 2]);
    await closed(strict);

    // isBroken decides when it answers: false keeps the resource without a check, true destroys it.
    const classified = factory();
    const sqlErrors = new Pool<Conn>({
      ...classified.options,
      max: 1,
      isBroken: (error) => ((error as Error).message === 'unique violation' ? false : undefined),
    });
    await expect(sqlErrors.use(() => Promise.reject(new Error('unique violation')))).rejects.toThrow();
    expect(await sqlErrors.use((conn) => conn.id)).toBe(1);
    await expect(sqlErrors.use(() => Promise.reject(new Error('socket hang up')))).rejects.toThrow();
    expect(classified.log.destroyed).toEqual([1]);
    await closed(sqlErrors);
    expect(() => new Pool<Conn>({ ...classified.options, isBroken: true as never })).toThrow(
      'Expected `isBroken` to be a function',
    );
  });
});

describe('Pool: timeouts', () => {
  it('acquire times out with the live state', async () => {
    const { options } = factory();
    const pool = new Pool<Conn>({ ...options, max: 1, acquireTimeout: 100 });
    const held = await pool.acquire();
    const waiting = track(pool.acquire());
    await vi.advanceTimersByTimeAsync(99);
    expect(waiting.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting.error).toBeInstanceOf(TimeoutError);
    expect((waiting.error as Error).message).toBe(
      'Pool acquire timed out after 100 ms (1 borrowed, 0 idle, 0 creating, 0 waiting, max 1)',
    );
    held.release();
    await closed(pool);
  });

  it('create times out; a resource that arrives late is destroyed, not leaked', async () => {
    const destroyed: string[] = [];
    const pool = new Pool<string>({
      create: () => new Promise((resolve) => setTimeout(resolve, 500, 'late')),
      destroy: (r) => {
        destroyed.push(r);
      },
      createTimeout: 100,
      createBackoff: constantBackoff(1000),
    });
    const waiting = track(pool.acquire());
    await vi.advanceTimersByTimeAsync(100);
    expect(waiting.error).toBeInstanceOf(TimeoutError);
    expect((waiting.error as Error).message).toBe('Pool create timed out after 100 ms');
    await vi.advanceTimersByTimeAsync(400);
    expect(destroyed).toEqual(['late']);
    expect(pool.stats()).toMatchObject({ size: 0, created: 1, destroyed: 1 });
    await vi.advanceTimersByTimeAsync(1000); // the backoff timer runs out
    await pool.close();
  });

  it('create failures back off and reach waiting callers instead of looping', async () => {
    let attempts = 0;
    const pool = new Pool<number>({
      create: () => {
        attempts++;
        throw new Error('ECONNREFUSED');
      },
      createBackoff: constantBackoff(1000),
    });
    const a = track(pool.acquire());
    const b = track(pool.acquire());
    await flush();
    // No resource exists or is coming: the caller that was waiting when the create began learns
    // at once; b came while it was on its way and waits for the next attempt.
    expect((a.error as Error).message).toBe('ECONNREFUSED');
    expect(b.state).toBe('pending');
    expect(attempts).toBe(1);
    const c = track(pool.acquire());
    await vi.advanceTimersByTimeAsync(999);
    expect(attempts).toBe(1); // backing off
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toBe(2);
    expect((b.error as Error).message).toBe('ECONNREFUSED');
    expect((c.error as Error).message).toBe('ECONNREFUSED');
    expect(pool.stats().createFailures).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    await pool.close();
  });

  it('a burst that comes while a doomed create is on its way gets a fresh attempt, not its failure', async () => {
    let down = true;
    let attempts = 0;
    const pool = new Pool<number>({
      max: 10,
      createTimeout: 1000,
      createBackoff: constantBackoff(100),
      acquireTimeout: 10_000,
      // While the database is down a connect hangs until createTimeout.
      create: (signal) =>
        new Promise<number>((resolve, reject) => {
          attempts++;
          if (!down) resolve(attempts);
          else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    });
    const early = track(pool.acquire()); // starts the create that will time out
    await vi.advanceTimersByTimeAsync(500);
    down = false; // the database is back
    const burst = Array.from({ length: 50 }, () => track(pool.use((n) => n)));
    await vi.advanceTimersByTimeAsync(500); // the old create times out
    expect(early.error).toBeInstanceOf(TimeoutError);
    expect(burst.filter((call) => call.state === 'rejected')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(100); // backoff, then fresh creates
    await flush();
    expect(burst.every((call) => call.state === 'fulfilled')).toBe(true);
    expect(pool.stats().createFailures).toBe(1);
    await pool.close();
  });

  it('validate on borrow only after validateAfterIdle; a late or false answer destroys', async () => {
    const validations: number[] = [];
    let answer: 'yes' | 'no' | 'hang' = 'yes';
    const { options, log } = factory();
    const pool = new Pool<Conn>({
      ...options,
      max: 1,
      validateAfterIdle: 1000,
      validateTimeout: 50,
      validate: (conn) => {
        validations.push(conn.id);
        if (answer === 'hang') return new Promise<boolean>(() => {});
        return answer === 'yes';
      },
    });
    (await pool.acquire()).release();
    (await pool.acquire()).release(); // idle 0 ms: no validation
    expect(validations).toEqual([]);
    vi.advanceTimersByTime(1001);
    (await pool.acquire()).release();
    expect(validations).toEqual([1]);
    vi.advanceTimersByTime(1001);
    answer = 'no';
    const lease = await pool.acquire();
    expect(lease.resource.id).toBe(2); // 1 was invalid: destroyed, replaced
    lease.release();
    vi.advanceTimersByTime(1001);
    answer = 'hang';
    const late = track(pool.acquire());
    await vi.advanceTimersByTimeAsync(50);
    expect(log.destroyed).toEqual([1, 2]);
    expect(late.value?.resource.id).toBe(3);
    late.value?.release();
    await closed(pool);
  });

  it('destroy that hangs does not hang close', async () => {
    const errors: unknown[] = [];
    const pool = new Pool<number>({ create: () => 1, destroy: () => new Promise(() => {}), destroyTimeout: 200 });
    pool.on('destroyError', ({ error }) => errors.push(error));
    (await pool.acquire()).release();
    const closing = track(pool.close());
    await vi.advanceTimersByTimeAsync(199);
    expect(closing.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(closing.state).toBe('fulfilled');
    expect((errors[0] as Error).message).toBe('Pool destroy timed out after 200 ms');
  });
});

describe('Pool: lifetimes', () => {
  it('idle resources above min are destroyed after idleTimeout', async () => {
    const { options, log } = factory();
    const pool = new Pool<Conn>({ ...options, min: 1, max: 3, idleTimeout: 1000 });
    const leases = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    for (const lease of leases) lease.release();
    expect(pool.stats().idle).toBe(3);
    await vi.advanceTimersByTimeAsync(999);
    expect(pool.stats().idle).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(pool.stats()).toMatchObject({ idle: 1, size: 1 });
    expect(log.destroyed).toHaveLength(2);
    await closed(pool);
  });

  it('max lifetime with jitter retires resources at different times, idle or on return', async () => {
    const { options, log } = factory();
    const randoms = [0, 1 - Number.EPSILON];
    const pool = new Pool<Conn>({
      ...options,
      max: 2,
      maxLifetime: 10_000,
      lifetimeJitter: 0.1,
      idleTimeout: Number.POSITIVE_INFINITY,
      random: () => randoms.shift() ?? 0,
    });
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
    b?.release();
    // b's lifetime is 10 000 x (1 - 0.1 x ~1) = 9 000 ms; a's is 10 000.
    await vi.advanceTimersByTimeAsync(9000);
    expect(log.destroyed).toEqual([2]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(log.destroyed).toEqual([2]); // a is borrowed: retired when it comes back
    a?.release();
    expect(log.destroyed).toEqual([2, 1]);
    await closed(pool);
  });

  it('a resource is retired after maxUses borrows', async () => {
    const { options, log } = factory();
    const pool = new Pool<Conn>({ ...options, max: 1, maxUses: 2 });
    for (let i = 0; i < 5; i++) (await pool.acquire()).release();
    expect(log.destroyed).toEqual([1, 2]);
    await closed(pool);
  });

  it('keep-alive validates idle resources and replaces broken ones (down to min)', async () => {
    const { options, log } = factory();
    const broken = new Set<number>();
    const pool = new Pool<Conn>({
      ...options,
      min: 2,
      max: 2,
      keepAliveInterval: 5000,
      validate: (conn) => !broken.has(conn.id),
    });
    await flush();
    broken.add(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(log.destroyed).toEqual([1]);
    expect(pool.stats()).toMatchObject({ size: 2, idle: 2, created: 3 });
    await closed(pool);
  });

  it('reset runs on return; a reset that throws destroys the resource', async () => {
    const { options, log } = factory();
    let fail = false;
    const resets: number[] = [];
    const pool = new Pool<Conn>({
      ...options,
      max: 1,
      reset: (conn) => {
        resets.push(conn.id);
        if (fail) throw new Error('ROLLBACK failed');
      },
    });
    (await pool.acquire()).release();
    await flush();
    fail = true;
    (await pool.acquire()).release();
    await flush();
    expect(resets).toEqual([1, 1]);
    expect(log.destroyed).toEqual([1]);
    await closed(pool);
  });

  it('leak detection reports a lease held too long, with the borrower’s stack', async () => {
    const { options } = factory();
    const leaks: { heldFor: number; stack: string }[] = [];
    const pool = new Pool<Conn>({ ...options, leakDetectionThreshold: 2000 });
    pool.on('leak', ({ heldFor, stack }) => leaks.push({ heldFor, stack }));
    const lease = await pool.acquire();
    await vi.advanceTimersByTimeAsync(2000);
    expect(leaks).toHaveLength(1);
    expect(leaks[0]?.heldFor).toBe(2000);
    expect(leaks[0]?.stack).toMatch(/Pool lease acquired here[\s\S]*pool\.test\.ts/);
    lease.release();
    expect(pool.stats().leaks).toBe(1);
    await closed(pool);
  });
});

describe('Pool: close and destroy', () => {
  it('close rejects waiters, waits for loans, destroys everything; acquire after close rejects', async () => {
    const { options, log } = factory();
    const pool = new Pool<Conn>({ ...options, max: 1 });
    const held = await pool.acquire();
    const waiting = pool.acquire();
    const closing = track(pool.close());
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    await flush();
    expect(closing.state).toBe('pending');
    held.release();
    await flush();
    expect(closing.state).toBe('fulfilled');
    expect(log.destroyed).toEqual([1]);
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'SLUICE_CLOSED' });
    expect(pool.close()).toBe(pool.close()); // idempotent
  });

  it('destroy() after close() destroys what is still borrowed; destroy() alone does it at once', async () => {
    const { options, log } = factory();
    const pool = new Pool<Conn>({ ...options, max: 2 });
    const lease = await pool.acquire();
    const closing = track(pool.close());
    await vi.advanceTimersByTimeAsync(1000);
    expect(closing.state).toBe('pending'); // close waits for the lease
    expect(() => (pool.close as (o: unknown) => unknown)({ timeout: 5 })).toThrow(
      'Pool.close() takes no options (close({ timeout }) was removed): call destroy() when your deadline passes, or register the pool with Shutdown({ gracePeriod })',
    );
    const destroying = track(pool.destroy('deadline'));
    await flush();
    expect(destroying.state).toBe('fulfilled');
    expect(closing.state).toBe('fulfilled');
    expect(log.destroyed).toEqual([1]);
    lease.release(); // revoked: nothing happens
    expect(pool.stats()).toMatchObject({ size: 0, destroyed: 1 });

    const other = new Pool<Conn>({ ...factory().options, max: 1 });
    const held = await other.acquire();
    await other.destroy();
    expect(held.resource.alive).toBe(false);
  });

  it('validates its options', () => {
    expect(() => new Pool({ create: () => 1, min: 3, max: 2 })).toThrow(
      new RangeError('Expected `min` to be at most `max` (2), got `3` (number)'),
    );
    expect(() => new Pool({ create: 1 as never })).toThrow('Expected `create` to be a function, got `1` (number)');
    expect(() => new Pool({ create: () => 1, lifetimeJitter: 1 })).toThrow(
      'Expected `lifetimeJitter` to be a number in [0, 1), got `1` (number)',
    );
  });
});
