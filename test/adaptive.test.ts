import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AdaptiveLimiter,
  aimd,
  gradient,
  gradient2,
  type LimitAlgorithm,
  OverloadedError,
  TimeoutError,
  vegas,
} from '../src/index.js';
import { abortListeners, flush, track, useFakeTime } from './helpers.js';

/** A completed call: it finished at `now` after `rtt` (so it started at `now - rtt`). */
const sample = (rtt: number, running: number, dropped = false, now = 0) => ({ now, rtt, running, dropped });
/** Record `label` in `order`, then pass the value on. */
const noting =
  <T>(order: unknown[], label: unknown) =>
  (value: T): T => {
    order.push(label);
    return value;
  };
const feed = (algorithm: LimitAlgorithm, n: number, s: ReturnType<typeof sample>) => {
  for (let i = 0; i < n; i++) algorithm.update(s);
  return algorithm.limit;
};

describe('limit algorithms (update rules on synthetic samples)', () => {
  it('AIMD: slow start, then +increase per round trip; x0.9 on a drop or a timeout, once per round trip', () => {
    const a = aimd({ initial: 10, min: 2, max: 40, maxRtt: 500 });
    expect(a.update(sample(10, 5, false, 10))).toBe(11); // slow start: +1 per used sample
    expect(a.update(sample(10, 2, false, 11))).toBe(11); // not in use: no growth
    expect(a.update(sample(10, 11, true, 20))).toBe(9); // a drop: floor(11 x 0.9), slow start ends
    // Calls that started before that decrease were sent at the old limit: their drops are old news.
    expect(a.update(sample(10, 11, true, 25))).toBe(9);
    expect(a.update(sample(600, 11, false, 30))).toBe(9); // a timeout counts as a drop: also old news
    // Near the limit it dropped at, growth is careful: at most 0.004 per sample.
    expect(a.update(sample(10, 9, false, 30))).toBeCloseTo(9.004, 9);
    // A call sent after the decrease (started at 30 > 20) that fails lowers it again.
    expect(a.update(sample(10, 9, true, 40))).toBe(8);
    expect(a.update(sample(600, 8, false, 641))).toBe(7); // over maxRtt, started at 41 > 40
    // Past 1.2 x the limit of the last drop (9.6), growth is +1 per round trip: 1/limit per sample.
    const past = feed(a, 700, sample(10, 40, false, 700));
    expect(past).toBeGreaterThan(9.6);
    expect(a.update(sample(10, 40, false, 701))).toBeCloseTo(past + 1 / past, 9);
    expect(feed(a, 5000, sample(10, 40, false, 702))).toBe(40); // capped at max
    expect(feed(a, 50, sample(10, 1, true, 0))).toBe(40); // drops of calls older than the last decrease: none
    let now = 1000;
    for (let i = 0; i < 50; i++) a.update(sample(1, 1, true, (now += 10)));
    expect(a.limit).toBe(2); // fresh drops, one per round trip: floored at min
  });

  it('Vegas: per round trip, grows while the estimated queue is small, shrinks when it is large; x0.9 on drops', () => {
    const v = vegas({ initial: 100, max: 1000 });
    v.update(sample(100, 100)); // first sample: rttNoLoad = 100
    // No queue (rtt = rttNoLoad): +6 x log10(100) = +12 per round trip, spread over 100 samples.
    expect(v.update(sample(100, 100))).toBeCloseTo(100.12, 9);
    // queue = ceil(100.12 x (1 - 100/200)) = 51 > 6 x log10(100.12): shrink by log10(100.12), once.
    expect(v.update(sample(200, 100, false, 1000))).toBeCloseTo(100.12 - Math.log10(100.12), 9);
    const shrunk = v.limit;
    expect(v.update(sample(200, 100, false, 1100))).toBe(shrunk); // started at 900, before that decrease
    expect(v.update(sample(100, 1, false, 1200))).toBe(shrunk); // not using the limit: no signal
    expect(v.update(sample(100, 200, true, 1300))).toBe(Math.floor(shrunk * 0.9)); // a fresh drop
    // Then growth near the drop is careful: 0.004 per sample, not 6 x log10(limit) / limit.
    expect(v.update(sample(100, 100, false, 1400))).toBeCloseTo(Math.floor(shrunk * 0.9) + 0.004, 9);
  });

  it('Gradient2: grows by queueSize while short RTT ~ long RTT; backs off when short RTT rises, once per round trip', () => {
    const g = gradient2({ initial: 50, smoothing: 1, queueSize: 4, rttTolerance: 1.5, longWindow: 10 });
    expect(g.update(sample(100, 50, false, 100))).toBe(54); // gradient 1: +4
    expect(g.update(sample(100, 54, false, 200))).toBe(58);
    // Long RTT (a plain average while warming up) = 200, short = 400:
    // gradient = 1.5 x 200 / 400 = 0.75 -> 58 x 0.75 + 4.
    expect(g.update(sample(400, 58, false, 1000))).toBeCloseTo(47.5, 9);
    // A call that started before that decrease: no second decrease in the round trip.
    expect(g.update(sample(10_000, 48, false, 1100))).toBeCloseTo(47.5, 9);
    // One sent after it: long = (100 + 100 + 400 + 10,000 + 10,000) / 5 = 4,120; gradient 0.618.
    expect(g.update(sample(10_000, 48, false, 12_000))).toBeCloseTo(47.5 * 0.618 + 4, 9);
    // Far above the long average, the gradient is floored at 0.5.
    expect(g.update(sample(100_000, 48, false, 200_000))).toBeCloseTo((47.5 * 0.618 + 4) * 0.5 + 4, 9);
    const before = g.limit;
    expect(g.update(sample(100, 1, false, 200_100))).toBe(before); // running < limit/2: unchanged
    expect(g.update(sample(100, 30, true, 200_200))).toBe(Math.floor(before * 0.9)); // a fresh drop
    expect(g.update(sample(50, 30, true, 200_250))).toBe(Math.floor(before * 0.9)); // started before it
  });

  it('gradient: settles where latency is (1 + buffer) x the unloaded latency; decreases once per round trip', () => {
    const g = gradient({ initial: 10, buffer: 0.1 });
    expect(g.update(sample(100, 10))).toBe(10); // no unloaded RTT yet: no change
    g.setMinRtt(100);
    expect(g.update(sample(100, 10, false, 100))).toBeCloseTo(10.1, 9); // g = 1.1: +0.1 per sample
    expect(g.update(sample(110, 10, false, 200))).toBeCloseTo(10.1, 9); // at 1.1 x minRtt: steady
    expect(g.update(sample(220, 10, false, 1000))).toBeCloseTo(5.05, 9); // g = 0.5: x0.5 at once
    expect(g.update(sample(220, 10, false, 1100))).toBeCloseTo(5.05, 9); // started before it: no more
    expect(g.update(sample(100, 10, true, 1200))).toBe(4); // a fresh drop: floor(5.05 x 0.9)
    expect(g.update(sample(100, 10, false, 1300))).toBeCloseTo(4.004, 9); // careful growth near the drop
  });

  it('validates bounds', () => {
    expect(() => aimd({ min: 5, max: 2 })).toThrow('Expected `min` to be at most `max` (2), got `5` (number)');
    expect(() => vegas({ initial: 0 })).toThrow(RangeError);
    expect(() => gradient2({ rttTolerance: 0.5 })).toThrow(
      'Expected `rttTolerance` to be a number >= 1, got `0.5` (number)',
    );
  });
});

describe('AdaptiveLimiter', () => {
  beforeEach(() => useFakeTime());
  afterEach(() => {
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
  });

  it('admits up to the limit, FIFO, and moves the limit from completed calls', async () => {
    const limiter = new AdaptiveLimiter({ algorithm: aimd({ initial: 2, max: 10 }) });
    const changes: string[] = [];
    limiter.on('limit', ({ from, to }) => changes.push(`${from}->${to}`));
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    const order: string[] = [];
    const c = limiter.acquire().then(noting(order, 'c'));
    const d = limiter.acquire().then(noting(order, 'd'));
    expect(limiter.tryAcquire()).toBeUndefined();
    a.success(); // running 2 >= limit/2: limit 3
    await flush();
    expect(limiter.limit).toBe(3);
    expect(order).toEqual(['c', 'd']); // the grown limit lets both in
    b.drop(); // floor(3 x 0.9) -> 2
    expect(limiter.limit).toBe(2);
    (await c).ignore();
    (await d).release(); // near the drop growth is careful: 2.004 stays 2
    expect(limiter.limit).toBe(2);
    expect(changes).toEqual(['2->3', '3->2']);
    expect(limiter.stats()).toMatchObject({ running: 0, succeeded: 2, dropped: 1 });
  });

  it('run() reports success, or a drop for failures that isFailure picks', async () => {
    const limiter = new AdaptiveLimiter({
      algorithm: aimd({ initial: 10 }),
      isFailure: (e) => (e as Error).message === '503',
    });
    await limiter.run(() => 1);
    await limiter.run(() => Promise.reject(new Error('400'))).catch(() => {});
    await limiter.run(() => Promise.reject(new Error('503'))).catch(() => {});
    expect(limiter.stats()).toMatchObject({ succeeded: 1, dropped: 1 });
  });

  it('gradient: probes the unloaded latency one call at a time, then sets the limit', async () => {
    const limiter = new AdaptiveLimiter({
      algorithm: gradient({ initial: 8 }),
      probeSamples: 2,
      probeInterval: 1000,
    });
    expect(limiter.limit).toBe(1); // probing first
    for (let i = 0; i < 2; i++) {
      const permit = await limiter.acquire();
      vi.advanceTimersByTime(100);
      permit.success();
    }
    expect(limiter.stats().minRtt).toBe(100);
    expect(limiter.limit).toBe(8);
  });

  it('partitions: under contention each gets its share; idle capacity can be borrowed', async () => {
    const limiter = new AdaptiveLimiter({
      algorithm: aimd({ initial: 10, min: 10, max: 10 }),
      partitions: { live: 0.7, batch: 0.3 },
    });
    // batch borrows the whole limit while live is idle
    const batch = await Promise.all(Array.from({ length: 10 }, () => limiter.acquire({ partition: 'batch' })));
    const order: string[] = [];
    const waiting = [
      ...Array.from({ length: 5 }, () => limiter.acquire({ partition: 'batch' }).then(noting(order, 'batch'))),
      ...Array.from({ length: 5 }, () => limiter.acquire({ partition: 'live' }).then(noting(order, 'live'))),
    ];
    expect(limiter.waiting).toBe(10);
    expect(limiter.running).toBe(10);
    for (const permit of batch.slice(0, 5)) permit.release();
    await flush();
    expect(limiter.waiting).toBe(5);
    // live (below its 7) goes first, though batch waited longer
    expect(order).toEqual(['live', 'live', 'live', 'live', 'live']);
    for (const permit of batch.slice(5)) permit.release();
    await flush();
    for (const permit of await Promise.all(waiting)) permit.release();
    expect(() => limiter.tryAcquire({ partition: 'other' })).toThrow(
      "Expected `partition` to be one of 'live', 'batch'",
    );
  });

  it('sheds load when the oldest waiter has waited too long, and serves newest first meanwhile', async () => {
    const limiter = new AdaptiveLimiter({ algorithm: aimd({ initial: 1, min: 1, max: 1 }), maxQueueWait: 100 });
    const held = await limiter.acquire();
    const order: number[] = [];
    const first = limiter.acquire().then(noting(order, 1));
    vi.advanceTimersByTime(50);
    const second = limiter.acquire().then(noting(order, 2));
    vi.advanceTimersByTime(51); // the oldest has waited 101 ms
    await expect(limiter.acquire()).rejects.toBeInstanceOf(OverloadedError);
    held.release();
    await flush();
    expect(order).toEqual([2]); // adaptive LIFO
    (await second).release();
    await flush();
    (await first).release();
    expect(limiter.stats().rejected).toBe(1);
  });

  it('refuses while the external overload signal says so; timeouts and aborts leave nothing behind', async () => {
    let overloaded = true;
    const limiter = new AdaptiveLimiter({ algorithm: aimd({ initial: 1, max: 1 }), overloaded: () => overloaded });
    await expect(limiter.acquire()).rejects.toThrow(/overloaded/);
    overloaded = false;
    const held = await limiter.acquire();
    const timed = track(limiter.acquire({ timeout: 100 }));
    const controller = new AbortController();
    const aborted = track(limiter.acquire({ signal: controller.signal }));
    vi.advanceTimersByTime(100);
    await flush();
    expect(timed.error).toBeInstanceOf(TimeoutError);
    controller.abort(new Error('gone'));
    await flush();
    expect((aborted.error as Error).message).toBe('gone');
    expect(abortListeners(controller.signal)).toBe(0);
    held.release();
    expect(limiter.stats()).toMatchObject({ waiting: 0, running: 0, timedOut: 1 });
  });
});
