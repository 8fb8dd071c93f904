import { describe, expect, it } from 'vitest';
import { simulate } from '../bench/adaptive/simulation.js';
import { AdaptiveLimiter, gradient, Semaphore } from '../src/index.js';

// A downstream with a hidden capacity K (latency grows past K, failures past
// 1.5 K), on virtual time: the runs are deterministic.
describe('adaptive limit simulation (virtual time)', () => {
  it.each([5, 50, 500])(
    'K = %i: adaptive settles within a quarter of K with p99 under 2x; 2K overloads; K/4 underuses',
    async (k) => {
      const adaptive = await simulate(k, (clock) => {
        const limiter = new AdaptiveLimiter({ algorithm: gradient({ max: 10_000 }), clock });
        return {
          run: (fn) => limiter.run(fn),
          get limit() {
            return limiter.limit;
          },
        };
      });
      expect(adaptive.settledLimit).toBeGreaterThanOrEqual(0.75 * k);
      expect(adaptive.settledLimit).toBeLessThanOrEqual(1.25 * k);
      expect(adaptive.p99Ratio).toBeLessThan(2);
      expect(adaptive.failureRate).toBe(0);
      expect(adaptive.utilization).toBeGreaterThan(0.85);

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
