import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClosedError, QueueFullError, Semaphore, SluiceError, TimeoutError } from '../src/index.js';
import { abortListeners, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('Semaphore', () => {
  it('admits up to the capacity and queues the rest', async () => {
    const sem = new Semaphore(2);
    const a = await sem.acquire();
    const b = await sem.acquire();
    const c = track(sem.acquire());
    await flush();
    expect(c.state).toBe('pending');
    expect(sem.inUse).toBe(2);
    expect(sem.available).toBe(0);
    expect(sem.waiting).toBe(1);
    a.release();
    await flush();
    expect(c.state).toBe('fulfilled');
    b.release();
    c.value?.release();
    expect(sem.inUse).toBe(0);
  });

  it('releasing twice is a no-op, never extra capacity', async () => {
    const sem = new Semaphore(1);
    const p = await sem.acquire();
    p.release();
    p.release();
    expect(sem.inUse).toBe(0);
    expect(p.released).toBe(true);
    const q = await sem.acquire();
    p.release();
    expect(sem.tryAcquire()).toBeUndefined();
    q.release();
  });

  it('releases through `using`', async () => {
    const sem = new Semaphore(1);
    {
      using _permit = await sem.acquire();
      expect(sem.inUse).toBe(1);
    }
    expect(sem.inUse).toBe(0);
  });

  it('serves weighted requests strictly FIFO: a heavy head is not overtaken', async () => {
    const sem = new Semaphore(3);
    const held = await sem.acquire({ weight: 2 });
    const heavy = track(sem.acquire({ weight: 3 }));
    const light = track(sem.acquire({ weight: 1 }));
    await flush();
    // 1 unit is free and `light` would fit, but `heavy` is ahead of it.
    expect(heavy.state).toBe('pending');
    expect(light.state).toBe('pending');
    expect(sem.tryAcquire()).toBeUndefined();
    held.release();
    await flush();
    expect(heavy.state).toBe('fulfilled');
    expect(light.state).toBe('pending');
    heavy.value?.release();
    await flush();
    expect(light.state).toBe('fulfilled');
    light.value?.release();
  });

  it('wakes lighter waiters when a heavy head leaves the queue', async () => {
    const sem = new Semaphore(3);
    const held = await sem.acquire({ weight: 2 });
    const controller = new AbortController();
    const heavy = track(sem.acquire({ weight: 3, signal: controller.signal }));
    const light = track(sem.acquire({ weight: 1 }));
    controller.abort();
    await flush();
    expect(heavy.state).toBe('rejected');
    expect(light.state).toBe('fulfilled');
    held.release();
    light.value?.release();
  });

  it('serves higher priority first, FIFO among equals', async () => {
    const sem = new Semaphore(1);
    const first = await sem.acquire();
    const order: string[] = [];
    const wait = (name: string, priority: number) =>
      sem.acquire({ priority }).then((permit) => {
        order.push(name);
        permit.release();
      });
    const all = Promise.all([wait('low1', 0), wait('high1', 5), wait('low2', 0), wait('high2', 5), wait('mid', 1)]);
    first.release();
    await all;
    expect(order).toEqual(['high1', 'high2', 'mid', 'low1', 'low2']);
  });

  it('rejects a weight above the capacity with a RangeError naming it', () => {
    const sem = new Semaphore(2);
    expect(() => sem.acquire({ weight: 3 })).toThrow(RangeError);
    expect(() => sem.acquire({ weight: 3 })).toThrow(/`weight`.*capacity 2.*`3`/);
    expect(() => sem.tryAcquire({ weight: 3 })).toThrow(RangeError);
  });

  it.each([
    [0, RangeError],
    [-1, RangeError],
    [Number.NaN, RangeError],
    [1.5, RangeError],
    ['2', TypeError],
  ])('rejects permits %s with %s', (value, type) => {
    expect(() => new Semaphore(value as number)).toThrow(type);
    expect(() => new Semaphore(value as number)).toThrow(/`permits`/);
  });

  it('rejects bad acquire options naming the option and value', () => {
    const sem = new Semaphore(2);
    expect(() => sem.acquire({ timeout: -1 })).toThrow(/`timeout`.*`-1`/);
    expect(() => sem.acquire({ weight: 0 })).toThrow(/`weight`.*`0`/);
    expect(() => sem.acquire({ priority: Number.NaN })).toThrow(/`priority`/);
    expect(() => sem.acquire({ signal: {} as AbortSignal })).toThrow(/`signal`/);
  });

  it('tryAcquire never jumps waiters', async () => {
    const sem = new Semaphore(2);
    const a = await sem.acquire({ weight: 1 });
    const waiter = track(sem.acquire({ weight: 2 }));
    expect(sem.tryAcquire()).toBeUndefined();
    a.release();
    await flush();
    expect(waiter.state).toBe('fulfilled');
    waiter.value?.release();
    const p = sem.tryAcquire();
    expect(p).toBeDefined();
    p?.release();
  });

  it('abort removes a waiter, rejects with the reason and leaves no listener', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const controller = new AbortController();
    const waiter = track(sem.acquire({ signal: controller.signal }));
    expect(abortListeners(controller.signal)).toBe(1);
    const reason = new Error('stop');
    controller.abort(reason);
    await flush();
    expect(waiter.state).toBe('rejected');
    expect(waiter.error).toBe(reason);
    expect(sem.waiting).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    held.release();
    expect(sem.inUse).toBe(0);
  });

  it('removes the abort listener once granted', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const controller = new AbortController();
    const waiter = sem.acquire({ signal: controller.signal });
    held.release();
    const permit = await waiter;
    expect(abortListeners(controller.signal)).toBe(0);
    controller.abort();
    expect(permit.released).toBe(false);
    permit.release();
  });

  it('rejects at once for an already aborted signal', async () => {
    const sem = new Semaphore(1);
    await expect(sem.acquire({ signal: AbortSignal.abort('gone') })).rejects.toBe('gone');
    expect(sem.stats().aborted).toBe(1);
  });

  it('times out a waiter with live state in the message', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const waiter = track(sem.acquire({ timeout: 500 }));
    const other = sem.acquire(); // counted in the message: the one that timed out has left
    vi.advanceTimersByTime(499);
    await flush();
    expect(waiter.state).toBe('pending');
    vi.advanceTimersByTime(1);
    await flush();
    expect(waiter.state).toBe('rejected');
    expect(waiter.error).toBeInstanceOf(TimeoutError);
    expect(waiter.error).toBeInstanceOf(SluiceError);
    expect((waiter.error as TimeoutError).code).toBe('SLUICE_TIMEOUT');
    expect((waiter.error as Error).message).toBe(
      'Semaphore acquire timed out after 500 ms (weight 1; 1/1 in use, 1 waiting)',
    );
    expect(sem.waiting).toBe(1);
    held.release();
    (await other).release();
  });

  it('clears the timeout timer when granted', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const waiter = sem.acquire({ timeout: 1000 });
    expect(vi.getTimerCount()).toBe(1);
    held.release();
    (await waiter).release();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('timeout 0 means now or fail', async () => {
    const sem = new Semaphore(1);
    const p = await sem.acquire({ timeout: 0 });
    await expect(sem.acquire({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
    p.release();
  });

  it('bounds the wait queue with maxWaiting', async () => {
    const sem = new Semaphore(1, { maxWaiting: 1 });
    const held = await sem.acquire();
    const waiter = sem.acquire();
    const error = await sem.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).message).toBe('Semaphore queue is full (1/1 waiting; 1/1 in use)');
    held.release();
    (await waiter).release();
  });

  it('resize grows at once and shrinks without revoking', async () => {
    const sem = new Semaphore(1);
    const a = await sem.acquire();
    const b = track(sem.acquire());
    const c = track(sem.acquire());
    sem.resize(3);
    await flush();
    expect(b.state).toBe('fulfilled');
    expect(c.state).toBe('fulfilled');
    sem.resize(1);
    expect(sem.inUse).toBe(3);
    expect(sem.available).toBe(0);
    const d = track(sem.acquire());
    a.release();
    b.value?.release();
    await flush();
    expect(d.state).toBe('pending');
    c.value?.release();
    await flush();
    expect(d.state).toBe('fulfilled');
    d.value?.release();
  });

  it('resize rejects waiters that could never fit', async () => {
    const sem = new Semaphore(4);
    const held = await sem.acquire({ weight: 4 });
    const heavy = track(sem.acquire({ weight: 3 }));
    const light = track(sem.acquire({ weight: 1 }));
    sem.resize(2);
    await flush();
    expect(heavy.state).toBe('rejected');
    expect(heavy.error).toBeInstanceOf(RangeError);
    expect(light.state).toBe('pending');
    held.release();
    await flush();
    expect(light.state).toBe('fulfilled');
    light.value?.release();
  });

  it('close rejects waiters, refuses new ones and resolves when holders release', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const controller = new AbortController();
    const waiter = track(sem.acquire({ signal: controller.signal, timeout: 1000 }));
    const closed = track(sem.destroy('shutting down'));
    await flush();
    expect(waiter.state).toBe('rejected');
    expect(waiter.error).toBeInstanceOf(ClosedError);
    expect((waiter.error as ClosedError).code).toBe('SLUICE_CLOSED');
    expect((waiter.error as ClosedError).cause).toBe('shutting down');
    expect(abortListeners(controller.signal)).toBe(0);
    await expect(sem.acquire()).rejects.toBeInstanceOf(ClosedError);
    expect(sem.tryAcquire()).toBeUndefined();
    expect(closed.state).toBe('pending');
    held.release();
    await flush();
    expect(closed.state).toBe('fulfilled');
    await sem.close(); // idempotent
  });

  it('run releases on success and on failure and passes the signal', async () => {
    const sem = new Semaphore(1);
    const controller = new AbortController();
    await expect(sem.run(({ signal }) => signal === controller.signal, { signal: controller.signal })).resolves.toBe(
      true,
    );
    await expect(
      sem.run(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(sem.inUse).toBe(0);
    expect(() => sem.run(42 as never)).toThrow(/`fn`/);
  });

  it('does not pile up tombstones under an abort storm', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const live = track(sem.acquire());
    for (let i = 0; i < 10_000; i++) {
      const controller = new AbortController();
      const p = sem.acquire({ signal: controller.signal });
      p.catch(() => {});
      controller.abort();
    }
    expect(sem.waiting).toBe(1);
    held.release();
    await flush();
    expect(live.state).toBe('fulfilled');
    live.value?.release();
  });

  it('counts what happened in stats()', async () => {
    const sem = new Semaphore(1);
    const p = await sem.acquire();
    const t = sem.acquire({ timeout: 10 }).catch(() => {});
    vi.advanceTimersByTime(10);
    await t;
    p.release();
    expect(sem.stats()).toEqual({
      capacity: 1,
      inUse: 0,
      running: 0,
      waiting: 0,
      admitted: 1,
      timedOut: 1,
      aborted: 0,
      rejected: 0,
    });
  });
});
