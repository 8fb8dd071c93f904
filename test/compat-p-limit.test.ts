import { AsyncLocalStorage } from 'node:async_hooks';
import realPLimit, { limitFunction as realLimitFunction } from 'p-limit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import sluicePLimit, { limitFunction as sluiceLimitFunction } from '../src/compat/p-limit.js';
import { deferred, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

// The same behaviour suite runs against p-limit 7 itself and against the
// drop-in, so any divergence in documented behaviour shows up as a failure.
const implementations = [
  { name: 'p-limit 7', pLimit: realPLimit as unknown as typeof sluicePLimit, limitFunction: realLimitFunction },
  { name: 'sluice/compat/p-limit', pLimit: sluicePLimit, limitFunction: sluiceLimitFunction },
] as const;

describe.each(implementations)('$name', ({ pLimit, limitFunction }) => {
  it('limits concurrency and keeps order of starts', async () => {
    const limit = pLimit(2);
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const results = gates.map((gate, i) =>
      limit(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await flush();
    expect(started).toEqual([0, 1]);
    gates[0]?.resolve();
    await flush();
    expect(started).toEqual([0, 1, 2]);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(results)).toEqual([0, 1, 2]);
  });

  it('does not call the function synchronously', () => {
    const limit = pLimit(1);
    const fn = vi.fn();
    limit(fn);
    expect(fn).not.toHaveBeenCalled();
    expect(limit.activeCount).toBe(1);
    expect(limit.pendingCount).toBe(0);
  });

  it('passes arguments and turns sync throws into rejections', async () => {
    const limit = pLimit(1);
    await expect(limit((a: number, b: string) => `${a}${b}`, 1, 'x')).resolves.toBe('1x');
    const result = limit(() => {
      throw new Error('sync');
    });
    await expect(result).rejects.toThrow('sync');
    expect(limit.activeCount).toBe(0);
    await expect(limit('not a function' as never)).rejects.toBeInstanceOf(TypeError);
    expect(limit.activeCount).toBe(0);
  });

  it('activeCount and pendingCount', async () => {
    const limit = pLimit(1);
    const gate = deferred();
    const a = limit(() => gate.promise);
    const b = limit(() => 1);
    expect(limit.activeCount).toBe(1);
    expect(limit.pendingCount).toBe(1);
    gate.resolve();
    await Promise.all([a, b]);
    expect(limit.activeCount).toBe(0);
    expect(limit.pendingCount).toBe(0);
  });

  it('clearQueue drops pending calls silently by default', async () => {
    const limit = pLimit(1);
    const gate = deferred();
    const a = limit(() => gate.promise);
    const fn = vi.fn();
    const b = track(limit(fn));
    limit.clearQueue();
    expect(limit.pendingCount).toBe(0);
    gate.resolve();
    await a;
    await flush();
    expect(fn).not.toHaveBeenCalled();
    expect(b.state).toBe('pending');
  });

  it('rejectOnClear rejects pending calls with an AbortError', async () => {
    const limit = pLimit({ concurrency: 1, rejectOnClear: true });
    const gate = deferred();
    const a = limit(() => gate.promise);
    const b = track(limit(() => 1));
    limit.clearQueue();
    await flush();
    expect(b.state).toBe('rejected');
    expect((b.error as DOMException).name).toBe('AbortError');
    gate.resolve();
    await a;
  });

  it('validates concurrency and rejectOnClear with p-limit’s errors', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '1']) {
      expect(() => pLimit(bad as number)).toThrow(new TypeError('Expected `concurrency` to be a number from 1 and up'));
    }
    expect(() => pLimit({ concurrency: 1, rejectOnClear: 'yes' as never })).toThrow(
      new TypeError('Expected `rejectOnClear` to be a boolean'),
    );
    expect(() => pLimit(Number.POSITIVE_INFINITY)).not.toThrow();
  });

  it('concurrency setter starts queued work (in a microtask)', async () => {
    const limit = pLimit(1);
    const gate = deferred();
    const started: number[] = [];
    const calls = [0, 1, 2].map((i) =>
      limit(async () => {
        started.push(i);
        await gate.promise;
      }),
    );
    await flush();
    expect(started).toEqual([0]);
    limit.concurrency = 3;
    expect(limit.concurrency).toBe(3);
    await flush();
    expect(started).toEqual([0, 1, 2]);
    expect(() => {
      limit.concurrency = 0;
    }).toThrow(TypeError);
    gate.resolve();
    await Promise.all(calls);
  });

  it('map(iterable, fn) passes value and index, keeps order', async () => {
    const limit = pLimit(2);
    const result = await limit.map([10, 20, 30], async (value, index) => value + index);
    expect(result).toEqual([10, 21, 32]);
  });

  it('map rejects when the iterable throws, without unhandled rejections', async () => {
    const limit = pLimit(1);
    function* broken() {
      yield 1;
      throw new Error('iterable broke');
    }
    await expect(limit.map(broken(), async () => Promise.reject(new Error('task')))).rejects.toThrow('iterable broke');
    await flush();
  });

  it('limitFunction wraps a function and exposes clearQueue', async () => {
    let active = 0;
    let max = 0;
    const fn = limitFunction(
      async (x: number) => {
        active++;
        max = Math.max(max, active);
        await flush(2);
        active--;
        return x * 2;
      },
      { concurrency: 2 },
    );
    expect(await Promise.all([1, 2, 3, 4].map((x) => fn(x)))).toEqual([2, 4, 6, 8]);
    expect(max).toBe(2);
    expect(typeof fn.clearQueue).toBe('function');
  });

  it('keeps the AsyncLocalStorage context of the caller', async () => {
    const als = new AsyncLocalStorage<string>();
    const limit = pLimit(1);
    const gate = deferred();
    const first = als.run('a', () => limit(() => gate.promise));
    const second = als.run('b', () => limit(() => als.getStore()));
    gate.resolve();
    await first;
    expect(await second).toBe('b');
  });
});
