/**
 * The drop discipline of every built-in limit algorithm, on random streams of
 * completed calls (random start, duration, drop, load): the limit stays within
 * its bounds, it goes down at most once per round trip (a decrease only from a
 * call that started after the previous decrease), and after a drop it grows
 * by at most 0.004 per sample until it is 1.2x the limit it dropped at.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aimd, gradient, gradient2, type LimitAlgorithm, vegas } from '../src/index.js';

const makers: Record<string, (bounds: { initial: number; min: number; max: number }) => LimitAlgorithm> = {
  aimd: (b) => aimd({ ...b, maxRtt: 400 }),
  vegas: (b) => vegas(b),
  gradient2: (b) => gradient2({ ...b, longWindow: 20 }),
  gradient: (b) => {
    const g = gradient(b);
    g.setMinRtt(50);
    return g;
  },
};

const calls = fc.array(
  fc.record({
    start: fc.integer({ min: 0, max: 20_000 }),
    duration: fc.integer({ min: 1, max: 600 }),
    dropped: fc.boolean(),
    running: fc.integer({ min: 1, max: 300 }),
  }),
  { minLength: 1, maxLength: 400 },
);
const bounds = fc
  .record({
    min: fc.integer({ min: 1, max: 20 }),
    span: fc.integer({ min: 0, max: 300 }),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ min, span, at }) => ({ min, max: min + span, initial: min + Math.round(at * span) }));

describe.each(Object.keys(makers))('%s: drop discipline (property)', (name) => {
  it('bounded, one decrease per round trip, careful growth after a drop', () => {
    fc.assert(
      fc.property(bounds, calls, (b, list) => {
        const algorithm = (makers[name] as (typeof makers)[string])(b);
        const done = list.map((c) => ({ ...c, end: c.start + c.duration })).sort((x, y) => x.end - y.end);
        let decreasedAt = Number.NEGATIVE_INFINITY;
        let droppedAt = Number.POSITIVE_INFINITY;
        for (const call of done) {
          const before = algorithm.limit;
          const after = algorithm.update({
            now: call.end,
            rtt: call.duration,
            running: call.running,
            dropped: call.dropped,
          });
          expect(after).toBe(algorithm.limit);
          expect(Number.isFinite(after)).toBe(true);
          expect(after).toBeGreaterThanOrEqual(b.min);
          expect(after).toBeLessThanOrEqual(b.max);
          if (after < before) {
            expect(call.start, 'a second decrease from a call sent before the first').toBeGreaterThan(decreasedAt);
            decreasedAt = call.end;
            if (call.dropped || (name === 'aimd' && call.duration > 400)) droppedAt = before;
          } else if (after > before) {
            if (before >= 1.2 * droppedAt) droppedAt = Number.POSITIVE_INFINITY;
            if (droppedAt !== Number.POSITIVE_INFINITY) expect(after - before).toBeLessThanOrEqual(0.004 + 1e-12);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
