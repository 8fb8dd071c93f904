import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { filter, forEach, IterationStoppedError, map, RateLimiter } from '../src/index.js';
import { abortListeners, flush, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A sleep that ends early, rejecting with the reason, when `signal` aborts (as fetch does). */
function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** An async source that counts what was pulled and whether it was closed. */
function counted<T>(items: T[], delay = 0) {
  const stats = { pulled: 0, closed: false };
  async function* gen() {
    try {
      for (const item of items) {
        if (delay > 0) await sleep(delay);
        stats.pulled++;
        yield item;
      }
    } finally {
      stats.closed = true;
    }
  }
  return { source: gen(), stats };
}

describe('map', () => {
  it('keeps order by default, or yields as calls finish', async () => {
    const delays = [30, 10, 20];
    const ordered: number[] = [];
    const run = (async () => {
      for await (const v of map(
        delays,
        async (ms) => {
          await sleep(ms);
          return ms;
        },
        { concurrency: 3 },
      ))
        ordered.push(v);
    })();
    await vi.advanceTimersByTimeAsync(30);
    await run;
    expect(ordered).toEqual([30, 10, 20]);
    const unordered: number[] = [];
    const run2 = (async () => {
      const slow = async (ms: number) => {
        await sleep(ms);
        return ms;
      };
      for await (const v of map(delays, slow, { concurrency: 3, ordered: false })) unordered.push(v);
    })();
    await vi.advanceTimersByTimeAsync(30);
    await run2;
    expect(unordered).toEqual([10, 20, 30]);
  });

  it('breaking out closes the source and aborts the calls in flight', async () => {
    const { source, stats } = counted([1, 2, 3, 4, 5, 6]);
    const signals: AbortSignal[] = [];
    const it = map(
      source,
      async (n, { signal }) => {
        signals.push(signal);
        await sleepFor(n * 10, signal);
        return n;
      },
      { concurrency: 2, buffer: 0 },
    );
    const first = it.next();
    await vi.advanceTimersByTimeAsync(10);
    expect(await first).toEqual({ done: false, value: 1 });
    await it.return?.();
    await flush();
    expect(stats.closed).toBe(true);
    expect(signals.at(-1)?.aborted).toBe(true);
    expect(signals.at(-1)?.reason).toBeInstanceOf(IterationStoppedError);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('after break, the loop returns only once the calls it aborted have stopped', async () => {
    let running = 0;
    const it = map(
      [1, 2, 3, 4, 5, 6, 7, 8],
      async () => {
        running++;
        await sleep(100); // work that does not listen to its signal
        running--;
      },
      { concurrency: 4 },
    );
    const loop = (async () => {
      for await (const _ of it) break;
      return running;
    })();
    await vi.advanceTimersByTimeAsync(100); // the first four finish; the loop breaks on the first result
    await vi.advanceTimersByTimeAsync(100); // the four started next run to their end
    expect(await loop).toBe(0);
  });

  it('the first error is thrown once the calls it aborted have stopped', async () => {
    let running = 0;
    const it = map(
      [1, 2, 3],
      async (n) => {
        running++;
        await sleep(n === 1 ? 10 : 100);
        running--;
        if (n === 1) throw new Error('bad item 1');
      },
      { concurrency: 3 },
    );
    const first = it.next().catch((error: Error) => ({ error: error.message, running }));
    await vi.advanceTimersByTimeAsync(10);
    await flush();
    let settled = false;
    first.then(() => {
      settled = true;
    });
    await flush();
    expect(settled).toBe(false); // items 2 and 3 still run
    await vi.advanceTimersByTimeAsync(90);
    expect(await first).toEqual({ error: 'bad item 1', running: 0 });
  });

  it('the first error stops pulling, aborts the rest, and is thrown once', async () => {
    const { source, stats } = counted([1, 2, 3, 4, 5]);
    const it = map(
      source,
      async (n) => {
        await sleep(10);
        if (n === 2) throw new Error('bad item 2');
        return n;
      },
      { concurrency: 2 },
    );
    const results = [it.next(), it.next(), it.next()];
    const settled = Promise.allSettled(results);
    await vi.advanceTimersByTimeAsync(20);
    const outcomes = await settled;
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
    expect(stats.closed).toBe(true);
    expect(stats.pulled).toBeLessThanOrEqual(4);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('the caller’s signal stops everything and leaves no listener', async () => {
    const controller = new AbortController();
    const it = map(
      [1, 2, 3],
      async (n, { signal }) => {
        await sleepFor(100, signal);
        return n;
      },
      { signal: controller.signal },
    );
    const first = it.next();
    await flush();
    controller.abort(new Error('shutting down'));
    await expect(first).rejects.toThrow('shutting down');
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('admits each call through a limiter', async () => {
    const limiter = new RateLimiter({ limits: { limit: 2, interval: 1000, burst: 2 } });
    const seen: number[] = [];
    const run = forEach(
      [1, 2, 3, 4],
      (n) => {
        seen.push(n);
      },
      { concurrency: 4, limiter },
    );
    await flush();
    expect(seen).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(1000);
    await run;
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('filter keeps order; forEach rejects on the first failure', async () => {
    const kept: number[] = [];
    for await (const n of filter([1, 2, 3, 4, 5, 6], (n) => n % 2 === 0, { concurrency: 3 })) kept.push(n);
    expect(kept).toEqual([2, 4, 6]);
    await expect(forEach([1, 2], () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(() => map(42 as never, (x) => x)).toThrow(
      'Expected `source` to be an iterable or an async iterable, got `42` (number)',
    );
  });

  it('property: never more than `concurrency` in flight, nor `concurrency + buffer` pulled and unconsumed; order kept', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 4 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 20 }),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        async (durations, concurrency, buffer, ordered, sourceDelay, stopAfter) => {
          const { source, stats } = counted(
            durations.map((d, i) => ({ d, i })),
            sourceDelay,
          );
          let inflight = 0;
          let maxInflight = 0;
          let consumed = 0;
          let maxHeld = 0;
          const it = map(
            source,
            async ({ d, i }) => {
              inflight++;
              maxInflight = Math.max(maxInflight, inflight);
              await sleep(d);
              inflight--;
              return i;
            },
            { concurrency, buffer, ordered },
          );
          const out: number[] = [];
          const consumer = (async () => {
            for await (const i of it) {
              out.push(i);
              consumed++;
              if (stopAfter !== undefined && consumed >= stopAfter) break;
              await sleep(5); // a slow consumer
            }
          })();
          for (
            let t = 0;
            t < 3000 && !(await Promise.race([consumer.then(() => true), Promise.resolve(false)]));
            t += 10
          ) {
            maxHeld = Math.max(maxHeld, stats.pulled - consumed);
            await vi.advanceTimersByTimeAsync(10);
          }
          await consumer;
          await vi.advanceTimersByTimeAsync(100);
          expect(maxInflight).toBeLessThanOrEqual(concurrency);
          expect(maxHeld).toBeLessThanOrEqual(concurrency + buffer + 1); // +1: the item being yielded
          const expected = durations.map((_, i) => i).slice(0, stopAfter ?? durations.length);
          if (ordered) expect(out).toEqual(expected);
          else
            expect([...out].sort((a, b) => a - b)).toEqual(
              stopAfter === undefined ? expected : [...out].sort((a, b) => a - b),
            );
          if (stopAfter !== undefined && stopAfter < durations.length) expect(stats.closed).toBe(true);
          expect(inflight).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});
