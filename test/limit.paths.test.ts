import { AsyncLocalStorage } from 'node:async_hooks';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { contextFree } from '../src/core/context.js';
import { limit } from '../src/index.js';
import { abortListeners, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

// limit() has two queued paths (see src/core/context.ts): a direct one while no
// AsyncLocalStorage exists, and a gated one that carries the caller's context.
// The same property runs on both, in this order, in one file.
async function property(): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5 }),
      fc.array(
        fc.record({
          duration: fc.integer({ min: 0, max: 20 }),
          abortAfter: fc.option(fc.integer({ min: 0, max: 30 })),
        }),
        { maxLength: 40 },
      ),
      async (k, tasks) => {
        const limited = limit(k);
        let inFlight = 0;
        let maxInFlight = 0;
        const started: number[] = [];
        const controllers = tasks.map(() => new AbortController());
        const outcomes = tasks.map((task, i) => {
          const signal = controllers[i]?.signal as AbortSignal;
          if (task.abortAfter !== null) setTimeout(() => controllers[i]?.abort(), task.abortAfter);
          return limited
            .run(
              async () => {
                started.push(i);
                inFlight++;
                maxInFlight = Math.max(maxInFlight, inFlight);
                await new Promise((resolve) => setTimeout(resolve, task.duration));
                inFlight--;
              },
              { signal },
            )
            .then(
              () => 'ok',
              () => 'aborted',
            );
        });
        await vi.runAllTimersAsync();
        const settled = await Promise.all(outcomes);
        expect(settled.length).toBe(tasks.length);
        expect(maxInFlight).toBeLessThanOrEqual(k);
        expect(started).toEqual([...started].sort((a, b) => a - b));
        // Every task not aborted while waiting ran.
        for (let i = 0; i < tasks.length; i++) {
          if (settled[i] === 'ok') expect(started).toContain(i);
          expect(abortListeners(controllers[i]?.signal as AbortSignal)).toBe(0);
        }
        expect(limited.running).toBe(0);
        expect(limited.waiting).toBe(0);
      },
    ),
    { numRuns: 150 },
  );
}

describe('limit invariants on both queued paths', () => {
  it('direct path (no AsyncLocalStorage yet): never more than k in flight, FIFO, all settle, no listener left', async () => {
    await null;
    expect(contextFree()).toBe(/^v2[01]\./.test(process.version));
    await property();
  });

  it('gated path (AsyncLocalStorage in use): the same property, and the context is kept', async () => {
    const als = new AsyncLocalStorage<number>();
    als.run(1, () => {});
    await null;
    expect(contextFree()).toBe(false);
    await als.run(7, () => property());
    const limited = limit(1);
    const blocker = als.run(1, () => limited(() => new Promise((resolve) => setTimeout(resolve, 10))));
    const seen = als.run(2, () => limited(() => als.getStore()));
    await vi.runAllTimersAsync();
    await blocker;
    expect(await seen).toBe(2);

    // clearQueue and abort on the gated path.
    const gate = limit(1);
    const hold = gate(() => new Promise((resolve) => setTimeout(resolve, 10)));
    const cleared = als.run(3, () => gate(() => 'never')).catch((error: unknown) => error);
    const controller = new AbortController();
    const aborted = als.run(4, () => gate.run(() => 'never', { signal: controller.signal })).catch((e: unknown) => e);
    controller.abort('stop');
    expect(await aborted).toBe('stop');
    gate.clear();
    expect(((await cleared) as Error).name).toBe('ClearedError');
    await vi.runAllTimersAsync();
    await hold;
    expect(gate.running + gate.waiting).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
  });
});
