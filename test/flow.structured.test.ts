import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher, dedupe, GroupCancelledError, isTimeout, TaskGroup, TimeoutError } from '../src/index.js';
import { abortListeners, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

describe('TaskGroup', () => {
  it('fail fast: the first failure aborts the siblings; the group waits for all, then rejects with it', async () => {
    const group = new TaskGroup<string>();
    const finished: string[] = [];
    const user = group.spawn(async ({ signal }) => {
      await sleep(100, signal);
      finished.push('user');
      return 'user';
    });
    const payment = group.spawn(async () => {
      await sleep(10);
      throw new Error('payment down');
    });
    const inventory = group.spawn(async ({ signal }) => {
      try {
        await sleep(200, signal);
      } finally {
        finished.push('inventory cleaned up');
      }
      return 'inventory';
    });
    const outcome = track(group.wait());
    await vi.advanceTimersByTimeAsync(10);
    await flush();
    expect((outcome.error as Error).message).toBe('payment down');
    expect(finished).toEqual(['inventory cleaned up']);
    await expect(user).rejects.toBeInstanceOf(GroupCancelledError);
    await expect(payment).rejects.toThrow('payment down');
    await expect(inventory).rejects.toBeInstanceOf(GroupCancelledError);
    expect(group.signal.aborted).toBe(true);
  });

  it('settle mode runs everything; results in spawn order', async () => {
    const group = new TaskGroup({ mode: 'settle' });
    group.spawn(async () => 1);
    group
      .spawn(async () => {
        throw new Error('two');
      })
      .catch(() => {});
    const results = await group;
    expect(results).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: new Error('two') },
    ]);
  });

  it('limits concurrency; `await using` cancels what is left at the end of the scope', async () => {
    let running = 0;
    let max = 0;
    const group = new TaskGroup<number>({ concurrency: 2 });
    for (let i = 0; i < 6; i++) {
      group.spawn(async ({ signal }) => {
        running++;
        max = Math.max(max, running);
        await sleep(10, signal);
        running--;
        return i;
      });
    }
    const all = track(group.wait());
    await vi.advanceTimersByTimeAsync(30);
    expect(all.value).toEqual([0, 1, 2, 3, 4, 5]);
    expect(max).toBe(2);

    const controller = new AbortController();
    let cleaned = false;
    {
      await using scoped = new TaskGroup({ signal: controller.signal });
      scoped
        .spawn(async ({ signal }) => {
          try {
            await sleep(1000, signal);
          } finally {
            cleaned = true;
          }
        })
        .catch(() => {});
    }
    expect(cleaned).toBe(true);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('runTimeout: at the deadline the signal aborts and the group rejects at once, even while a child ignores its signal', async () => {
    const group = new TaskGroup<string>({ runTimeout: 1000 });
    let seen: unknown;
    let release = () => {};
    // This child never reads its signal: without a deadline it would hold the group forever.
    const stubborn = group.spawn(() => new Promise<string>((resolve) => (release = () => resolve('late'))));
    const polite = group.spawn(async ({ signal }) => {
      try {
        await sleep(5000, signal);
        return 'polite';
      } catch (error) {
        seen = error;
        throw error;
      }
    });
    const outcome = track(group.wait());
    await vi.advanceTimersByTimeAsync(999);
    expect(outcome.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(isTimeout(outcome.error)).toBe(true);
    expect((outcome.error as Error).message).toBe(
      'The task group ran past its runTimeout of 1000 ms (2 children still running)',
    );
    expect(group.signal.reason).toBe(outcome.error);
    await expect(polite).rejects.toBe(outcome.error);
    expect(seen).toBe(outcome.error);
    release();
    await expect(stubborn).resolves.toBe('late');
  });

  it('runTimeout: a group that ends first returns its results and leaves no timer; settle mode rejects at the deadline too', async () => {
    const quick = new TaskGroup<number>({ runTimeout: 1000 });
    quick.spawn(async () => {
      await sleep(10);
      return 1;
    });
    const results = track(quick.wait());
    await vi.advanceTimersByTimeAsync(10);
    expect(results.value).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
    const settle = new TaskGroup({ mode: 'settle', runTimeout: 50 });
    settle.spawn(({ signal }) => sleep(100, signal));
    const outcome = track(settle.wait());
    await vi.advanceTimersByTimeAsync(50);
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(() => new TaskGroup({ runTimeout: -1 })).toThrow(
      new RangeError('Expected `runTimeout` to be a number of milliseconds >= 0, got `-1` (number)'),
    );
    expect(() => new TaskGroup({ runTimeout: '5s' as never })).toThrow(TypeError);
  });

  it('an outer signal cancels the group and rejects with its reason', async () => {
    const controller = new AbortController();
    const group = new TaskGroup({ signal: controller.signal });
    group.spawn(({ signal }) => sleep(1000, signal)).catch(() => {});
    controller.abort(new Error('request cancelled'));
    await expect(group.wait()).rejects.toThrow('request cancelled');
    expect(() => group.spawn(() => 1)).toThrow('TaskGroup is closed');
  });
});

describe('dedupe (singleflight)', () => {
  it('runTimeout: a hung call rejects every caller sharing it and is forgotten; the next call runs anew', async () => {
    let runs = 0;
    let finishLate = (_value: string) => {};
    const load = dedupe(
      (id: number) => {
        runs++;
        if (runs === 1) return new Promise<string>((resolve) => (finishLate = resolve)); // hangs
        return sleep(10).then(() => `fresh ${id}`);
      },
      { runTimeout: 1000, ttl: 5000 },
    );
    const callers = [track(load(1)), track(load(1)), track(load(1))];
    await vi.advanceTimersByTimeAsync(999);
    expect(callers.map((c) => c.state)).toEqual(['pending', 'pending', 'pending']);
    await vi.advanceTimersByTimeAsync(1);
    for (const caller of callers) {
      expect(caller.error).toBeInstanceOf(TimeoutError);
      expect((caller.error as Error).message).toBe('The deduplicated call ran past its runTimeout of 1000 ms');
    }
    expect(load.size).toBe(0);
    const next = track(load(1));
    expect(runs).toBe(2);
    finishLate('late'); // the hung call's answer comes too late to matter
    await vi.advanceTimersByTimeAsync(10);
    expect(next.value).toBe('fresh 1');
    // A call that ends in time leaves its TTL timer only, and the cached value is served.
    expect(await load(1)).toBe('fresh 1');
    expect(runs).toBe(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(load.size).toBe(0);
    expect(() => dedupe(() => 1, { runTimeout: -5 })).toThrow(RangeError);
  });

  it('with({ signal, timeout }): a caller leaves a shared call on its own; the others and the cache are untouched', async () => {
    let runs = 0;
    const load = dedupe(
      async (id: number) => {
        runs++;
        await sleep(100);
        return `user ${id}`;
      },
      { ttl: 1000 },
    );
    const gone = new AbortController();
    const leaving = track(load.with({ signal: gone.signal }, 1));
    const impatient = track(load.with({ timeout: 50 }, 1));
    const staying = track(load(1));
    expect(runs).toBe(1);
    gone.abort(new Error('client went away'));
    await flush();
    expect((leaving.error as Error).message).toBe('client went away');
    expect(abortListeners(gone.signal)).toBe(0);
    await vi.advanceTimersByTimeAsync(50);
    expect(impatient.error).toBeInstanceOf(TimeoutError);
    expect((impatient.error as Error).message).toBe('The deduplicated call did not answer within its timeout of 50 ms');
    expect(staying.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(50);
    expect(staying.value).toBe('user 1');
    expect(await load.with({ timeout: 10 }, 1)).toBe('user 1'); // cached: answered at once
    // An aborted signal never starts the call.
    const aborted = AbortSignal.abort(new Error('already gone'));
    await expect(load.with({ signal: aborted }, 2)).rejects.toThrow('already gone');
    expect(runs).toBe(1);
    expect(() => load.with({ timeout: -1 }, 3)).toThrow(/`timeout`/);
    expect(() => load.with(null as never, 3)).toThrow('Expected `options` to be an object');
    await vi.advanceTimersByTimeAsync(1000); // the cached value expires
  });

  it('1,000 concurrent identical calls run the fetcher once; who shared is reported', async () => {
    let runs = 0;
    const load = dedupe(async (id: number) => {
      runs++;
      await sleep(50);
      return { id };
    });
    const calls = Array.from({ length: 1000 }, () => load.withInfo(7));
    await vi.advanceTimersByTimeAsync(50);
    const results = await Promise.all(calls);
    expect(runs).toBe(1);
    expect(results.filter((r) => !r.shared)).toHaveLength(1);
    expect(new Set(results.map((r) => r.value)).size).toBe(1);
    expect(load.size).toBe(0); // no TTL: forgotten once settled
  });

  it('caches successes for ttl, never failures; forget() drops a key', async () => {
    let runs = 0;
    let fail = true;
    const load = dedupe(
      async (key: string) => {
        runs++;
        if (fail) throw new Error('flaky');
        return key.toUpperCase();
      },
      { ttl: 1000 },
    );
    await expect(load('a')).rejects.toThrow('flaky');
    fail = false;
    expect(await load('a')).toBe('A'); // the failure was not kept
    expect(await load('a')).toBe('A');
    expect(runs).toBe(2);
    vi.advanceTimersByTime(1000);
    expect(await load('a')).toBe('A');
    expect(runs).toBe(3);
    load.forget('a');
    expect(await load('a')).toBe('A');
    expect(runs).toBe(4);
    vi.advanceTimersByTime(1000);
  });
});

describe('Batcher', () => {
  it('collects the loads of one tick into one batch, one result per key, per-key errors', async () => {
    const batches: number[][] = [];
    const users = new Batcher<number, string>(async (ids) => {
      batches.push(ids);
      return ids.map((id) => (id === 3 ? new Error('no user 3') : `user-${id}`));
    });
    const [a, b, again] = [users.load(1), users.load(2), users.load(1)];
    const missing = users.load(3);
    expect(await Promise.all([a, b, again])).toEqual(['user-1', 'user-2', 'user-1']);
    await expect(missing).rejects.toThrow('no user 3');
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('maxBatch sends full batches at once; maxWait holds a window open', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher<string, number>(
      (keys) => {
        batches.push(keys);
        return new Map(keys.map((k) => [k, k.length]));
      },
      { maxBatch: 2, maxWait: 10 },
    );
    const first = batcher.loadMany(['a', 'bb', 'ccc']);
    await flush();
    expect(batches).toEqual([['a', 'bb']]); // full: sent without waiting
    await vi.advanceTimersByTimeAsync(9);
    expect(batches).toHaveLength(1); // 'ccc' waits for company, up to 10 ms
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([['a', 'bb'], ['ccc']]);
    expect(await first).toEqual([1, 2, 3]);
    expect(batcher.batches).toBe(2);
  });

  it('a batch function that throws or returns the wrong shape rejects the whole batch', async () => {
    const broken = new Batcher<number, number>(() => [1]);
    await expect(broken.loadMany([1, 2])).rejects.toThrow('must return an array of 2 results');
    const throwing = new Batcher<number, number>(() => {
      throw new Error('db down');
    });
    await expect(throwing.load(1)).rejects.toThrow('db down');
  });
});
