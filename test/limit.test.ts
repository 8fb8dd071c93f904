import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClearedError, limit, QueueFullError } from '../src/index.js';
import { abortListeners, deferred, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('limit', () => {
  it('runs at most `concurrency` at once, in FIFO order', async () => {
    const limited = limit(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const results = gates.map((gate, i) =>
      limited(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await flush();
    expect(started).toEqual([0, 1]);
    expect(limited.running).toBe(2);
    expect(limited.waiting).toBe(2);
    gates[1]?.resolve();
    await flush();
    expect(started).toEqual([0, 1, 2]);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
    expect(limited.running).toBe(0);
  });

  it('passes arguments and propagates results, errors and sync throws', async () => {
    const limited = limit(1);
    await expect(limited((a: number, b: number) => a + b, 2, 3)).resolves.toBe(5);
    await expect(limited(async () => Promise.reject(new Error('async')))).rejects.toThrow('async');
    await expect(
      limited(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(limited.running).toBe(0);
    await expect(limited(() => 'after errors')).resolves.toBe('after errors');
  });

  it.each([
    [0, RangeError],
    [-1, RangeError],
    [Number.NaN, RangeError],
    [1.5, RangeError],
    ['3', TypeError],
    [undefined, TypeError],
  ])('limit(%s) throws %s naming the option and value', (value, type) => {
    expect(() => limit(value as number)).toThrow(type);
    expect(() => limit(value as number)).toThrow(/`concurrency`/);
    expect(() => limit({ concurrency: value as number })).toThrow(type);
  });

  it('throws a TypeError for a non-function task', () => {
    const limited = limit(1);
    expect(() => limited('nope' as never)).toThrow(/Expected `fn` to be a function, got `nope` \(string\)/);
    expect(() => limit({ concurrency: 1, maxWaiting: -1 })).toThrow(/`maxWaiting`.*`-1`/);
    expect(() => limit({ concurrency: 1, rejectOnClear: false } as never)).toThrow(
      'The `rejectOnClear` option was removed: clear() rejects every waiting call (got `rejectOnClear`: `false` (boolean))',
    );
    expect(() => limit({ concurrency: 1, maxPending: 2 } as never)).toThrow(
      'The `maxPending` option was renamed `maxWaiting` (got `maxPending`: `2` (number))',
    );
  });

  it('accepts Infinity', async () => {
    const limited = limit(Number.POSITIVE_INFINITY);
    const gate = deferred();
    const calls = Array.from({ length: 100 }, () => limited(() => gate.promise));
    expect(limited.running).toBe(100);
    gate.resolve();
    await Promise.all(calls);
  });

  it('sheds load past maxWaiting with a clear error', async () => {
    const limited = limit({ concurrency: 1, maxWaiting: 1 });
    const gate = deferred();
    const a = limited(() => gate.promise);
    const b = limited(() => 'b');
    const error = await limited(() => 'c').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).code).toBe('SLUICE_QUEUE_FULL');
    expect((error as Error).message).toBe('limit() queue is full (1/1 waiting, 1/1 running)');
    gate.resolve();
    await a;
    await expect(b).resolves.toBe('b');
  });

  it('clear() rejects waiting calls (no caller left hanging) and says how many', async () => {
    const limited = limit(1);
    const gate = deferred();
    const running = limited(() => gate.promise);
    const waiting = track(limited(() => 'never'));
    expect(limited.clear()).toBe(1);
    await flush();
    expect(waiting.state).toBe('rejected');
    expect(waiting.error).toBeInstanceOf(ClearedError);
    expect(limited.waiting).toBe(0);
    gate.resolve();
    await running;
  });

  it('clear(reason) rejects the waiting calls with that reason; running calls go on', async () => {
    const limited = limit(1);
    const gate = deferred();
    const running = track(limited(() => gate.promise));
    const waiting = track(limited(() => 'never'));
    const reason = new Error('shutting down');
    limited.clear(reason);
    await flush();
    expect(waiting.error).toBe(reason);
    expect(running.state).toBe('pending');
    gate.resolve();
    await flush();
    expect(running.state).toBe('fulfilled');
  });

  it('raising concurrency starts waiting calls at once; lowering it lets running ones finish', async () => {
    const limited = limit(1);
    const gate = deferred();
    const started: number[] = [];
    const calls = [0, 1, 2].map((i) =>
      limited(async () => {
        started.push(i);
        await gate.promise;
      }),
    );
    limited.concurrency = 3;
    await flush();
    expect(started).toEqual([0, 1, 2]);
    limited.concurrency = 1;
    expect(limited.running).toBe(3);
    expect(() => {
      limited.concurrency = 0;
    }).toThrow(RangeError);
    gate.resolve();
    await Promise.all(calls);
  });

  it('run() takes a signal: aborting a waiting call removes it and leaves no listener', async () => {
    const limited = limit(1);
    const gate = deferred();
    const running = limited(() => gate.promise);
    const controller = new AbortController();
    const fn = vi.fn();
    const waiting = track(limited.run(fn, { signal: controller.signal }));
    expect(limited.waiting).toBe(1);
    controller.abort(new Error('cancelled'));
    await flush();
    expect(waiting.state).toBe('rejected');
    expect((waiting.error as Error).message).toBe('cancelled');
    expect(limited.waiting).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    gate.resolve();
    await running;
    await flush();
    expect(fn).not.toHaveBeenCalled();
    await expect(limited.run(() => 1, { signal: AbortSignal.abort('x') })).rejects.toBe('x');
  });

  it('run() passes the signal to the work and removes its listener when started', async () => {
    const limited = limit(1);
    const gate = deferred();
    const first = limited(() => gate.promise);
    const controller = new AbortController();
    const second = limited.run(({ signal }) => signal, { signal: controller.signal });
    gate.resolve();
    expect(await second).toBe(controller.signal);
    expect(abortListeners(controller.signal)).toBe(0);
    await first;
  });

  it('map keeps input order and pulls lazily', async () => {
    const limited = limit(3);
    let pulled = 0;
    function* source() {
      for (let i = 0; i < 10; i++) {
        pulled++;
        yield i;
      }
    }
    const gates = Array.from({ length: 10 }, () => deferred());
    const result = limited.map(source(), async (value, index) => {
      expect(index).toBe(value);
      await gates[value]?.promise;
      return value * 10;
    });
    await flush();
    expect(pulled).toBe(3);
    expect(limited.running).toBe(3);
    for (const gate of [...gates].reverse()) gate.resolve();
    expect(await result).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it('map accepts async iterables', async () => {
    const limited = limit(2);
    async function* source() {
      yield 1;
      yield 2;
      yield 3;
    }
    expect(await limited.map(source(), (v) => v * 2)).toEqual([2, 4, 6]);
  });

  it('map rejects with the first error and stops pulling', async () => {
    const limited = limit(2);
    let pulled = 0;
    let closed = false;
    const source = {
      [Symbol.iterator]() {
        return {
          next: () => ({ done: false, value: pulled++ }),
          return: () => {
            closed = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    await expect(
      limited.map(source as Iterable<number>, async (v) => {
        if (v === 3) throw new Error('three');
        return v;
      }),
    ).rejects.toThrow('three');
    expect(closed).toBe(true);
    await flush();
    expect(pulled).toBeLessThan(10);
    await expect(limited.map(5 as never, (v) => v)).rejects.toThrow(/`iterable`/);
  });

  it('onIdle resolves when nothing runs or waits', async () => {
    const limited = limit(1);
    await limited.onIdle();
    const gate = deferred();
    const a = limited(() => gate.promise);
    const b = limited(() => 1);
    const idle = track(limited.onIdle());
    await flush();
    expect(idle.state).toBe('pending');
    gate.resolve();
    await Promise.all([a, b]);
    await flush();
    expect(idle.state).toBe('fulfilled');
  });

  it('queued calls keep the caller’s AsyncLocalStorage context', async () => {
    const als = new AsyncLocalStorage<string>();
    const limited = limit(1);
    const gate = deferred();
    const blocker = als.run('blocker', () => limited(() => gate.promise));
    const seen = await Promise.all([
      als.run('a', () => limited(() => als.getStore())),
      als.run('b', () => limited.run(async () => als.getStore())),
      als.run('c', () => limited.map([1], () => als.getStore())),
      (async () => {
        await flush();
        gate.resolve();
      })(),
    ]);
    await blocker;
    expect(seen.slice(0, 3)).toEqual(['a', 'b', ['c']]);
  });
});
