import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff, Pool, type PoolLease } from '../src/index.js';
import { flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

type Step = { kind: 'ok' | 'fail'; ms: number } | { kind: 'hang' };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ok' as const), ms: fc.integer({ min: 0, max: 50 }) }) },
  fc.record({ kind: fc.constant('fail' as const), ms: fc.integer({ min: 0, max: 50 }) }),
  fc.record({ kind: fc.constant('hang' as const) }),
);
type Op =
  | { kind: 'acquire'; timeout: number | undefined; abortable: boolean }
  | { kind: 'release'; pick: number; broken: boolean }
  | { kind: 'abort'; pick: number }
  | { kind: 'tick'; ms: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('acquire' as const),
    timeout: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
    abortable: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat(), broken: fc.boolean() }),
  fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 200 }) }),
);

/** A promise that settles as `s` says, on fake time; 'hang' never settles. */
const play = <T>(s: Step, value: T, error: string) =>
  s.kind === 'hang'
    ? new Promise<T>(() => {})
    : new Promise<T>((resolve, reject) =>
        setTimeout(() => (s.kind === 'ok' ? resolve(value) : reject(new Error(error))), s.ms),
      );

describe('Pool properties', () => {
  it('a factory that fails, hangs and validates false at random: nothing leaks, size never exceeds max', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          min: fc.integer({ min: 0, max: 2 }),
          max: fc.integer({ min: 1, max: 4 }),
          maxUses: fc.integer({ min: 1, max: 5 }),
          creates: fc.array(step, { minLength: 30, maxLength: 30 }),
          validations: fc.array(step, { minLength: 30, maxLength: 30 }),
          destroys: fc.array(step, { minLength: 30, maxLength: 30 }),
          ops: fc.array(op, { maxLength: 50 }),
        }),
        async ({ min, max, maxUses, creates, validations, destroys, ops }) => {
          const bound = Math.max(min, max);
          let made = 0;
          let destroyCalls = 0;
          let validateCalls = 0;
          const live = new Set<number>();
          let maxLive = 0;
          const pool = new Pool<number>({
            min: Math.min(min, bound),
            max: bound,
            maxUses,
            createTimeout: 100,
            destroyTimeout: 100,
            validateTimeout: 100,
            validateAfterIdle: 20,
            idleTimeout: 400,
            createBackoff: constantBackoff(30),
            create: () => {
              const s = creates[made % creates.length] as Step;
              const id = ++made;
              return play(s, id, 'create failed').then((resource) => {
                live.add(resource);
                maxLive = Math.max(maxLive, live.size);
                return resource;
              });
            },
            validate: () => play(validations[validateCalls++ % validations.length] as Step, true, 'validate failed'),
            destroy: (resource) => {
              destroyCalls++;
              live.delete(resource);
              return play(destroys[destroyCalls % destroys.length] as Step, undefined, 'destroy failed');
            },
          });
          const leases: PoolLease<number>[] = [];
          const callers: { settled: boolean; controller?: AbortController }[] = [];
          for (const o of ops) {
            if (o.kind === 'acquire') {
              const controller = o.abortable ? new AbortController() : undefined;
              const caller = { settled: false, controller };
              callers.push(caller);
              pool.acquire({ timeout: o.timeout ?? 1000, signal: controller?.signal }).then(
                (lease) => {
                  caller.settled = true;
                  leases.push(lease);
                },
                () => {
                  caller.settled = true;
                },
              );
            } else if (o.kind === 'release') {
              const lease = leases.splice(o.pick % Math.max(1, leases.length), 1)[0];
              lease?.release(o.broken ? new Error('broken') : undefined);
            } else if (o.kind === 'abort') {
              const waiting = callers.filter((c) => !c.settled && c.controller);
              waiting[o.pick % Math.max(1, waiting.length)]?.controller?.abort();
            } else {
              await vi.advanceTimersByTimeAsync(o.ms);
            }
            await flush(5);
            expect(pool.stats().size).toBeLessThanOrEqual(bound);
            // Resources alive from the factory's point of view (a late create may briefly add one).
            expect(live.size).toBeLessThanOrEqual(bound + pool.stats().creating + 1);
          }
          // Every caller gets an answer: the acquire timeout bounds each wait.
          await vi.advanceTimersByTimeAsync(2000);
          expect(callers.every((c) => c.settled)).toBe(true);
          for (const lease of leases) lease.release();
          const closing = pool.close();
          await vi.advanceTimersByTimeAsync(500);
          await pool.destroy(); // a deadline after close: what is still out is destroyed
          await vi.advanceTimersByTimeAsync(500);
          await closing;
          const stats = pool.stats();
          expect(stats.size).toBe(0);
          expect(stats.waiting).toBe(0);
          expect(stats.created).toBe(stats.destroyed); // created == destroyed + live, live = 0
          expect(stats.created).toBe(live.size + destroyCalls); // every resource made was handed to destroy
          expect(live.size).toBe(0);
          expect(maxLive).toBeLessThanOrEqual(bound + 1);
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});
