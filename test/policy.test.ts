import { setMaxListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  bulkhead,
  CircuitOpenError,
  circuitBreaker,
  consecutiveFailures,
  constantBackoff,
  countWindow,
  exponentialBackoff,
  fallback,
  HedgeLostError,
  hedge,
  type PolicyContext,
  pipeline,
  QueueFullError,
  RetryBudget,
  retry,
  Semaphore,
  TimeoutError,
  timeout,
  timeWindow,
} from '../src/index.js';
import { abortListeners, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(async () => {
  // A timeout policy's one timer may still be armed (not keeping the process
  // alive) until its last deadline; once it fires, nothing may be left.
  await vi.runOnlyPendingTimersAsync();
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

/** Work that settles only when its signal aborts (rejecting with the reason). */
const hang = ({ signal }: PolicyContext) =>
  new Promise<never>((_, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
/** Work that resolves with `value` after `ms` of fake time, ignoring its signal. */
const resolveAfter = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(resolve, ms, value));
const fail = (message = 'boom') => Promise.reject(new Error(message));

describe('timeout', () => {
  it('cooperative: aborts the work’s own signal at the deadline and rejects with SLUICE_TIMEOUT', async () => {
    const policy = timeout(100);
    let seen: AbortSignal | undefined;
    const call = track(
      policy.execute((context) => {
        seen = context.signal;
        return hang(context);
      }),
    );
    await vi.advanceTimersByTimeAsync(99);
    expect(call.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect((call.error as Error).message).toBe('Timed out after 100 ms');
    expect(seen?.reason).toBe(call.error);
    expect(policy.stats()).toEqual({ calls: 1, timedOut: 1 });
  });

  it('each call has its own signal: one timing out aborts no other (opossum #780)', async () => {
    const policy = timeout(100);
    const signals: AbortSignal[] = [];
    const slow = track(
      policy.execute(({ signal }) => {
        signals.push(signal as AbortSignal);
        return resolveAfter(500, 'slow');
      }),
    );
    const fast = track(
      policy.execute(async ({ signal }) => {
        signals.push(signal as AbortSignal);
        await resolveAfter(50, null);
        return 'fast';
      }),
    );
    await vi.advanceTimersByTimeAsync(500);
    expect(fast.value).toBe('fast');
    expect(signals[1]?.aborted).toBe(false);
    expect(signals[0]?.aborted).toBe(true);
    expect((slow.error as Error).message).toBe('Timed out after 100 ms (the work stopped after 500 ms)');
  });

  it('aggressive: rejects at the deadline without waiting for the work', async () => {
    const policy = timeout(100, { mode: 'aggressive' });
    const call = track(policy.execute(() => resolveAfter(1000, 'late').then(() => fail('late failure'))));
    await vi.advanceTimersByTimeAsync(100);
    expect(call.error).toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(900); // the work's late rejection is handled, not unhandled
  });

  it('the caller’s abort wins and leaves no listener on the caller’s signal', async () => {
    const controller = new AbortController();
    const call = track(timeout(100).execute(hang, { signal: controller.signal }));
    controller.abort(new Error('user left'));
    await flush();
    expect((call.error as Error).message).toBe('user left');
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('validates its options', () => {
    expect(() => timeout(-1)).toThrow(
      new RangeError('Expected `ms` to be a number of milliseconds >= 0, got `-1` (number)'),
    );
    expect(() => timeout(1, { mode: 'hard' as never })).toThrow(
      "Expected `mode` to be 'cooperative' or 'aggressive', got `hard` (string)",
    );
  });
});

describe('backoff', () => {
  const delays = (backoff: ReturnType<typeof exponentialBackoff>, random = () => 0.5, n = 5) => {
    const out: number[] = [];
    let previousDelay = 0;
    for (let attempt = 1; attempt <= n; attempt++) {
      previousDelay = backoff({ attempt, previousDelay, random });
      out.push(previousDelay);
    }
    return out;
  };

  it('exponential, capped, with each jitter of AWS’s analysis', () => {
    expect(delays(exponentialBackoff({ initial: 100, max: 1000, jitter: 'none' }))).toEqual([100, 200, 400, 800, 1000]);
    expect(delays(exponentialBackoff({ initial: 100, max: 1000, jitter: 'full' }))).toEqual([50, 100, 200, 400, 500]);
    expect(delays(exponentialBackoff({ initial: 100, max: 1000, jitter: 'equal' }))).toEqual([75, 150, 300, 600, 750]);
    // decorrelated: min(max, random between initial and 3 x previous)
    expect(delays(exponentialBackoff({ initial: 100, max: 1000, jitter: 'decorrelated' }))).toEqual([
      200, 350, 575, 912.5, 1000,
    ]);
    expect(delays(exponentialBackoff({ initial: 100, jitter: 'full' }), () => 0)).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('retry', () => {
  it('retries with the backoff’s delays and reports the attempt to the work', async () => {
    const policy = retry({ maxAttempts: 4, backoff: exponentialBackoff({ initial: 100, jitter: 'none' }) });
    const attempts: number[] = [];
    const delays: number[] = [];
    policy.on('retry', ({ delay }) => delays.push(delay));
    const call = track(
      policy.execute(({ attempt }) => {
        attempts.push(attempt);
        return attempt < 4 ? fail() : Promise.resolve('ok');
      }),
    );
    await vi.advanceTimersByTimeAsync(299);
    expect(attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(401);
    expect(call.value).toBe('ok');
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(delays).toEqual([100, 200, 400]);
    expect(policy.stats()).toEqual({ calls: 1, attempts: 4, retries: 3, budgetRefused: 0 });
  });

  it('gives up after maxAttempts with the last error, and only retries what isFailure allows', async () => {
    const policy = retry({ maxAttempts: 3, backoff: constantBackoff(10) });
    let n = 0;
    const call = track(policy.execute(() => fail(`failure ${++n}`)));
    await vi.advanceTimersByTimeAsync(20);
    expect((call.error as Error).message).toBe('failure 3');
    const picky = retry({ isFailure: (e) => (e as Error).message !== 'fatal', backoff: constantBackoff(10) });
    let calls = 0;
    await expect(
      picky.execute(() => {
        calls++;
        return fail('fatal');
      }),
    ).rejects.toThrow('fatal');
    expect(calls).toBe(1);
  });

  it('retries results too, returning the last one when attempts run out', async () => {
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(5), isFailureResult: (r) => r === 503 });
    const call = track(policy.execute(() => 503));
    await vi.advanceTimersByTimeAsync(5);
    expect(call.value).toBe(503);
  });

  it('honours Retry-After (retryAfter, or a header), capped by maxDelay', async () => {
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(10) });
    const waited = track(
      policy.execute(({ attempt }) => (attempt === 1 ? Promise.reject({ retryAfter: 5000 }) : 'ok')),
    );
    await vi.advanceTimersByTimeAsync(4999);
    expect(waited.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(waited.value).toBe('ok');
    const header = Object.assign(new Error('429'), { response: { headers: new Headers({ 'Retry-After': '2' }) } });
    const capped = retry({ maxAttempts: 2, backoff: constantBackoff(10), maxDelay: 1500 });
    const call = track(capped.execute(({ attempt }) => (attempt === 1 ? Promise.reject(header) : 'ok')));
    await vi.advanceTimersByTimeAsync(1499);
    expect(call.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(call.value).toBe('ok');
  });

  it('the caller’s signal stops the wait between attempts at once, leaving nothing behind', async () => {
    const controller = new AbortController();
    const policy = retry({ maxAttempts: 5, backoff: constantBackoff(60_000) });
    let attempts = 0;
    const call = track(
      policy.execute(
        () => {
          attempts++;
          return fail();
        },
        { signal: controller.signal },
      ),
    );
    await flush();
    controller.abort(new Error('cancelled'));
    await flush();
    expect((call.error as Error).message).toBe('cancelled');
    expect(attempts).toBe(1);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('a retry budget caps retries at a fraction of calls', async () => {
    const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 0 });
    const policy = retry({ maxAttempts: 3, backoff: constantBackoff(0), budget });
    let attempts = 0;
    const failing = () => {
      attempts++;
      return fail();
    };
    const calls = Array.from({ length: 100 }, () => policy.execute(failing).catch(() => {}));
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(calls);
    // 100 calls allow 10 retries: 10 calls get a second attempt (which fails
    // too, and finds the budget empty), 90 get none.
    expect(attempts).toBe(110);
    expect(policy.stats()).toMatchObject({ calls: 100, retries: 10, budgetRefused: 100 });
    // Ten seconds later the window has forgotten them.
    vi.advanceTimersByTime(10_000);
    expect(budget.stats()).toEqual({ calls: 0, retries: 0, refused: 100 });
  });
});

describe('circuit breaker', () => {
  it('consecutive failures open it; open refuses at once; a successful probe closes it', async () => {
    const breaker = circuitBreaker({ breaker: consecutiveFailures(3), openDuration: 1000 });
    const changes: string[] = [];
    breaker.on('stateChange', ({ from, to }) => changes.push(`${from}->${to}`));
    for (let i = 0; i < 3; i++) await breaker.execute(() => fail()).catch(() => {});
    expect(breaker.state).toBe('open');
    let ran = false;
    const refused = await breaker.execute(() => (ran = true)).catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({
      code: 'SLUICE_CIRCUIT_OPEN',
      retryAfter: 1000,
      message: 'Circuit is open (retry in 1000 ms)',
    });
    vi.advanceTimersByTime(1000);
    expect(breaker.state).toBe('half-open');
    expect(await breaker.execute(() => 'probe')).toBe('probe');
    expect(changes).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
    expect(breaker.stats()).toMatchObject({
      state: 'closed',
      calls: 4,
      failures: 3,
      successes: 1,
      rejected: 1,
      opened: 1,
    });
  });

  it('half-open lets `halfOpenProbes` through; a failed probe reopens it for longer (backoff)', async () => {
    const breaker = circuitBreaker({
      breaker: consecutiveFailures(1),
      openDuration: exponentialBackoff({ initial: 1000, jitter: 'none' }),
      halfOpenProbes: 2,
    });
    await breaker.execute(() => fail()).catch(() => {});
    vi.advanceTimersByTime(1000);
    const probe1 = track(breaker.execute(() => resolveAfter(10, 1)));
    const probe2 = track(breaker.execute(() => resolveAfter(20, 2)));
    await expect(breaker.execute(() => 3)).rejects.toThrow('Circuit is half-open (2/2 probes in flight)');
    await vi.advanceTimersByTimeAsync(10);
    expect(probe1.value).toBe(1);
    expect(breaker.state).toBe('half-open');
    await vi.advanceTimersByTimeAsync(10);
    expect(probe2.value).toBe(2);
    expect(breaker.state).toBe('closed');
    // Failing again: open 1000 ms; a failed probe: open 2000 ms.
    await breaker.execute(() => fail()).catch(() => {});
    vi.advanceTimersByTime(1000);
    await breaker.execute(() => fail()).catch(() => {});
    await expect(breaker.execute(() => 1)).rejects.toMatchObject({ retryAfter: 2000 });
  });

  it('count window: opens at the failure rate once the minimum number of calls is seen', async () => {
    const breaker = circuitBreaker({ breaker: countWindow({ size: 10, minimumCalls: 6, failureRate: 0.5 }) });
    const outcomes = [true, false, true, false, true]; // 2 failures in 5: below the minimum
    for (const ok of outcomes) await breaker.execute(() => (ok ? 1 : fail())).catch(() => {});
    expect(breaker.state).toBe('closed');
    await breaker.execute(() => fail()).catch(() => {}); // 3 of 6 = 0.5
    expect(breaker.state).toBe('open');
  });

  it('time window: only failures within the window count; slow calls count when asked', async () => {
    const breaker = circuitBreaker({
      breaker: timeWindow({ window: 10_000, buckets: 10, minimumCalls: 4, failureRate: 0.75 }),
    });
    for (let i = 0; i < 3; i++) await breaker.execute(() => fail()).catch(() => {});
    vi.advanceTimersByTime(10_000); // those three leave the window
    await breaker.execute(() => fail()).catch(() => {});
    await breaker.execute(() => 1);
    expect(breaker.state).toBe('closed');
    const slowBreaker = circuitBreaker({
      breaker: countWindow({ size: 4, slowCallDuration: 100, slowCallRate: 0.5, failureRate: 1 }),
    });
    for (const ms of [10, 200, 10, 200]) {
      const call = slowBreaker.execute(() => resolveAfter(ms, ms));
      await vi.advanceTimersByTimeAsync(ms);
      await call;
    }
    expect(slowBreaker.state).toBe('open');
  });

  it('isolate and reset by hand; the caller’s abort and ignored errors do not count', async () => {
    const breaker = circuitBreaker({
      breaker: consecutiveFailures(1),
      isFailure: (e) => (e as Error).message !== 'ignored',
    });
    await breaker.execute(() => fail('ignored')).catch(() => {});
    const controller = new AbortController();
    controller.abort();
    await breaker.execute(() => fail(), { signal: controller.signal }).catch(() => {});
    expect(breaker.state).toBe('closed');
    const release = breaker.isolate();
    await expect(breaker.execute(() => 1)).rejects.toMatchObject({
      message: 'Circuit is isolated',
      retryAfter: Infinity,
    });
    release();
    expect(await breaker.execute(() => 1)).toBe(1);
  });

  it('state survives a JSON round trip (snapshot -> initialState)', async () => {
    const breaker = circuitBreaker({ breaker: countWindow({ size: 4, minimumCalls: 2 }), openDuration: 5000 });
    await breaker.execute(() => fail()).catch(() => {});
    await breaker.execute(() => fail()).catch(() => {});
    vi.advanceTimersByTime(1000);
    const saved = JSON.parse(JSON.stringify(breaker.snapshot()));
    expect(saved).toMatchObject({ state: 'open', openFor: 4000, openings: 1 });
    const restored = circuitBreaker({
      breaker: countWindow({ size: 4, minimumCalls: 2 }),
      openDuration: 5000,
      initialState: saved,
    });
    expect(restored.state).toBe('open');
    vi.advanceTimersByTime(4000);
    expect(restored.state).toBe('half-open');
  });
});

describe('bulkhead', () => {
  it('runs `concurrency`, queues `maxWaiting`, refuses the rest with live counts', async () => {
    const policy = bulkhead({ concurrency: 2, maxWaiting: 1 });
    const running = [
      track(policy.execute(() => resolveAfter(100, 'a'))),
      track(policy.execute(() => resolveAfter(100, 'b'))),
    ];
    const queued = track(policy.execute(() => 'c'));
    await expect(policy.execute(() => 'd')).rejects.toThrow(
      new QueueFullError('Bulkhead is full (2/2 running, 1/1 waiting)'),
    );
    expect(policy.stats()).toEqual({
      running: 2,
      waiting: 1,
      admitted: 2,
      rejected: 1,
      timedOut: 0,
      aborted: 0,
      concurrency: 2,
    });
    await vi.advanceTimersByTimeAsync(100);
    expect([...running.map((r) => r.value), queued.value]).toEqual(['a', 'b', 'c']);
  });
});

describe('hedge', () => {
  it('starts a second attempt after the delay; the first success wins; the loser is aborted', async () => {
    const policy = hedge({ delay: 100 });
    const signals: AbortSignal[] = [];
    const call = track(
      policy.execute(({ attempt, signal }) => {
        signals.push(signal as AbortSignal);
        return resolveAfter(attempt === 1 ? 500 : 50, `attempt ${attempt}`);
      }),
    );
    await vi.advanceTimersByTimeAsync(150);
    expect(call.value).toBe('attempt 2');
    expect(signals[0]?.reason).toBeInstanceOf(HedgeLostError);
    expect(policy.stats()).toMatchObject({ calls: 1, hedges: 1, hedgeWins: 1 });
    await vi.advanceTimersByTimeAsync(350); // the loser finishes on its own; nothing else happens
  });

  it('a failure starts the next attempt at once; all failing rejects with the last error', async () => {
    const policy = hedge({ delay: 1000, maxHedges: 2 });
    const attempts: number[] = [];
    await expect(
      policy.execute(({ attempt }) => {
        attempts.push(attempt);
        return fail(`no ${attempt}`);
      }),
    ).rejects.toThrow('no 3');
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('uses the observed latency percentile once it has enough samples', async () => {
    const policy = hedge({ delay: 1000, percentile: 0.5, minSamples: 3 });
    for (const ms of [10, 20, 30]) {
      const call = policy.execute(() => resolveAfter(ms, ms));
      await vi.advanceTimersByTimeAsync(ms);
      await call;
    }
    expect(policy.currentDelay()).toBe(20);
  });
});

describe('fallback', () => {
  it('answers only for the chosen failures, never while the work succeeds', async () => {
    const policy = fallback('cached', { isFailure: (e) => e instanceof CircuitOpenError });
    expect(await policy.execute(() => 'fresh')).toBe('fresh');
    expect(await policy.execute(() => Promise.reject(new CircuitOpenError('open', 10)))).toBe('cached');
    await expect(policy.execute(() => fail('other'))).rejects.toThrow('other');
    expect(policy.used).toBe(1);
    const computed = fallback((error) => `fallback for ${(error as Error).message}`);
    expect(await computed.execute(() => fail('x'))).toBe('fallback for x');
  });
});

describe('pipeline', () => {
  it('timeout inside retry is a deadline per attempt; retry inside timeout is one overall deadline', async () => {
    let perAttempt = 0;
    const eachAttempt = pipeline(retry({ maxAttempts: 3, backoff: constantBackoff(0) }), timeout(100));
    const a = track(
      eachAttempt.execute((context) => {
        perAttempt++;
        return hang(context);
      }),
    );
    await vi.advanceTimersByTimeAsync(300);
    await flush();
    expect(perAttempt).toBe(3);
    expect(a.error).toBeInstanceOf(TimeoutError);

    let overallAttempts = 0;
    const overall = pipeline(timeout(100), retry({ maxAttempts: 3, backoff: constantBackoff(0) }));
    const b = track(
      overall.execute((context) => {
        overallAttempts++;
        return hang(context);
      }),
    );
    await vi.advanceTimersByTimeAsync(100);
    await flush();
    expect(b.error).toBeInstanceOf(TimeoutError);
    expect(overallAttempts).toBe(1); // the deadline's abort is the caller's abort for retry: not retried
  });

  it('the outer signal reaches the innermost work; limiters are layers too', async () => {
    const controller = new AbortController();
    const gate = new Semaphore(1);
    const policy = pipeline(
      timeout(1000),
      retry({ maxAttempts: 2 }),
      circuitBreaker(),
      gate,
      bulkhead({ concurrency: 5 }),
    );
    let inner: AbortSignal | undefined;
    const call = track(
      policy.execute(
        ({ signal }) => {
          inner = signal;
          return hang({ signal, attempt: 1 });
        },
        { signal: controller.signal },
      ),
    );
    await flush();
    expect(gate.inUse).toBe(1);
    controller.abort(new Error('stop'));
    await flush();
    expect(inner?.aborted).toBe(true);
    expect((call.error as Error).message).toBe('stop');
    expect(gate.inUse).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('100,000 calls through a full pipeline leave no listener on any signal and no timer', async () => {
    const controller = new AbortController();
    // One shutdown signal shared by 1,000 calls in flight: each holds a listener
    // while it runs (as with fetch), so raise Node's leak-warning threshold.
    setMaxListeners(2000, controller.signal);
    const policy = pipeline(
      fallback('fallback'),
      timeout(1000),
      retry({ maxAttempts: 3, backoff: constantBackoff(1), budget: new RetryBudget() }),
      circuitBreaker({ breaker: countWindow({ size: 100, failureRate: 0.9 }) }),
      bulkhead({ concurrency: 100, maxWaiting: Number.POSITIVE_INFINITY }),
      hedge({ delay: 50 }),
    );
    let n = 0;
    const work = async ({ signal }: PolicyContext) => {
      n++;
      if (n % 7 === 0) throw new Error('flaky');
      if (n % 11 === 0) return resolveAfter(80, 'slow'); // hedged
      return signal?.aborted ? 'aborted?' : 'ok';
    };
    for (let batch = 0; batch < 100; batch++) {
      const calls = Array.from({ length: 1000 }, () => policy.execute(work, { signal: controller.signal }));
      await vi.advanceTimersByTimeAsync(200);
      const results = await Promise.all(calls);
      expect(results.every((r) => r === 'ok' || r === 'slow' || r === 'fallback')).toBe(true);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  }, 60_000);
});
