import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ClosedError,
  QueueFullError,
  type RateLimit,
  RateLimiter,
  rateLimitHeaders,
  TimeoutError,
  throttle,
} from '../src/index.js';
import { abortListeners, fakeNow, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

/** How many of `n` immediate tries are admitted. */
function admitNow(limiter: RateLimiter, n: number, key?: string): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (limiter.tryAcquire({ key }) !== undefined) admitted++;
  return admitted;
}

describe('GCRA (default)', () => {
  it('"10 per second" by default: never more than 10 in any second, however fast the calls come (a burst of limit admitted 19)', async () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000 } });
    expect(limiter.limits[0]).toMatchObject({ algorithm: 'gcra', burst: 1 });
    const admitted: number[] = [];
    // Callers as fast as admission allows for 5 s: a wait-free caller every ms.
    for (let t = 0; t < 5000; t++) {
      if (limiter.tryAcquire() !== undefined) admitted.push(t);
      vi.advanceTimersByTime(1);
    }
    let busiest = 0;
    for (let i = 0, j = 0; j < admitted.length; j++) {
      while ((admitted[j] as number) - (admitted[i] as number) >= 1000) i++;
      busiest = Math.max(busiest, j - i + 1);
    }
    expect(busiest).toBe(10);
    expect(admitted).toHaveLength(50);
    // A burst is opt-in, and its bound is limit + burst - 1.
    const bursty = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 10 } });
    expect(admitNow(bursty, 20)).toBe(10);
    vi.advanceTimersByTime(900);
    expect(admitNow(bursty, 20)).toBe(9); // 19 within one second
  });

  it('admits a full burst, then one per emission interval, exactly at the edge', () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 10 } });
    expect(admitNow(limiter, 20)).toBe(10);
    expect(limiter.consume()).toMatchObject({ allowed: false, retryAfter: 100, remaining: 0, limit: 10 });
    vi.advanceTimersByTime(99);
    expect(admitNow(limiter, 5)).toBe(0);
    vi.advanceTimersByTime(1);
    expect(admitNow(limiter, 5)).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(admitNow(limiter, 20)).toBe(10);
  });

  it('burst 1 spaces calls evenly: never more than `limit` in any window of `interval`', () => {
    const limiter = new RateLimiter({ limits: { limit: 4, interval: 1000, burst: 1 } });
    const admittedAt: number[] = [];
    for (let t = 0; t < 3000; t += 50) {
      if (limiter.tryAcquire()) admittedAt.push(t);
      vi.advanceTimersByTime(50);
    }
    expect(admittedAt).toEqual([0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500, 2750]);
  });

  it('weights consume several units; a weight above the burst is a RangeError', () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 10 } });
    expect(limiter.tryAcquire({ weight: 6 })?.weight).toBe(6);
    expect(limiter.tryAcquire({ weight: 5 })).toBeUndefined();
    expect(limiter.consume({ weight: 5 })).toMatchObject({ allowed: false, retryAfter: 100, remaining: 4 });
    expect(limiter.tryAcquire({ weight: 4 })?.weight).toBe(4);
    expect(() => limiter.tryAcquire({ weight: 11 })).toThrow(
      new RangeError('Expected `weight` to be at most 10 (the smallest burst of the limits), got `11` (number)'),
    );
  });

  it('remaining and resetAfter describe the bucket', () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 10 } });
    expect(limiter.consume({ weight: 3 })).toEqual({
      allowed: true,
      retryAfter: 0,
      remaining: 7,
      limit: 10,
      resetAfter: 300,
    });
    vi.advanceTimersByTime(150);
    expect(limiter.consume()).toEqual({ allowed: true, retryAfter: 0, remaining: 7, limit: 10, resetAfter: 250 });
  });

  it('a fractional emission interval (1000/3 ms) refills exactly at the edge', () => {
    const limiter = new RateLimiter({ limits: { limit: 3, interval: 1000, burst: 3 } });
    const perRound: number[] = [];
    for (let round = 0; round < 30; round++) {
      perRound.push(admitNow(limiter, 5));
      vi.advanceTimersByTime(999);
      expect(limiter.tryAcquire({ weight: 3 })).toBeUndefined();
      vi.advanceTimersByTime(1);
    }
    expect(perRound).toEqual(Array.from({ length: 30 }, () => 3));
  });
});

describe('token bucket', () => {
  it('refills continuously at limit/interval up to burst', () => {
    const limiter = new RateLimiter({ limits: { limit: 5, interval: 1000, burst: 2, algorithm: 'token-bucket' } });
    expect(admitNow(limiter, 5)).toBe(2);
    expect(limiter.consume()).toMatchObject({ allowed: false, retryAfter: 200 });
    vi.advanceTimersByTime(199);
    expect(admitNow(limiter, 5)).toBe(0);
    vi.advanceTimersByTime(1);
    expect(admitNow(limiter, 5)).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(admitNow(limiter, 5)).toBe(2);
  });
});

describe('sliding-window log', () => {
  it('never more than `limit` in any window: the window edge is exact', () => {
    const limiter = new RateLimiter({ limits: { limit: 5, interval: 1000, algorithm: 'sliding-window' } });
    vi.advanceTimersByTime(900);
    expect(admitNow(limiter, 3)).toBe(3); // t = 900
    vi.advanceTimersByTime(100);
    expect(admitNow(limiter, 5)).toBe(2); // t = 1000: a fixed window would allow 5 more here
    expect(limiter.consume()).toMatchObject({ allowed: false, retryAfter: 900 });
    vi.advanceTimersByTime(899);
    expect(admitNow(limiter, 5)).toBe(0); // t = 1899: the t = 900 calls are still in the window
    vi.advanceTimersByTime(1);
    expect(admitNow(limiter, 5)).toBe(3); // t = 1900: they left
  });

  it('a weighted call waits until enough weight has left the window', () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, algorithm: 'sliding-window' } });
    limiter.tryAcquire({ weight: 4 }); // t = 0
    vi.advanceTimersByTime(100);
    limiter.tryAcquire({ weight: 4 }); // t = 100
    vi.advanceTimersByTime(100);
    expect(limiter.consume({ weight: 7 })).toMatchObject({ allowed: false, retryAfter: 900, remaining: 2 });
    expect(limiter.consume({ weight: 2 })).toMatchObject({ allowed: true, remaining: 0, resetAfter: 1000 });
  });

  it('rejects `burst`, which it does not use', () => {
    expect(
      () => new RateLimiter({ limits: { limit: 5, interval: 1000, algorithm: 'sliding-window', burst: 2 } }),
    ).toThrow(/`limits.burst` applies to 'gcra' and 'token-bucket'/);
  });
});

describe('fixed window', () => {
  it('at most `limit` per window; a window starts at the first admission after the last one ended', () => {
    const limiter = new RateLimiter({ limits: { limit: 3, interval: 1000, algorithm: 'fixed-window' } });
    vi.advanceTimersByTime(900);
    expect(admitNow(limiter, 5)).toBe(3); // t = 900 opens the window [900, 1900)
    expect(limiter.consume()).toMatchObject({ allowed: false, retryAfter: 1000, remaining: 0, resetAfter: 1000 });
    vi.advanceTimersByTime(999);
    expect(admitNow(limiter, 5)).toBe(0); // t = 1899: still the first window
    vi.advanceTimersByTime(1);
    expect(admitNow(limiter, 2)).toBe(2); // t = 1900: a new window (up to 2 x limit across an edge)
    expect(limiter.consume({ weight: 2 })).toMatchObject({ allowed: false, retryAfter: 1000, remaining: 1 });
  });

  it('waiting calls start as windows open, in order', async () => {
    const limiter = new RateLimiter({ limits: { limit: 2, interval: 1000, algorithm: 'fixed-window' } });
    const t0 = fakeNow();
    const starts: number[] = [];
    const calls = Array.from({ length: 5 }, () => limiter.run(() => starts.push(fakeNow() - t0)));
    await vi.runAllTimersAsync();
    await Promise.all(calls);
    expect(starts).toEqual([0, 0, 1000, 1000, 2000]);
  });

  it('rejects `burst`, which it does not use', () => {
    expect(
      () => new RateLimiter({ limits: { limit: 5, interval: 1000, algorithm: 'fixed-window', burst: 2 } }),
    ).toThrow(
      "`limits.burst` applies to 'gcra' and 'token-bucket'; a 'fixed-window' limit's burst is its `limit`, got burst `2` (number)",
    );
  });
});

describe('several limits at once', () => {
  const limits: RateLimit[] = [
    { limit: 10, interval: 1000, burst: 10 },
    { limit: 15, interval: 60_000, algorithm: 'sliding-window' },
  ];

  it('a call consumes from every limit or from none', () => {
    const limiter = new RateLimiter({ limits });
    expect(admitNow(limiter, 20)).toBe(10); // the per-second limit binds
    vi.advanceTimersByTime(1000);
    expect(admitNow(limiter, 20)).toBe(5); // now the per-minute one binds
    // Refused calls took nothing from the per-second limit: it still has 5.
    expect(limiter.consume()).toMatchObject({
      allowed: false,
      retryAfter: 59_000,
      remaining: 0,
      limit: 15,
      resetAfter: 60_000, // of the tightest limit, the one the headers describe
    });
    vi.advanceTimersByTime(59_000);
    expect(admitNow(limiter, 20)).toBe(10);
  });

  it('a waiting call is admitted when the last of its limits allows it', async () => {
    const limiter = new RateLimiter({ limits });
    admitNow(limiter, 10);
    vi.advanceTimersByTime(1000);
    admitNow(limiter, 5);
    const waiting = track(limiter.acquire());
    await vi.advanceTimersByTimeAsync(58_999);
    expect(waiting.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting.state).toBe('fulfilled');
  });
});

describe('waiting', () => {
  it('serves waiters FIFO with one timer for all of them, at their predicted times', async () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 1 } });
    const order: number[] = [];
    const done = Array.from({ length: 50 }, (_, i) => limiter.acquire().then(() => order.push(i)));
    expect(vi.getTimerCount()).toBe(1);
    expect(limiter.stats().waiting).toBe(49);
    await vi.advanceTimersByTimeAsync(100 * 24);
    expect(order).toEqual(Array.from({ length: 25 }, (_, i) => i));
    await vi.advanceTimersByTimeAsync(100 * 25);
    await Promise.all(done);
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('a heavy call at the head is not overtaken by lighter ones', async () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 10 } });
    limiter.tryAcquire({ weight: 10 });
    const order: string[] = [];
    const heavy = limiter.acquire({ weight: 8 }).then(() => order.push('heavy'));
    const light = limiter.acquire({ weight: 1 }).then(() => order.push('light'));
    expect(limiter.tryAcquire()).toBeUndefined(); // never jumps the queue
    await vi.advanceTimersByTimeAsync(800);
    expect(order).toEqual(['heavy']);
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([heavy, light]);
    expect(order).toEqual(['heavy', 'light']);
  });

  it('refuses at once a call that could not be admitted within its timeout', async () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 1 } });
    limiter.tryAcquire();
    const first = limiter.acquire({ timeout: 100 }); // admitted at 100: within
    const second = limiter.acquire({ timeout: 150 }); // would be admitted at 200
    await expect(second).rejects.toThrow(
      new TimeoutError('Rate limit admission in 200 ms exceeds the timeout of 150 ms (1 waiting)'),
    );
    expect(vi.getTimerCount()).toBe(1); // the head timer only
    await vi.advanceTimersByTimeAsync(100);
    await expect(first).resolves.toBeDefined();
    expect(limiter.stats()).toMatchObject({ timedOut: 1, admitted: 2, waiting: 0 });
  });

  it('timeout 0 admits now or refuses', async () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
    await expect(limiter.acquire({ timeout: 0 })).resolves.toBeDefined();
    await expect(limiter.acquire({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('after an abort, predictions are upper bounds: a call beyond its timeout gets its own timer', async () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 1 } });
    limiter.tryAcquire();
    const controller = new AbortController();
    const a = track(limiter.acquire({ signal: controller.signal })); // at 100
    const b = track(limiter.acquire()); // at 200
    controller.abort(new Error('gone'));
    await flush();
    expect(a.state).toBe('rejected');
    expect(abortListeners(controller.signal)).toBe(0);
    // b moves up to 100; c would be predicted at 300 (stale), really 200.
    const c = track(limiter.acquire({ timeout: 250 }));
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(b.state).toBe('fulfilled');
    await vi.advanceTimersByTimeAsync(100);
    expect(c.state).toBe('fulfilled');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('aborting the head lets the next call go at once when it conforms', async () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 10 } });
    limiter.tryAcquire({ weight: 10 });
    const controller = new AbortController();
    const heavy = track(limiter.acquire({ weight: 9, signal: controller.signal }));
    const light = track(limiter.acquire({ weight: 1 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(light.state).toBe('pending');
    controller.abort();
    await flush();
    expect(heavy.state).toBe('rejected');
    expect(light.state).toBe('fulfilled');
  });

  it('an already aborted signal rejects with its reason and queues nothing', async () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
    await expect(limiter.acquire({ signal: AbortSignal.abort('why') })).rejects.toBe('why');
    expect(limiter.stats()).toMatchObject({ aborted: 1, waiting: 0 });
  });

  it('maxWaiting bounds the queue per key with SLUICE_QUEUE_FULL', async () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 }, maxWaiting: 2 });
    limiter.tryAcquire({ key: 'a' });
    const waiting = [limiter.acquire({ key: 'a' }), limiter.acquire({ key: 'a' })];
    await expect(limiter.acquire({ key: 'a' })).rejects.toThrow(
      new QueueFullError('Rate limiter queue is full (2/2 waiting for key `a` (string))'),
    );
    await expect(limiter.acquire({ key: 'b' })).resolves.toBeDefined();
    await vi.advanceTimersByTimeAsync(2000);
    await Promise.all(waiting);
  });

  it('consume while calls wait says when this call would be admitted behind them', () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 1 } });
    limiter.tryAcquire();
    const waiters = [limiter.acquire(), limiter.acquire()];
    expect(limiter.consume()).toMatchObject({ allowed: false, retryAfter: 300, remaining: 0 });
    return limiter.close().then(() => Promise.allSettled(waiters));
  });

  it('close rejects waiting calls, clears the timer and refuses later calls', async () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
    limiter.tryAcquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    await limiter.destroy('shutdown');
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    await expect(waiting).rejects.toMatchObject({ cause: 'shutdown', code: 'SLUICE_CLOSED' });
    expect(abortListeners(controller.signal)).toBe(0);
    await expect(limiter.acquire()).rejects.toBeInstanceOf(ClosedError);
    expect(limiter.tryAcquire()).toBeUndefined();
    expect(limiter.consume().retryAfter).toBe(Number.POSITIVE_INFINITY);
    await limiter.close();
  });

  it('run calls the work after admission and passes the signal', async () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
    const signal = new AbortController().signal;
    expect(await limiter.run(({ signal: s }) => s === signal, { signal })).toBe(true);
    const second = track(limiter.run(() => 'later'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(second.value).toBe('later');
  });
});

describe('keyed limits', () => {
  it('each key has its own limits', () => {
    const limiter = new RateLimiter({ limits: { limit: 2, interval: 1000, burst: 2 } });
    expect(admitNow(limiter, 5, 'a')).toBe(2);
    expect(admitNow(limiter, 5, 'b')).toBe(2);
    const c = limiter.for('c');
    expect(c.tryAcquire()).toBeDefined();
    expect(c.consume()).toMatchObject({ allowed: true, remaining: 0 });
    expect(c.consume().allowed).toBe(false);
  });

  it('idle keys are evicted as calls go on, so a million keys do not pile up', () => {
    const limiter = new RateLimiter({ limits: { limit: 10, interval: 1000, burst: 10 } });
    for (let i = 0; i < 100_000; i++) {
      limiter.tryAcquire({ key: `k${i}` });
      if (i % 1000 === 999) vi.advanceTimersByTime(100);
    }
    // A key is idle 100 ms after one call; only the recent ones remain.
    expect(limiter.stats().keys).toBeLessThan(3000);
  });

  it('eviction never changes a decision: an evicted key starts full, as it was', () => {
    const limiter = new RateLimiter({ limits: { limit: 2, interval: 1000, burst: 2 } });
    admitNow(limiter, 2, 'busy');
    for (let i = 0; i < 10; i++) limiter.tryAcquire({ key: `idle${i}` });
    vi.advanceTimersByTime(500);
    // Every idle* key (one call) is back to full at 500 ms; "busy" (two) not until 1000 ms.
    expect(limiter.evictIdle()).toBe(10);
    expect(limiter.stats().keys).toBe(1);
    expect(admitNow(limiter, 2, 'busy')).toBe(1); // now full again at 1500 ms
    vi.advanceTimersByTime(999);
    expect(limiter.evictIdle()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(limiter.evictIdle()).toBe(1);
    expect(admitNow(limiter, 3, 'busy')).toBe(2);
  });

  it('a key with waiting calls is never evicted', async () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
    limiter.tryAcquire({ key: 'a' });
    const waiting = limiter.acquire({ key: 'a' });
    vi.advanceTimersByTime(999);
    expect(limiter.evictIdle()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    expect(limiter.consume({ key: 'a' }).allowed).toBe(false);
  });

  it('rejects keys that are not strings or numbers', () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
    expect(() => limiter.tryAcquire({ key: {} as never })).toThrow(
      new TypeError('Expected `key` to be a string or a number, got `[object Object]` (object)'),
    );
  });
});

describe('headers', () => {
  it('formats RateLimit-* and Retry-After in seconds', () => {
    const limiter = new RateLimiter({ limits: { limit: 2, interval: 60_000, burst: 2 } });
    expect(rateLimitHeaders(limiter.consume())).toEqual({
      'RateLimit-Limit': '2',
      'RateLimit-Remaining': '1',
      'RateLimit-Reset': '30',
    });
    limiter.consume();
    expect(rateLimitHeaders(limiter.consume())).toEqual({
      'RateLimit-Limit': '2',
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': '60',
      'Retry-After': '30',
    });
  });
});

describe('throttle', () => {
  it('wraps a function: same arguments and result, FIFO per key', async () => {
    const calls: string[] = [];
    const send = throttle(
      async (url: string, body: string) => {
        calls.push(`${url} ${body}`);
        return body.length;
      },
      { limit: 1, interval: 1000 },
      { key: (url) => new URL(url).host },
    );
    const results = [send('http://a/x', 'one'), send('http://a/y', 'three'), send('http://b/z', 'four')];
    await flush();
    expect(calls).toEqual(['http://a/x one', 'http://b/z four']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await Promise.all(results)).toEqual([3, 5, 4]);
    expect(calls[2]).toBe('http://a/y three');
    expect(send.limiter.stats().admitted).toBe(3);
  });

  it('the signal aborts waiting calls; bad options throw at once', async () => {
    const controller = new AbortController();
    const fn = throttle(() => 1, { limit: 1, interval: 1000 }, { signal: controller.signal });
    await fn();
    const waiting = fn();
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(() => throttle(() => 1, { limit: 0, interval: 1000 })).toThrow(
      new RangeError('Expected `limits.limit` to be an integer >= 1, got `0` (number)'),
    );
    expect(() => throttle(() => 1, { limit: 1, interval: 1000 }, { timeout: -1 })).toThrow(RangeError);
  });

  it('reuses a given limiter, e.g. to share one limit between functions', async () => {
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
    const a = throttle(() => 'a', limiter);
    const b = throttle(() => 'b', limiter);
    expect(await a()).toBe('a');
    const second = track(b());
    await flush();
    expect(second.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1000);
    expect(second.value).toBe('b');
  });
});

describe('validation', () => {
  it('names the option and the value', () => {
    expect(() => new RateLimiter({ limits: [] })).toThrow(
      new RangeError('Expected `limits` to hold at least one limit, got an empty array'),
    );
    expect(
      () =>
        new RateLimiter({
          limits: [
            { limit: 1, interval: 1000 },
            { limit: 1, interval: 0 },
          ],
        }),
    ).toThrow(
      new RangeError('Expected `limits[1].interval` to be a finite number of milliseconds > 0, got `0` (number)'),
    );
    expect(() => new RateLimiter({ limits: { limit: 1, interval: 1, algorithm: 'fixed' as never } })).toThrow(
      new TypeError(
        "Expected `limits.algorithm` to be one of 'gcra', 'token-bucket', 'sliding-window', 'fixed-window', got `fixed` (string)",
      ),
    );
    expect(() => new RateLimiter({ limits: { limit: 1, interval: 1, burst: 1.5 } })).toThrow(
      new RangeError('Expected `limits.burst` to be an integer >= 1, got `1.5` (number)'),
    );
    expect(() => new RateLimiter(undefined as never)).toThrow(TypeError);
    const limiter = new RateLimiter({ limits: { limit: 1, interval: 1 } });
    expect(() => limiter.acquire({ timeout: Number.NaN })).toThrow(
      new RangeError('Expected `timeout` to be a number of milliseconds >= 0, got `NaN` (number)'),
    );
  });
});
