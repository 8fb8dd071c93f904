import { describe, expect, it } from 'vitest';
import { type Overload, simulate } from '../bench/adaptive/simulation.js';
import { AdaptiveLimiter, aimd, gradient, gradient2, type LimitAlgorithm, Semaphore, vegas } from '../src/index.js';

const adaptive = (algorithm: () => LimitAlgorithm) => (clock: Parameters<Parameters<typeof simulate>[1]>[0]) => {
  const limiter = new AdaptiveLimiter({ algorithm: algorithm(), clock });
  return {
    run: <T>(fn: () => Promise<T>) => limiter.run(fn),
    get limit() {
      return limiter.limit;
    },
  };
};

// A downstream with a hidden capacity K (latency grows past K, failures past
// 1.5 K), on virtual time: the runs are deterministic.
describe('adaptive limit simulation (virtual time)', () => {
  it.each([5, 50, 500])(
    'K = %i: adaptive settles within a quarter of K with p99 under 2x; 2K overloads; K/4 underuses',
    async (k) => {
      const result = await simulate(
        k,
        adaptive(() => gradient({ max: 10_000 })),
      );
      expect(result.settledLimit).toBeGreaterThanOrEqual(0.75 * k);
      expect(result.settledLimit).toBeLessThanOrEqual(1.25 * k);
      expect(result.p99Ratio).toBeLessThan(2);
      expect(result.failureRate).toBe(0);
      expect(result.utilization).toBeGreaterThan(0.85);

      const tooHigh = await simulate(k, (clock) => {
        const sem = new Semaphore(2 * k, { clock });
        return { run: (fn) => sem.run(fn), limit: 2 * k };
      });
      expect(tooHigh.failureRate).toBeGreaterThan(0.5);

      const tooLow = await simulate(k, (clock) => {
        const n = Math.max(1, Math.round(k / 4));
        const sem = new Semaphore(n, { clock });
        return { run: (fn) => sem.run(fn), limit: n };
      });
      expect(tooLow.utilization).toBeLessThan(0.3);
    },
    60_000,
  );
});

// Overload that only failures reveal: latency stays flat, every call over K in
// flight fails, slowly (after the usual latency) or at once (a 429). Every
// algorithm, with its defaults, honours the drops: one decrease per round
// trip, careful probing near where it last dropped. (Before: aimd's median
// limit was 0.06 K with 50% failures at K = 500; gradient2 sat at its max
// with every call failing; gradient fell to 3% of K.)
const algorithms: Record<string, () => LimitAlgorithm> = {
  aimd: () => aimd({ max: 10_000 }),
  vegas: () => vegas({ max: 10_000 }),
  gradient2: () => gradient2({ max: 10_000 }),
  gradient: () => gradient({ max: 10_000 }),
};
describe.each(['errors', 'rejects'] as Overload[])('drop-driven overload (%s), virtual time', (overload) => {
  it.each(Object.keys(algorithms))(
    '%s: median limit within [0.7 K, 1.1 K], under 5% failed, for K in {5, 50, 500}',
    async (name) => {
      for (const k of [5, 50, 500]) {
        const result = await simulate(k, adaptive(algorithms[name] as () => LimitAlgorithm), { overload });
        const at = `K = ${k}: median ${result.medianLimit}, ${(result.failureRate * 100).toFixed(1)}% failed`;
        expect(result.medianLimit, at).toBeGreaterThanOrEqual(0.7 * k);
        expect(result.medianLimit, at).toBeLessThanOrEqual(1.1 * k);
        expect(result.failureRate, at).toBeLessThan(0.05);
        expect(result.utilization, at).toBeGreaterThan(0.8);
      }
    },
    60_000,
  );
});
