/**
 * A model test of the one waiter engine (src/core/Waiters.ts) under random
 * interleavings of waits (with priorities, signals and deadlines), aborts,
 * time passing, grants from either end and failures: after every step the
 * engine serves exactly the waiter a reference model says it must, every
 * caller gets one answer, and nothing (listener, timer) is left at the end.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { type Waiter, Waiters } from '../src/core/Waiters.js';
import { abortListeners, flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

type Op =
  | { kind: 'wait'; priority: number; abortable: boolean; timeout: number | undefined; preAborted: boolean }
  | { kind: 'abort'; pick: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'grantFirst' }
  | { kind: 'grantLast' }
  | { kind: 'fail'; pick: number }
  | { kind: 'failAll' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      priority: fc.constantFrom(0, 0, 0, 1, -1, 5),
      abortable: fc.boolean(),
      timeout: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
      preAborted: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 20 }) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'grantFirst' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'grantLast' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('fail' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'failAll' as const }), weight: 1 },
);

interface Call {
  readonly n: number;
  readonly priority: number;
  readonly controller: AbortController | undefined;
  readonly deadline: number;
  /** Its signal was aborted before it called: refused without queueing. */
  readonly preAborted: boolean;
  /** What the model says happened to it. */
  expected: 'waiting' | 'granted' | 'aborted' | 'timed out' | 'failed';
  /** What the caller's promise said. */
  outcome?: string;
}

it('serves, cancels and times out exactly as the reference model does', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 200 }), async (ops) => {
      vi.setSystemTime(0);
      let now = 0;
      const lefts: number[] = [];
      const engine = new Waiters(
        {
          left: (waiter) => lefts.push((waiter.data as Call).n),
          timeoutError: (waiter, ms) => new Error(`timeout ${(waiter.data as Call).n} after ${ms}`),
        },
        systemClock,
      );
      const calls: Call[] = [];
      const live = () => calls.filter((c) => c.expected === 'waiting');
      // The model: highest priority first, arrival order within one.
      const order = (list: Call[]) => [...list].sort((a, b) => b.priority - a.priority || a.n - b.n);

      for (const step of ops) {
        switch (step.kind) {
          case 'wait': {
            const controller = step.abortable || step.preAborted ? new AbortController() : undefined;
            if (step.preAborted) controller?.abort(new Error('aborted'));
            const call: Call = {
              n: calls.length,
              priority: step.priority,
              controller,
              deadline: step.timeout === undefined ? Number.POSITIVE_INFINITY : now + step.timeout,
              preAborted: step.preAborted,
              expected: step.preAborted ? 'aborted' : 'waiting',
            };
            calls.push(call);
            const promise = engine.wait<string>(
              1,
              step.priority,
              call,
              undefined,
              controller?.signal,
              step.timeout ?? Number.POSITIVE_INFINITY,
            );
            promise.then(
              (value) => {
                call.outcome = value;
              },
              (error: Error) => {
                call.outcome = error.message.startsWith('timeout') ? 'timed out' : error.message;
              },
            );
            if (step.preAborted) expect(controller && abortListeners(controller.signal)).toBe(0);
            break;
          }
          case 'abort': {
            const waiting = live().filter((c) => c.controller !== undefined);
            const call = waiting[step.pick % Math.max(1, waiting.length)];
            if (call === undefined) break;
            call.expected = 'aborted';
            call.controller?.abort(new Error('aborted'));
            break;
          }
          case 'tick': {
            now += step.ms;
            // Deadlines fire in deadline order (then arrival order, as timers do).
            for (const call of live()) if (call.deadline <= now) call.expected = 'timed out';
            vi.advanceTimersByTime(step.ms);
            break;
          }
          case 'grantFirst':
          case 'grantLast': {
            const expected = order(live());
            const want = step.kind === 'grantFirst' ? expected[0] : lowestNewest(live());
            const got = step.kind === 'grantFirst' ? engine.first() : engine.last();
            expect(got === undefined ? undefined : (got.data as Call).n).toBe(want?.n);
            if (got !== undefined && want !== undefined) {
              want.expected = 'granted';
              engine.grant(got, 'granted');
            }
            break;
          }
          case 'fail': {
            const waiting = live();
            const call = waiting[step.pick % Math.max(1, waiting.length)];
            if (call === undefined) break;
            const waiter = [...engine].find((w) => w.data === call) as Waiter;
            call.expected = 'failed';
            engine.fail(waiter, new Error('failed'));
            break;
          }
          case 'failAll': {
            const waiting = live();
            for (const call of waiting) call.expected = 'failed';
            expect(engine.failAll(new Error('failed'))).toBe(waiting.length);
            break;
          }
        }
        await flush(3);
        // After every step: the same waiters, in the same order, with the same answers.
        expect(engine.size).toBe(live().length);
        expect([...engine].map((w) => (w.data as Call).n)).toEqual(order(live()).map((c) => c.n));
        for (const call of calls) {
          if (call.expected === 'waiting') expect(call.outcome).toBeUndefined();
          else expect(call.outcome).toBe(call.expected);
        }
      }
      // Only abort and deadline exits are reported to the host, each once.
      const early = calls.filter((c) => c.outcome === 'aborted' || c.outcome === 'timed out');
      const earlyNotPre = early.filter((c) => !c.preAborted);
      expect([...lefts].sort((a, b) => a - b)).toEqual(earlyNotPre.map((c) => c.n));
      expect(engine.counters.aborted + engine.counters.timedOut).toBe(early.length);
      // Answer everyone; then nothing is left behind.
      engine.failAll(new Error('failed'));
      await flush(3);
      for (const call of calls) {
        expect(call.outcome).toBeDefined();
        if (call.controller !== undefined) expect(abortListeners(call.controller.signal)).toBe(0);
      }
      expect(vi.getTimerCount()).toBe(0);
    }),
    { numRuns: 300 },
  );
});

/** The model's newest waiter of the lowest priority (what `last()` serves). */
function lowestNewest(list: Call[]): Call | undefined {
  let best: Call | undefined;
  for (const call of list) {
    if (best === undefined || call.priority < best.priority || (call.priority === best.priority && call.n > best.n))
      best = call;
  }
  return best;
}

it('compacts the marks an abort storm leaves in the middle, and loses no live waiter', async () => {
  const engine = new Waiters({ left: () => {}, timeoutError: () => new Error('timeout') }, systemClock);
  const outcomes: string[] = [];
  const controllers: AbortController[] = [];
  for (let n = 0; n < 300; n++) {
    const controller = new AbortController();
    controllers.push(controller);
    engine.wait<string>(1, n % 3 === 0 ? 1 : 0, n, undefined, controller.signal, Number.POSITIVE_INFINITY).then(
      (value) => outcomes.push(`${n}:${value}`),
      () => {},
    );
  }
  // Abort all but every tenth, oldest first: most leave from the middle of their level.
  for (const [n, controller] of controllers.entries()) if (n % 10 !== 0) controller.abort();
  const survivors = [...engine].map((w) => w.data);
  expect(survivors).toEqual([
    ...Array.from({ length: 300 }, (_, n) => n).filter((n) => n % 10 === 0 && n % 3 === 0),
    ...Array.from({ length: 300 }, (_, n) => n).filter((n) => n % 10 === 0 && n % 3 !== 0),
  ]);
  for (let w = engine.first(); w !== undefined; w = engine.first()) engine.grant(w, 'granted');
  await flush();
  expect(outcomes).toEqual(survivors.map((n) => `${n}:granted`));
  expect(engine.size).toBe(0);
});
