import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { normalizeLimits } from '../src/core/RateLimit.js';
import { ruleFor } from '../src/core/Rule.js';
import { type RateLimit, RateLimiter } from '../src/index.js';
import { abortListeners, fakeNow, flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

const limitArb: fc.Arbitrary<RateLimit> = fc.oneof(
  fc.record({
    algorithm: fc.constantFrom('gcra' as const, 'token-bucket' as const),
    limit: fc.constantFrom(1, 2, 3, 4, 5, 10),
    interval: fc.constantFrom(100, 1000),
    burst: fc.integer({ min: 3, max: 6 }),
  }),
  fc.record({
    algorithm: fc.constantFrom('sliding-window' as const, 'fixed-window' as const),
    limit: fc.integer({ min: 3, max: 8 }),
    interval: fc.constantFrom(100, 1000),
  }),
);

/** Replay admissions through fresh rules: every one must have conformed when it happened. */
function assertConforms(limits: readonly RateLimit[], admissions: { at: number; cost: number }[]): void {
  const rules = normalizeLimits(limits).map(ruleFor);
  const states = rules.map((rule) => rule.create(admissions[0]?.at ?? 0));
  for (const { at, cost } of admissions) {
    rules.forEach((rule, i) => {
      expect(rule.wait(states[i], at, cost)).toBe(0);
      rule.take(states[i], at, cost);
    });
  }
}

describe('rate limiter properties', () => {
  it('untake undoes the last take, for every rule', () => {
    fc.assert(
      fc.property(
        limitArb,
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 3 })), { maxLength: 20 }),
        fc.integer({ min: 1, max: 3 }),
        (spec, steps, cost) => {
          const [limit] = normalizeLimits(spec);
          const rule = ruleFor(limit as never);
          const state = rule.create(0);
          let now = 0;
          for (const [dt, weight] of steps) {
            now += dt;
            if (weight <= (limit as { burst: number }).burst && rule.wait(state, now, weight) === 0)
              rule.take(state, now, weight);
          }
          if (cost > (limit as { burst: number }).burst || rule.wait(state, now, cost) !== 0) return;
          const before = rule.clone(state);
          rule.take(state, now, cost);
          rule.untake(state, cost);
          // Probe copies: a rule's state only moves forward in time.
          for (const probe of [1, 2, 3]) {
            for (const later of [0, 50, 500]) {
              const after = rule.wait(rule.clone(state), now + later, probe);
              expect(after).toBeCloseTo(rule.wait(rule.clone(before), now + later, probe), 6);
            }
          }
        },
      ),
    );
  });

  it('GCRA and the token bucket make the same decisions', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 4, 5, 10),
        fc.constantFrom(100, 1000),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 400 }), weight: fc.integer({ min: 1, max: 3 }) }), {
          maxLength: 60,
        }),
        (limit, interval, burst, steps) => {
          const gcra = new RateLimiter({ limits: { limit, interval, burst } });
          const bucket = new RateLimiter({ limits: { limit, interval, burst, algorithm: 'token-bucket' } });
          for (const { dt, weight } of steps) {
            vi.advanceTimersByTime(dt);
            const w = Math.min(weight, burst);
            const a = gcra.consume({ weight: w });
            const b = bucket.consume({ weight: w });
            expect(b.allowed).toBe(a.allowed);
            expect(b.retryAfter).toBe(a.retryAfter);
            expect(b.remaining).toBe(a.remaining);
          }
        },
      ),
    );
  });

  it('waiting, aborts, timeouts and non-waiting calls: every admission conforms, FIFO per key, nothing leaks', async () => {
    type Op =
      | { kind: 'acquire'; key: number; weight: number; abortable: boolean; timeout: number | undefined }
      | { kind: 'abort'; pick: number }
      | { kind: 'try'; key: number; weight: number }
      | { kind: 'tick'; ms: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('acquire' as const),
        key: fc.integer({ min: 0, max: 2 }),
        weight: fc.integer({ min: 1, max: 3 }),
        abortable: fc.boolean(),
        timeout: fc.option(fc.integer({ min: 0, max: 1500 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
      fc.record({
        kind: fc.constant('try' as const),
        key: fc.integer({ min: 0, max: 2 }),
        weight: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 300 }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(limitArb, { minLength: 1, maxLength: 3 }),
        fc.array(opArb, { maxLength: 80 }),
        async (limits, ops) => {
          const limiter = new RateLimiter({ limits });
          // Times relative to the start: epoch milliseconds are too large for
          // the replay's arithmetic to be exact.
          const base = fakeNow();
          const elapsed = () => fakeNow() - base;
          const admissions = new Map<number, { at: number; cost: number }[]>();
          const admittedSeq = new Map<number, number[]>();
          const record = (key: number, cost: number, seq?: number) => {
            const list = admissions.get(key) ?? [];
            list.push({ at: elapsed(), cost });
            admissions.set(key, list);
            if (seq !== undefined) admittedSeq.set(key, [...(admittedSeq.get(key) ?? []), seq]);
          };
          const waiters: { seq: number; key: number; controller?: AbortController; settled: boolean }[] = [];
          const signals: AbortSignal[] = [];
          let seq = 0;
          for (const op of ops) {
            if (op.kind === 'acquire') {
              const controller = op.abortable ? new AbortController() : undefined;
              if (controller) signals.push(controller.signal);
              const entry = { seq: seq++, key: op.key, controller, settled: false };
              waiters.push(entry);
              const start = elapsed();
              const weight = Math.min(
                op.weight,
                ...limiter.limits.map((l) => (l.algorithm === 'sliding-window' ? l.limit : l.burst)),
              );
              limiter
                .acquire({ key: op.key, weight, signal: controller?.signal, timeout: op.timeout })
                .then(
                  () => {
                    record(op.key, weight, entry.seq);
                    if (op.timeout !== undefined) expect(elapsed() - start).toBeLessThanOrEqual(op.timeout);
                  },
                  () => {},
                )
                .finally(() => {
                  entry.settled = true;
                });
            } else if (op.kind === 'abort') {
              const live = waiters.filter((w) => !w.settled && w.controller);
              live[op.pick % Math.max(1, live.length)]?.controller?.abort();
            } else if (op.kind === 'try') {
              const weight = Math.min(
                op.weight,
                ...limiter.limits.map((l) => (l.algorithm === 'sliding-window' ? l.limit : l.burst)),
              );
              if (limiter.tryAcquire({ key: op.key, weight })) record(op.key, weight);
            } else {
              await vi.advanceTimersByTimeAsync(op.ms);
            }
            await flush(5);
          }
          // Let everything still waiting be admitted.
          await vi.advanceTimersByTimeAsync(1_000_000);
          await flush();
          expect(waiters.every((w) => w.settled)).toBe(true);
          expect(limiter.stats().waiting).toBe(0);
          expect(vi.getTimerCount()).toBe(0);
          for (const signal of signals) expect(abortListeners(signal)).toBe(0);
          for (const list of admissions.values()) assertConforms(limits, list);
          for (const order of admittedSeq.values()) expect(order).toEqual([...order].sort((a, b) => a - b));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('evicting idle keys never changes a decision', () => {
    fc.assert(
      fc.property(
        fc.array(limitArb, { minLength: 1, maxLength: 2 }),
        fc.array(
          fc.record({
            dt: fc.oneof(fc.integer({ min: 0, max: 700 }), fc.double({ min: 0, max: 700, noNaN: true })),
            key: fc.integer({ min: 0, max: 30 }),
            weight: fc.integer({ min: 1, max: 3 }),
          }),
          { maxLength: 150 },
        ),
        (limits, steps) => {
          const shared = new RateLimiter({ limits });
          const separate = new Map<number, RateLimiter>();
          const cap = Math.min(...shared.limits.map((l) => (l.algorithm === 'sliding-window' ? l.limit : l.burst)));
          for (const { dt, key, weight } of steps) {
            vi.advanceTimersByTime(dt);
            let own = separate.get(key);
            if (own === undefined) separate.set(key, (own = new RateLimiter({ limits })));
            const w = Math.min(weight, cap);
            expect(shared.consume({ key, weight: w })).toEqual(own.consume({ weight: w }));
          }
          expect(shared.stats().keys).toBeLessThanOrEqual(separate.size);
        },
      ),
    );
  });
});
