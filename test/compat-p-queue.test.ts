import RealPQueue, { TimeoutError as RealTimeoutError } from 'p-queue';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import SluicePQueue, { TimeoutError as SluiceTimeoutError } from '../src/compat/p-queue.js';
import { deferred, fakeNow, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => vi.useRealTimers());

// One behaviour suite, run against p-queue 9 and against the drop-in.
// `isSluice` marks the documented places where the drop-in is deliberately more
// precise than p-queue 9 (see src/compat/p-queue.ts).
const implementations = [
  {
    name: 'p-queue 9',
    PQueue: RealPQueue as unknown as typeof SluicePQueue,
    TimeoutError: RealTimeoutError,
    isSluice: false,
  },
  { name: 'sluice/compat/p-queue', PQueue: SluicePQueue, TimeoutError: SluiceTimeoutError, isSluice: true },
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class FifoQueue {
  #items: (() => void)[] = [];
  enqueue(run: () => void) {
    this.#items.push(run);
  }
  dequeue() {
    return this.#items.shift();
  }
  get size() {
    return this.#items.length;
  }
  filter() {
    return [...this.#items];
  }
}

describe.each(implementations)('$name', ({ PQueue, TimeoutError, isSluice }) => {
  it('concurrency, size, pending, add resolves with the result', async () => {
    const queue = new PQueue({ concurrency: 2 });
    const gates = [deferred(), deferred(), deferred()];
    const results = gates.map((gate, i) =>
      queue.add(async () => {
        await gate.promise;
        return i;
      }),
    );
    expect(queue.pending).toBe(2);
    expect(queue.size).toBe(1);
    expect(queue.concurrency).toBe(2);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(results)).toEqual([0, 1, 2]);
    expect(queue.pending).toBe(0);
  });

  it('defaults to unbounded concurrency', () => {
    const queue = new PQueue();
    expect(queue.concurrency).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 50; i++) queue.add(() => sleep(10));
    expect(queue.pending).toBe(50);
    vi.runAllTimers();
  });

  it('priority: higher first, FIFO among equals; sizeBy', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const gate = deferred();
    const order: number[] = [];
    queue.add(() => gate.promise);
    const all = [
      queue.add(() => order.push(0), { priority: 0 }),
      queue.add(() => order.push(1), { priority: 1 }),
      queue.add(() => order.push(2), { priority: 1 }),
      queue.add(() => order.push(3), { priority: 5 }),
    ];
    expect(queue.sizeBy({ priority: 1 })).toBe(2);
    gate.resolve();
    await Promise.all(all);
    expect(order).toEqual([3, 1, 2, 0]);
  });

  it('setPriority by id (README example)', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const order: string[] = [];
    const all = [
      queue.add(async () => order.push('u1'), { priority: 1 }),
      queue.add(async () => order.push('crab'), { priority: 0, id: 'crab' }),
      queue.add(async () => order.push('u2'), { priority: 1 }),
      queue.add(async () => order.push('u3'), { priority: 1 }),
    ];
    queue.setPriority('crab', 2);
    await Promise.all(all);
    expect(order).toEqual(['u1', 'crab', 'u2', 'u3']);
    expect(() => queue.setPriority('crab', Number.NaN)).toThrow(TypeError);
  });

  it('autoStart: false, start(), pause(), isPaused', async () => {
    const queue = new PQueue({ autoStart: false });
    const fn = vi.fn(() => 1);
    const result = queue.add(fn);
    expect(queue.isPaused).toBe(true);
    expect(queue.size).toBe(1);
    expect(queue.start()).toBe(queue);
    expect(await result).toBe(1);
    queue.pause();
    expect(queue.isPaused).toBe(true);
    const held = track(queue.add(fn));
    await flush();
    expect(held.state).toBe('pending');
    queue.start();
    await flush();
    expect(held.state).toBe('fulfilled');
  });

  it('timeout rejects with TimeoutError and the queue message', async () => {
    const queue = new PQueue({ concurrency: 1, timeout: 100 });
    const slow = track(queue.add(() => sleep(500)));
    const waiting = queue.add(() => sleep(10));
    await vi.advanceTimersByTimeAsync(100);
    expect(slow.state).toBe('rejected');
    expect(slow.error).toBeInstanceOf(TimeoutError);
    expect((slow.error as Error).name).toBe('TimeoutError');
    expect((slow.error as Error).message).toMatch(
      /^Task timed out after 100ms \(queue has \d+ running, \d+ waiting\)$/,
    );
    // sluice reports the state when the timeout fires; p-queue the state when the task started.
    if (isSluice) expect((slow.error as Error).message).toContain('1 running, 1 waiting');
    await vi.runAllTimersAsync();
    await waiting;
  });

  it('per-task timeout overrides the default; queue.timeout is settable', async () => {
    const queue = new PQueue({ timeout: 50 });
    const long = track(queue.add(() => sleep(80), { timeout: 100 }));
    queue.timeout = 20;
    expect(queue.timeout).toBe(20);
    const short = track(queue.add(() => sleep(30)));
    await vi.advanceTimersByTimeAsync(100);
    expect(long.state).toBe('fulfilled');
    expect(short.error).toBeInstanceOf(TimeoutError);
    await vi.runAllTimersAsync();
  });

  it('invalid options throw TypeError; invalid task timeout rejects', async () => {
    expect(() => new PQueue({ concurrency: 0 })).toThrow(TypeError);
    expect(() => new PQueue({ intervalCap: 0 })).toThrow(TypeError);
    expect(() => new PQueue({ interval: -1 })).toThrow(TypeError);
    expect(() => new PQueue({ timeout: -1 })).toThrow(TypeError);
    expect(() => new PQueue({ strict: true, intervalCap: 1 })).toThrow(TypeError);
    const queue = new PQueue();
    await expect(queue.add(() => 1, { timeout: -1 })).rejects.toThrow(TypeError);
    expect(() => {
      queue.concurrency = 0;
    }).toThrow(TypeError);
  });

  it("invalid options: p-queue's own messages, also for an option given as undefined; fractional counts round up", async () => {
    const cases: [object, string][] = [
      [{ concurrency: 0 }, 'Expected `concurrency` to be a number from 1 and up, got `0` (number)'],
      [{ concurrency: undefined }, 'Expected `concurrency` to be a number from 1 and up, got `undefined` (undefined)'],
      [{ intervalCap: 0 }, 'Expected `intervalCap` to be a number from 1 and up, got `0` (number)'],
      [{ intervalCap: undefined }, 'Expected `intervalCap` to be a number from 1 and up, got `` (undefined)'],
      [{ interval: -1 }, 'Expected `interval` to be a finite number >= 0, got `-1` (number)'],
      [{ interval: undefined }, 'Expected `interval` to be a finite number >= 0, got `` (undefined)'],
      [{ timeout: 0 }, 'Expected `timeout` to be a positive finite number, got `0` (number)'],
    ];
    for (const [options, message] of cases) expect(() => new PQueue(options)).toThrow(new TypeError(message));
    const queue = new PQueue({ concurrency: 1.5 });
    await expect(queue.add(() => 1, { timeout: -5 })).rejects.toThrow(
      new TypeError('Expected `timeout` to be a positive finite number, got `-5` (number)'),
    );
    const gates = [deferred(), deferred(), deferred()];
    for (const gate of gates) void queue.add(() => gate.promise);
    expect(queue.pending).toBe(2); // pending < 1.5 admits a second
    const [first] = queue.runningTasks;
    vi.advanceTimersByTime(7);
    expect(queue.runningTasks[0]?.startTime).toBe(first?.startTime); // the same on every read
    for (const gate of gates) gate.resolve();
    await queue.onIdle();
  });

  it('signal: aborting a queued task removes it and rejects with the reason', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const gate = deferred();
    queue.add(() => gate.promise);
    const controller = new AbortController();
    const fn = vi.fn();
    const task = queue.add(fn, { signal: controller.signal });
    expect(queue.size).toBe(1);
    controller.abort(new Error('nope'));
    await expect(task).rejects.toThrow('nope');
    expect(queue.size).toBe(0);
    gate.resolve();
    await queue.onIdle();
    expect(fn).not.toHaveBeenCalled();
  });

  it('signal: the task receives it, and aborting a running task rejects', async () => {
    const queue = new PQueue();
    const controller = new AbortController();
    let received: AbortSignal | undefined;
    const task = queue.add(
      ({ signal }) => {
        received = signal;
        return sleep(100);
      },
      { signal: controller.signal },
    );
    expect(received?.aborted).toBe(false);
    controller.abort(new Error('stop'));
    expect(received?.aborted).toBe(true);
    await expect(task).rejects.toThrow('stop');
    await vi.runAllTimersAsync();
  });

  it('addAll resolves with every result', async () => {
    const queue = new PQueue({ concurrency: 2 });
    expect(await queue.addAll([() => 1, async () => 2, () => Promise.resolve(3)])).toEqual([1, 2, 3]);
  });

  it('onEmpty, onIdle, onPendingZero, onSizeLessThan', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const gates = [deferred(), deferred(), deferred()];
    for (const gate of gates) queue.add(() => gate.promise);
    const empty = track(queue.onEmpty());
    const idle = track(queue.onIdle());
    const pendingZero = track(queue.onPendingZero());
    const below2 = track(queue.onSizeLessThan(2));
    await flush();
    expect([empty.state, idle.state, pendingZero.state, below2.state]).toEqual([
      'pending',
      'pending',
      'pending',
      'pending',
    ]);
    gates[0]?.resolve();
    await flush();
    expect(below2.state).toBe('fulfilled');
    gates[1]?.resolve();
    await flush();
    // The last waiting task has started: sluice reports empty now, p-queue 9 at the next completion.
    if (isSluice) expect(empty.state).toBe('fulfilled');
    expect(idle.state).toBe('pending');
    gates[2]?.resolve();
    await flush();
    expect(empty.state).toBe('fulfilled');
    expect(idle.state).toBe('fulfilled');
    expect(pendingZero.state).toBe('fulfilled');
  });

  it('onPendingZero resolves while paused work waits', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const gate = deferred();
    queue.add(() => gate.promise);
    queue.pause();
    queue.add(() => 1);
    const zero = queue.onPendingZero();
    gate.resolve();
    await zero;
    expect(queue.size).toBe(1);
    queue.clear();
  });

  it('clear() empties the queue; removed tasks never run', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const fn = vi.fn();
    const dropped = [track(queue.add(fn)), track(queue.add(fn))];
    queue.clear();
    expect(queue.size).toBe(0);
    gate.resolve();
    await running;
    await queue.onIdle();
    expect(fn).not.toHaveBeenCalled();
    // p-queue leaves the removed tasks' promises pending (no rejection, no resolution).
    expect(dropped.map((d) => d.state)).toEqual(['pending', 'pending']);
  });

  it('intervalCap + interval: fixed windows', async () => {
    const queue = new PQueue({ intervalCap: 2, interval: 1000 });
    const starts: number[] = [];
    const t0 = fakeNow();
    const all = Array.from({ length: 5 }, () => queue.add(() => starts.push(fakeNow() - t0)));
    await vi.runAllTimersAsync();
    await Promise.all(all);
    expect(starts).toEqual([0, 0, 1000, 1000, 2000]);
  });

  it('strict: sliding window', async () => {
    const queue = new PQueue({ intervalCap: 2, interval: 1000, strict: true });
    const starts: number[] = [];
    const t0 = fakeNow();
    queue.add(() => starts.push(fakeNow() - t0));
    await vi.advanceTimersByTimeAsync(900);
    const rest = Array.from({ length: 3 }, () => queue.add(() => starts.push(fakeNow() - t0)));
    await vi.runAllTimersAsync();
    await Promise.all(rest);
    expect(starts).toEqual([0, 900, 1000, 1900]);
  });

  it('carryoverIntervalCount (and the deprecated carryoverConcurrencyCount)', async () => {
    // p-queue 9 documents the deprecated alias but its defaults shadow it; the drop-in honours it.
    const variants = isSluice
      ? [{ carryoverIntervalCount: true }, { carryoverConcurrencyCount: true }]
      : [{ carryoverIntervalCount: true }];
    for (const options of variants) {
      const queue = new PQueue({ intervalCap: 1, interval: 100, ...options });
      const starts: number[] = [];
      const t0 = fakeNow();
      const a = queue.add(async () => {
        starts.push(fakeNow() - t0);
        await sleep(250);
      });
      const b = queue.add(() => starts.push(fakeNow() - t0));
      await vi.runAllTimersAsync();
      await Promise.all([a, b]);
      // `a` runs 0-250 and still counts against the windows at 100 and 200; `b` starts at the next one.
      expect(starts).toEqual([0, 300]);
    }
  });

  it('isRateLimited, isSaturated, onRateLimit, onRateLimitCleared', async () => {
    const queue = new PQueue({ intervalCap: 1, interval: 100 });
    expect(queue.isRateLimited).toBe(false);
    queue.add(() => 1);
    const second = queue.add(() => 2);
    await queue.onRateLimit();
    expect(queue.isRateLimited).toBe(true);
    expect(queue.isSaturated).toBe(true);
    const cleared = queue.onRateLimitCleared();
    await vi.advanceTimersByTimeAsync(100);
    await cleared;
    expect(queue.isRateLimited).toBe(false);
    await second;
    await vi.runAllTimersAsync();
  });

  it('events: add, active, next, completed, error, empty, idle, pendingZero', async () => {
    const queue = new PQueue({ concurrency: 1 });
    const seen: string[] = [];
    for (const name of ['add', 'active', 'next', 'empty', 'idle', 'pendingZero'] as const) {
      queue.on(name, () => seen.push(name));
    }
    const completed = vi.fn();
    const errored = vi.fn();
    queue.on('completed', completed);
    queue.on('error', errored);
    await queue.add(() => 'value');
    await queue.add(() => Promise.reject(new Error('bad'))).catch(() => {});
    await queue.onIdle();
    expect(completed).toHaveBeenCalledWith('value');
    expect(errored).toHaveBeenCalledWith(new Error('bad'));
    for (const name of ['add', 'active', 'next', 'empty', 'idle', 'pendingZero']) expect(seen).toContain(name);
    expect(seen.indexOf('add')).toBeLessThan(seen.indexOf('active'));
  });

  it('rateLimit and rateLimitCleared events', async () => {
    const queue = new PQueue({ intervalCap: 1, interval: 100 });
    const events: string[] = [];
    queue.on('rateLimit', () => events.push('rateLimit'));
    queue.on('rateLimitCleared', () => events.push('rateLimitCleared'));
    const all = [queue.add(() => 1), queue.add(() => 2)];
    await vi.runAllTimersAsync();
    await Promise.all(all);
    expect(events).toEqual(['rateLimit', 'rateLimitCleared']);
  });

  it('onError rejects on the first task error', async () => {
    const queue = new PQueue();
    const failed = queue.onError();
    queue.add(() => Promise.reject(new Error('first'))).catch(() => {});
    await expect(failed).rejects.toThrow('first');
  });

  it('runningTasks', async () => {
    const queue = new PQueue({ concurrency: 2, timeout: 1000 });
    const gate = deferred();
    queue.add(() => gate.promise, { id: 'job-1', priority: 3 });
    await vi.advanceTimersByTimeAsync(200);
    const [task] = queue.runningTasks;
    expect(task).toMatchObject({ id: 'job-1', priority: 3, timeout: 1000, timeoutRemaining: 800 });
    gate.resolve();
    await queue.onIdle();
  });

  it('queueClass: a custom queue decides the order', async () => {
    const queue = new PQueue({ concurrency: 1, queueClass: FifoQueue as never });
    const gate = deferred();
    const order: number[] = [];
    queue.add(() => gate.promise);
    const all = [queue.add(() => order.push(1), { priority: 0 }), queue.add(() => order.push(2), { priority: 9 })];
    gate.resolve();
    await Promise.all(all);
    expect(order).toEqual([1, 2]);
  });

  it('is an event emitter with on/off/once/emit', () => {
    const queue = new PQueue();
    const listener = vi.fn();
    queue.once('idle', listener);
    queue.emit('idle');
    queue.emit('idle');
    expect(listener).toHaveBeenCalledTimes(1);
    queue.on('empty', listener);
    queue.off('empty', listener);
    queue.emit('empty');
    expect(listener).toHaveBeenCalledTimes(1);
  });
});
