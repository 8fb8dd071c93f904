import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Permit, Semaphore } from '../src/index.js';
import { abortListeners, flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

type Op =
  | { kind: 'acquire'; weight: number; priority: number; abortable: boolean; timeout: number | undefined }
  | { kind: 'release'; pick: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'resize'; permits: number }
  | { kind: 'try'; weight: number };

const MAX_CAPACITY = 5;
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('acquire' as const),
    weight: fc.integer({ min: 1, max: 3 }),
    priority: fc.constantFrom(0, 0, 0, 1, 2),
    abortable: fc.boolean(),
    timeout: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('resize' as const), permits: fc.integer({ min: 1, max: MAX_CAPACITY }) }),
  fc.record({ kind: fc.constant('try' as const), weight: fc.integer({ min: 1, max: 3 }) }),
);

interface Request {
  seq: number;
  weight: number;
  priority: number;
  controller: AbortController | undefined;
  state: 'waiting' | 'held' | 'released' | 'rejected';
  permit?: Permit;
  grantedInStep?: number;
}

describe('Semaphore invariants over random interleavings', () => {
  it('never over capacity, strict priority-FIFO, every waiter settles, nothing left registered', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: MAX_CAPACITY }),
        fc.array(op, { maxLength: 60 }),
        async (capacity, ops) => {
          vi.clearAllTimers();
          const sem = new Semaphore(capacity);
          const requests: Request[] = [];
          let step = 0;
          let overCapacityAllowed = 0; // capacity held above the limit right after a shrink
          const heldWeight = () => requests.filter((r) => r.state === 'held').reduce((sum, r) => sum + r.weight, 0);

          for (const o of ops) {
            step++;
            switch (o.kind) {
              case 'acquire': {
                if (o.weight > sem.capacity) {
                  expect(() => sem.acquire({ weight: o.weight })).toThrow(RangeError);
                  break;
                }
                const request: Request = {
                  seq: requests.length,
                  weight: o.weight,
                  priority: o.priority,
                  controller: o.abortable ? new AbortController() : undefined,
                  state: 'waiting',
                };
                requests.push(request);
                const thisStep = step;
                sem
                  .acquire({
                    weight: o.weight,
                    priority: o.priority,
                    signal: request.controller?.signal,
                    timeout: o.timeout,
                  })
                  .then(
                    (permit) => {
                      request.state = 'held';
                      request.permit = permit;
                      request.grantedInStep = thisStep;
                    },
                    () => {
                      request.state = 'rejected';
                    },
                  );
                break;
              }
              case 'release': {
                const held = requests.filter((r) => r.state === 'held');
                const r = held[o.pick % Math.max(1, held.length)];
                if (r) {
                  r.permit?.release();
                  r.permit?.release(); // twice: must be a no-op
                  r.state = 'released';
                }
                break;
              }
              case 'abort': {
                const waiting = requests.filter((r) => r.state === 'waiting' && r.controller);
                waiting[o.pick % Math.max(1, waiting.length)]?.controller?.abort();
                break;
              }
              case 'tick':
                vi.advanceTimersByTime(o.ms);
                break;
              case 'resize':
                sem.resize(o.permits);
                break;
              case 'try': {
                if (o.weight > sem.capacity) break;
                const anyoneWaiting = sem.waiting > 0;
                const permit = sem.tryAcquire({ weight: o.weight });
                if (permit) {
                  expect(anyoneWaiting).toBe(false);
                  requests.push({
                    seq: requests.length,
                    weight: o.weight,
                    priority: 0,
                    controller: undefined,
                    state: 'held',
                    permit,
                    grantedInStep: step,
                  });
                }
                break;
              }
            }
            await flush();
            if (o.kind === 'resize') overCapacityAllowed = Math.max(0, heldWeight() - sem.capacity);

            // The semaphore's books match ours.
            expect(sem.inUse).toBe(heldWeight());
            expect(sem.waiting).toBe(requests.filter((r) => r.state === 'waiting').length);
            const grantedNow = requests.filter((r) => r.grantedInStep === step);
            if (grantedNow.length > 0) {
              // Never more than the capacity in use after any admission.
              expect(sem.inUse).toBeLessThanOrEqual(sem.capacity + overCapacityAllowed);
              if (overCapacityAllowed === 0) expect(sem.inUse).toBeLessThanOrEqual(sem.capacity);
              // No one still waiting was ahead of someone admitted in this step.
              for (const g of grantedNow) {
                for (const w of requests.filter((r) => r.state === 'waiting')) {
                  const ahead = w.priority > g.priority || (w.priority === g.priority && w.seq < g.seq);
                  expect(ahead).toBe(false);
                }
              }
            }
            if (sem.inUse <= sem.capacity) overCapacityAllowed = 0;
            // No lost wake-up: if the head fits, it must have been admitted.
            if (sem.waiting > 0) {
              const head = requests
                .filter((r) => r.state === 'waiting')
                .sort((a, b) => b.priority - a.priority || a.seq - b.seq)[0] as Request;
              expect(sem.inUse + head.weight).toBeGreaterThan(sem.capacity);
            }
          }

          // Drain: release everything held; every waiter must then settle.
          for (
            let round = 0;
            round < 100 && requests.some((r) => r.state === 'waiting' || r.state === 'held');
            round++
          ) {
            for (const r of requests) {
              if (r.state === 'held') {
                r.permit?.release();
                r.state = 'released';
              }
            }
            await flush();
          }
          expect(requests.filter((r) => r.state === 'waiting')).toEqual([]);
          await sem.close();
          // Nothing left registered on any signal, no timer left behind.
          for (const r of requests) if (r.controller) expect(abortListeners(r.controller.signal)).toBe(0);
          expect(vi.getTimerCount()).toBe(0);
          expect(sem.inUse).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('close settles every waiter and leaves nothing registered', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 30 }), async (weights) => {
        const sem = new Semaphore(3);
        const controllers = weights.map(() => new AbortController());
        const outcomes = weights.map((weight, i) =>
          sem.acquire({ weight, signal: controllers[i]?.signal, timeout: 1000 }).then(
            (permit) => permit,
            (error: unknown) => error,
          ),
        );
        const closing = sem.close();
        const settled = await Promise.all(outcomes);
        for (const value of settled) if (value instanceof Permit) value.release();
        await closing;
        for (const c of controllers) expect(abortListeners(c.signal)).toBe(0);
        expect(vi.getTimerCount()).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});
