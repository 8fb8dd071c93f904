import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exponentialBackoff, RetryBudget, retry } from '../src/index.js';
import { useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

/** A small seeded PRNG (mulberry32): the simulation is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One minute of traffic, 100 calls/s, against a downstream that fails with
 * probability `failureRate`; each call retried up to 3 attempts with jittered
 * exponential backoff, with or without a 10% retry budget. Returns attempts
 * per call: the load the downstream sees, relative to normal.
 */
async function simulate(
  failureRate: number,
  withBudget: boolean,
  makeBudget = () => new RetryBudget({ ratio: 0.1, minPerSecond: 0 }),
): Promise<number> {
  const random = seeded(42);
  const budget = withBudget ? makeBudget() : undefined;
  const policy = retry({
    maxAttempts: 3,
    backoff: exponentialBackoff({ initial: 50, jitter: 'full' }),
    random,
    ...(budget === undefined ? {} : { budget }),
  });
  let attempts = 0;
  const downstream = () => {
    attempts++;
    return random() < failureRate ? Promise.reject(new Error('503')) : Promise.resolve('ok');
  };
  const calls: Promise<unknown>[] = [];
  for (let tick = 0; tick < 6000; tick++) {
    calls.push(policy.execute(downstream).catch(() => 'failed'));
    await vi.advanceTimersByTimeAsync(10);
  }
  await vi.advanceTimersByTimeAsync(60_000);
  await Promise.all(calls);
  return attempts / calls.length;
}

describe('retry budget simulation (deterministic, fake time)', () => {
  it('a downstream failing 50% for a minute: the budget keeps the load within 1.1x', async () => {
    const without = await simulate(0.5, false);
    const within = await simulate(0.5, true);
    expect(without).toBeGreaterThan(1.7); // 1 + 0.5 + 0.25 expected with 3 attempts
    expect(within).toBeLessThanOrEqual(1.1);
    expect(within).toBeGreaterThan(1.09); // the budget is used, not just refused
  }, 60_000);

  it('a downstream that is down: without a budget every call makes maxAttempts attempts', async () => {
    expect(await simulate(1, false)).toBe(3);
    expect(await simulate(1, true)).toBeLessThanOrEqual(1.1);
  }, 60_000);

  it('the defaults: a downstream that is down sees at most 1.1x at 100 calls/s (the floor of 10/s no longer adds to the ratio)', async () => {
    const load = await simulate(1, true, () => new RetryBudget());
    expect(load).toBeLessThanOrEqual(1.1);
    expect(load).toBeGreaterThan(1.09);
  }, 60_000);

  it('a fresh budget grants its floor at its pace: 10 now, then 10 a second, not the whole window at once', () => {
    const budget = new RetryBudget(); // ratio 0.1, minPerSecond 10, window 10 s
    let granted = 0;
    for (let i = 0; i < 200; i++) if (budget.tryRetry()) granted++;
    expect(granted).toBe(10);
    vi.advanceTimersByTime(500);
    granted = 0;
    for (let i = 0; i < 200; i++) if (budget.tryRetry()) granted++;
    expect(granted).toBe(5);
    // Calls earn retries at the ratio without touching the floor's pace.
    for (let i = 0; i < 1000; i++) budget.recordCall();
    granted = 0;
    for (let i = 0; i < 200; i++) if (budget.tryRetry()) granted++;
    expect(granted).toBe(100 - 15);
  });
});
