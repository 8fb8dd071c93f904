import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  bulkhead,
  circuitBreaker,
  constantBackoff,
  countWindow,
  fallback,
  hedge,
  type PolicyContext,
  pipeline,
  RetryBudget,
  retry,
  timeout,
} from '../src/index.js';
import { abortListeners, flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

type Behaviour = { kind: 'ok'; ms: number } | { kind: 'fail'; ms: number } | { kind: 'hang' };
type Op =
  | { kind: 'call'; behaviours: Behaviour[]; abortable: boolean }
  | { kind: 'abort'; pick: number }
  | { kind: 'tick'; ms: number };

const behaviour: fc.Arbitrary<Behaviour> = fc.oneof(
  fc.record({ kind: fc.constant('ok' as const), ms: fc.integer({ min: 0, max: 80 }) }),
  fc.record({ kind: fc.constant('fail' as const), ms: fc.integer({ min: 0, max: 80 }) }),
  fc.record({ kind: fc.constant('hang' as const) }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('call' as const),
    behaviours: fc.array(behaviour, { minLength: 1, maxLength: 4 }),
    abortable: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 120 }) }),
);

describe('policy pipeline properties', () => {
  it('random calls, failures, hangs and aborts: the bulkhead bound holds, every call settles, nothing leaks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1, max: 3 }), async (ops, concurrency) => {
        const policy = pipeline(
          fallback('fallback', { isFailure: (e) => (e as Error).message === 'fail' }),
          retry({ maxAttempts: 3, backoff: constantBackoff(10), budget: new RetryBudget({ ratio: 0.5 }) }),
          timeout(100),
          circuitBreaker({ breaker: countWindow({ size: 5, failureRate: 0.8 }), openDuration: 50 }),
          bulkhead({ concurrency, maxWaiting: 2 }),
          hedge({ delay: 60 }),
        );
        let running = 0;
        let maxRunning = 0;
        const calls: { settled: boolean; controller?: AbortController }[] = [];
        const signals: AbortSignal[] = [];
        for (const o of ops) {
          if (o.kind === 'call') {
            const controller = o.abortable ? new AbortController() : undefined;
            if (controller) signals.push(controller.signal);
            const entry = { settled: false, controller };
            calls.push(entry);
            let attempt = 0;
            const work = ({ signal }: PolicyContext) => {
              // Bulkhead-bound work: count it while it runs.
              const b = o.behaviours[Math.min(attempt++, o.behaviours.length - 1)] as Behaviour;
              running++;
              maxRunning = Math.max(maxRunning, running);
              return new Promise<string>((resolve, reject) => {
                const done = () => {
                  running--;
                  signal?.removeEventListener('abort', onAbort);
                };
                const onAbort = () => {
                  clearTimeout(timer);
                  done();
                  reject(signal?.reason);
                };
                const timer =
                  b.kind === 'hang'
                    ? undefined
                    : setTimeout(() => {
                        done();
                        if (b.kind === 'ok') resolve('ok');
                        else reject(new Error('fail'));
                      }, b.ms);
                signal?.addEventListener('abort', onAbort, { once: true });
              });
            };
            policy.execute(work, { signal: controller?.signal }).then(
              () => {
                entry.settled = true;
              },
              () => {
                entry.settled = true;
              },
            );
          } else if (o.kind === 'abort') {
            const live = calls.filter((c) => !c.settled && c.controller);
            live[o.pick % Math.max(1, live.length)]?.controller?.abort(new Error('aborted'));
          } else {
            await vi.advanceTimersByTimeAsync(o.ms);
          }
          await flush(5);
          // Hedging may run a second attempt beside the first inside the bulkhead's slot.
          expect(running).toBeLessThanOrEqual(concurrency * 2);
        }
        await vi.advanceTimersByTimeAsync(10_000);
        await flush();
        expect(calls.every((c) => c.settled)).toBe(true);
        expect(running).toBe(0);
        for (const signal of signals) expect(abortListeners(signal)).toBe(0);
        await vi.runOnlyPendingTimersAsync();
        expect(vi.getTimerCount()).toBe(0);
        expect(maxRunning).toBeLessThanOrEqual(concurrency * 2);
      }),
      { numRuns: 120 },
    );
  }, 60_000);
});
