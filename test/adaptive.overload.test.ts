import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientThrottle, EventLoopLag, erlangC, littlesLaw, OverloadedError, pipeline } from '../src/index.js';
import { useFakeTime } from './helpers.js';

describe('sizing', () => {
  it("Little's law: rate x latency, plus headroom, rounded up", () => {
    expect(littlesLaw({ arrivalRate: 200, serviceTime: 50 })).toBe(10);
    expect(littlesLaw({ arrivalRate: 200, serviceTime: 50, headroom: 0.5 })).toBe(15);
    expect(littlesLaw({ arrivalRate: 1, serviceTime: 1 })).toBe(1);
    expect(() => littlesLaw({ arrivalRate: 0, serviceTime: 1 })).toThrow(
      'Expected `arrivalRate` to be a finite number > 0, got `0` (number)',
    );
  });

  it('Erlang C agrees with the textbook tables to 4 digits', () => {
    const pw = (servers: number, erlangs: number) =>
      erlangC({ servers, arrivalRate: erlangs, serviceTime: 1000 }).probabilityOfWaiting;
    // Exact: 2 erlangs on 3 servers -> 4/9; M/M/1 at 50% -> 0.5.
    expect(pw(3, 2)).toBeCloseTo(0.4444, 4);
    expect(pw(1, 0.5)).toBeCloseTo(0.5, 4);
    // Erlang C table, 10 erlangs offered: 11, 12, 13 servers.
    expect(pw(11, 10)).toBeCloseTo(0.6821, 4);
    expect(pw(12, 10)).toBeCloseTo(0.4494, 4);
    expect(pw(13, 10)).toBeCloseTo(0.2853, 4);
    // Mean wait: M/M/1 at rho 0.5 with 1 s service waits rho / (mu - lambda) = 1 s.
    expect(erlangC({ servers: 1, arrivalRate: 0.5, serviceTime: 1000 }).meanWait).toBeCloseTo(1000, 6);
    // A large pool stays exact (the B recursion, no factorials).
    expect(erlangC({ servers: 1000, arrivalRate: 900, serviceTime: 1000 }).probabilityOfWaiting).toBeLessThan(0.01);
    expect(erlangC({ servers: 2, arrivalRate: 3, serviceTime: 1000 }).meanWait).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('ClientThrottle (Google SRE client-side throttling)', () => {
  afterEach(() => vi.useRealTimers());

  it('rejects locally with probability max(0, (requests - K accepts) / (requests + 1))', async () => {
    useFakeTime();
    let draw = 0.999; // no local rejection while the history builds up
    const throttle = new ClientThrottle({ k: 2, window: 60_000, random: () => draw });
    const rejecting = () => Promise.reject(new Error('503'));
    for (let i = 0; i < 10; i++) await throttle.execute(() => 'ok');
    expect(throttle.rejectionProbability()).toBe(0);
    // The backend starts rejecting everything: 10 accepts, K = 2 -> throttling starts past 20 requests.
    for (let i = 0; i < 10; i++) await throttle.execute(rejecting).catch(() => {});
    expect(throttle.rejectionProbability()).toBe(0);
    for (let i = 0; i < 20; i++) await throttle.execute(rejecting).catch(() => {});
    // 40 requests, 10 accepts: (40 - 20) / 41
    expect(throttle.rejectionProbability()).toBeCloseTo(20 / 41, 9);
    draw = 0.4; // below 20/41: this one is refused
    const refusal = await throttle.execute(() => 'ok').catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(OverloadedError);
    expect(throttle.stats()).toMatchObject({ requests: 41, accepts: 10, throttled: 1 });
    // The window forgets.
    vi.advanceTimersByTime(60_000);
    expect(throttle.rejectionProbability()).toBe(0);
  });

  it('is a policy: errors that are not rejections count as accepts', async () => {
    const throttle = new ClientThrottle({ isFailure: (e) => (e as Error).message === '503' });
    const policy = pipeline(throttle);
    await policy.execute(() => Promise.reject(new Error('404'))).catch(() => {});
    expect(throttle.stats()).toMatchObject({ requests: 1, accepts: 1 });
  });
});

describe('EventLoopLag', () => {
  afterEach(() => vi.useRealTimers());

  it('is overloaded while the last window p99 is over the threshold; its timer keeps nothing alive', () => {
    useFakeTime();
    let p99 = 5e6; // ns
    const fake = { enable() {}, disable() {}, reset() {}, percentile: () => p99, max: 0 };
    const lag = new EventLoopLag({ window: 1000, threshold: 100, histogram: fake });
    expect(lag.overloaded()).toBe(false);
    p99 = 250e6;
    vi.advanceTimersByTime(1000);
    expect(lag.p99).toBe(250);
    expect(lag.overloaded()).toBe(true);
    p99 = 20e6;
    vi.advanceTimersByTime(1000);
    expect(lag.overloaded()).toBe(false);
    lag.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reads the real monitorEventLoopDelay by default', () => {
    const lag = new EventLoopLag();
    expect(lag.p99).toBe(0);
    expect(lag.overloaded()).toBe(false);
    lag.close();
  });
});
