import { AsyncLocalStorage } from 'node:async_hooks';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClearedError, ClosedError, PriorityQueue, QueueFullError, TaskQueue, TimeoutError } from '../src/index.js';
import { abortListeners, deferred, fakeNow, flush, track, useFakeTime } from './helpers.js';

beforeEach(() => useFakeTime());
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TaskQueue', () => {
  it('bounds concurrency and serves by priority, FIFO among equals', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const order: string[] = [];
    const first = queue.add(() => gate.promise);
    const tasks = [
      queue.add(async () => order.push('low-a')),
      queue.add(async () => order.push('high-a'), { priority: 2 }),
      queue.add(async () => order.push('low-b')),
      queue.add(async () => order.push('high-b'), { priority: 2 }),
      queue.add(async () => order.push('neg'), { priority: -1 }),
    ];
    expect(queue.waiting).toBe(5);
    expect(queue.running).toBe(1);
    expect(queue.sizeBy({ priority: 2 })).toBe(2);
    expect(queue.isSaturated).toBe(true);
    gate.resolve();
    await Promise.all([first, ...tasks]);
    expect(order).toEqual(['high-a', 'high-b', 'low-a', 'low-b', 'neg']);
  });

  it('starts a task synchronously inside add() when it can', () => {
    const queue = new TaskQueue({ concurrency: 2 });
    const fn = vi.fn(async () => 1);
    queue.add(fn);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(queue.running).toBe(1);
  });

  it('the exported PriorityQueue works as a custom queueClass (priorities, setPriority, abort, sizeBy)', async () => {
    // A subclass takes the custom-queue path (the class itself maps to the native queue).
    class MyQueue extends PriorityQueue {}
    const queue = new TaskQueue({ concurrency: 1, queueClass: MyQueue });
    const gate = deferred();
    const order: string[] = [];
    queue.add(() => gate.promise);
    const controller = new AbortController();
    const aborted = track(queue.add(() => order.push('aborted'), { priority: 9, signal: controller.signal }));
    const all = [
      queue.add(async () => order.push('low')),
      queue.add(async () => order.push('high'), { priority: 2 }),
      queue.add(async () => order.push('moved'), { id: 'moved' }),
    ];
    expect(queue.sizeBy({ priority: 0 })).toBe(2);
    queue.setPriority('moved', 5);
    expect(() => queue.setPriority('missing', 1)).toThrow(ReferenceError);
    controller.abort(new Error('gone'));
    await flush();
    expect(aborted.state).toBe('rejected');
    expect(queue.waiting).toBe(3);
    expect(abortListeners(controller.signal)).toBe(0);
    gate.resolve();
    await Promise.all(all);
    expect(order).toEqual(['moved', 'high', 'low']);
  });

  it('a custom queueClass: waits time out and abort through the engine, leaving no timer and no listener', async () => {
    class MyQueue extends PriorityQueue {}
    const queue = new TaskQueue({ concurrency: 1, queueClass: MyQueue });
    const gate = deferred();
    void queue.add(() => gate.promise);
    const controller = new AbortController();
    const timed = track(queue.run(() => 'late', { timeout: 100 }));
    const aborted = track(queue.run(() => 'gone', { signal: controller.signal }));
    const served = track(queue.run(() => 'served'));
    expect(queue.waiting).toBe(3);
    vi.advanceTimersByTime(99);
    await flush();
    expect(timed.state).toBe('pending');
    vi.advanceTimersByTime(1);
    await flush();
    expect(timed.error).toBeInstanceOf(TimeoutError);
    controller.abort(new Error('left'));
    await flush();
    expect(aborted.error).toEqual(new Error('left'));
    expect(abortListeners(controller.signal)).toBe(0);
    expect(queue.waiting).toBe(1);
    gate.resolve();
    await flush();
    expect(served.value).toBe('served');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('setPriority moves a waiting task', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const order: string[] = [];
    queue.add(() => gate.promise);
    const all = [
      queue.add(async () => order.push('a'), { priority: 1 }),
      queue.add(async () => order.push('crab'), { id: 'crab' }),
      queue.add(async () => order.push('b'), { priority: 1 }),
    ];
    queue.setPriority('crab', 2);
    expect(() => queue.setPriority('missing', 1)).toThrow(ReferenceError);
    expect(() => queue.setPriority('crab', Number.NaN)).toThrow(/`priority`/);
    gate.resolve();
    await Promise.all(all);
    expect(order).toEqual(['crab', 'a', 'b']);
  });

  // pause/start/autoStart run on this engine in test/compat-p-queue.test.ts.

  it('times out a running task, aborts its signal and frees the slot', async () => {
    const queue = new TaskQueue({ concurrency: 1, runTimeout: 100 });
    let seen: AbortSignal | undefined;
    const slow = track(
      queue.add(({ signal }) => {
        seen = signal;
        return sleep(1000);
      }),
    );
    const next = track(queue.add(() => 'next', { runTimeout: 500 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(slow.state).toBe('rejected');
    expect(slow.error).toBeInstanceOf(TimeoutError);
    expect((slow.error as Error).message).toBe('Task timed out after 100ms (queue has 1 running, 1 waiting)');
    expect(seen?.aborted).toBe(true);
    expect(next.state).toBe('fulfilled');
    await vi.runAllTimersAsync();
    expect(queue.stats()).toMatchObject({ runTimedOut: 1, timedOut: 0 });
  });

  it('runTimeout counts from the start, not while waiting; timeout bounds the wait', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const first = queue.add(() => sleep(300));
    const second = track(queue.add(() => sleep(50), { runTimeout: 100 }));
    const third = track(queue.add(() => 'never', { timeout: 200 }));
    await vi.advanceTimersByTimeAsync(200);
    expect(third.error).toBeInstanceOf(TimeoutError);
    expect((third.error as Error).message).toBe('TaskQueue wait timed out after 200 ms (1 running, 1 waiting)');
    await vi.advanceTimersByTimeAsync(360);
    expect(second.state).toBe('fulfilled');
    await first;
  });

  it('aborting a waiting task removes it; aborting a running one rejects it', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const runningController = new AbortController();
    const running = track(queue.add(() => gate.promise, { signal: runningController.signal }));
    const controller = new AbortController();
    const fn = vi.fn();
    const waiting = track(queue.add(fn, { signal: controller.signal }));
    controller.abort(new Error('no longer needed'));
    await flush();
    expect(waiting.state).toBe('rejected');
    expect(queue.waiting).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    runningController.abort(new Error('stop running'));
    await flush();
    expect(running.state).toBe('rejected');
    expect((running.error as Error).message).toBe('stop running');
    expect(queue.running).toBe(0);
    expect(abortListeners(runningController.signal)).toBe(0);
    expect(fn).not.toHaveBeenCalled();
    await expect(queue.add(fn, { signal: AbortSignal.abort('pre') })).rejects.toBe('pre');
    gate.resolve();
  });

  // Fixed windows, the sliding window and carryoverIntervalCount are checked on
  // this same engine by test/compat-p-queue.test.ts (next to p-queue itself), and
  // the sliding window by the property test at the end of this file.

  it('validates options naming the option and value', () => {
    expect(() => new TaskQueue({ concurrency: 0 })).toThrow(/`concurrency`.*`0`/);
    expect(() => new TaskQueue({ intervalCap: 0 })).toThrow(/`intervalCap`/);
    expect(() => new TaskQueue({ interval: -1 })).toThrow(/`interval`.*`-1`/);
    expect(() => new TaskQueue({ interval: Number.POSITIVE_INFINITY })).toThrow(/`interval`/);
    expect(() => new TaskQueue({ runTimeout: 0 })).toThrow(/`runTimeout`/);
    expect(() => new TaskQueue({ timeout: 100 } as never)).toThrow(
      'The `timeout` option was renamed `runTimeout` (got `timeout`: `100` (number))',
    );
    expect(() => new TaskQueue({ strict: true, interval: 0, intervalCap: 1 })).toThrow(/strict/);
    expect(() => new TaskQueue({ strict: true, interval: 10 })).toThrow(/strict/);
    expect(() => new TaskQueue({ maxWaiting: -1 })).toThrow(/`maxWaiting`/);
    expect(() => new TaskQueue({ overflow: 'spill' as never })).toThrow(/`overflow`/);
    const queue = new TaskQueue();
    expect(() => queue.add(null as never)).toThrow(/`fn`/);
    expect(() => queue.add(() => 1, { timeout: -5 })).toThrow(/`timeout`.*`-5`/);
    expect(() => queue.add(() => 1, { runTimeout: 0 })).toThrow(/`runTimeout`.*`0`/);
    expect(() => queue.add(() => 1, { priority: Number.POSITIVE_INFINITY })).toThrow(/`priority`/);
  });

  it('maxWaiting with overflow "reject" refuses new tasks, keeping accepted ones', async () => {
    const queue = new TaskQueue({ concurrency: 1, maxWaiting: 2 });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const a = queue.add(() => 'a');
    const b = queue.add(() => 'b');
    const error = await queue.add(() => 'c').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toBe('TaskQueue is full (2/2 waiting, 1 running)');
    gate.resolve();
    expect(await Promise.all([running, a, b])).toEqual([undefined, 'a', 'b']);
  });

  it('maxWaiting with overflow "drop-oldest" evicts the longest-waiting task', async () => {
    const queue = new TaskQueue({ concurrency: 1, maxWaiting: 2, overflow: 'drop-oldest' });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const a = track(queue.add(() => 'a'));
    const b = queue.add(() => 'b', { priority: 1 });
    const c = queue.add(() => 'c');
    await flush();
    expect(a.state).toBe('rejected');
    expect(a.error).toBeInstanceOf(QueueFullError);
    gate.resolve();
    expect(await Promise.all([running, b, c])).toEqual([undefined, 'b', 'c']);
  });

  it('clear rejects waiting tasks by default and emits empty/idle', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const waiting = track(queue.add(() => 'x'));
    const empty = vi.fn();
    queue.on('empty', empty);
    queue.clear();
    await flush();
    expect(waiting.error).toBeInstanceOf(ClearedError);
    expect(empty).toHaveBeenCalled();
    gate.resolve();
    await running;
  });

  // onEmpty / onIdle / onPendingZero / onSizeLessThan run on this engine in
  // test/compat-p-queue.test.ts, including when `empty` fires.

  it('waiting helpers take a signal and leave no listener behind', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const task = queue.add(() => gate.promise);
    const controller = new AbortController();
    const idle = track(queue.onIdle({ signal: controller.signal }));
    expect(queue.listenerCount('idle')).toBe(1);
    controller.abort(new Error('gave up'));
    await flush();
    expect(idle.state).toBe('rejected');
    expect(queue.listenerCount('idle')).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    gate.resolve();
    await task;
  });

  it('emits events in order with results and errors', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const events: string[] = [];
    for (const name of ['add', 'active', 'next', 'completed', 'error', 'empty', 'idle', 'pendingZero'] as const) {
      queue.on(name, (...args: unknown[]) => events.push(args.length ? `${name}:${String(args[0])}` : name));
    }
    await queue.add(() => 'ok');
    await queue.add(() => Promise.reject(new Error('bad'))).catch(() => {});
    expect(events).toContain('completed:ok');
    expect(events).toContain('error:Error: bad');
    expect(events.indexOf('add')).toBeLessThan(events.indexOf('active'));
    expect(events.filter((e) => e === 'idle').length).toBeGreaterThanOrEqual(2);
  });

  it('does not throw for task errors when nobody listens to "error"', async () => {
    const queue = new TaskQueue();
    await expect(queue.add(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
  });

  it('onError rejects with the first task error', async () => {
    const queue = new TaskQueue();
    const firstError = queue.onError();
    queue.add(() => Promise.reject(new Error('first'))).catch(() => {});
    await expect(firstError).rejects.toThrow('first');
    expect(queue.listenerCount('error')).toBe(0);
  });

  it('rateLimit / rateLimitCleared events and helpers', async () => {
    const queue = new TaskQueue({ intervalCap: 1, interval: 100 });
    const limited = vi.fn();
    const cleared = vi.fn();
    queue.on('rateLimit', limited);
    queue.on('rateLimitCleared', cleared);
    queue.add(() => 1);
    const second = queue.add(() => 2);
    expect(limited).toHaveBeenCalledTimes(1);
    await queue.onRateLimit();
    const clearedPromise = queue.onRateLimitCleared();
    await vi.advanceTimersByTimeAsync(100);
    await clearedPromise;
    expect(cleared).toHaveBeenCalledTimes(1);
    await second;
  });

  it('runningTasks reports ids, priorities and remaining timeout', async () => {
    const queue = new TaskQueue({ concurrency: 2 });
    const gate = deferred();
    queue.add(() => gate.promise, { id: 'user-1', priority: 1, runTimeout: 1000 });
    await vi.advanceTimersByTimeAsync(300);
    const [info] = queue.runningTasks;
    expect(info?.id).toBe('user-1');
    expect(info?.priority).toBe(1);
    expect(info?.runTimeoutRemaining).toBe(700);
    gate.resolve();
    await queue.onIdle();
  });

  it('concurrency can change at run time', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const tasks = [1, 2, 3].map(() => queue.add(() => gate.promise));
    expect(queue.running).toBe(1);
    queue.concurrency = 3;
    expect(queue.running).toBe(3);
    gate.resolve();
    await Promise.all(tasks);
  });

  it('close refuses new tasks and resolves when idle', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const a = queue.add(() => gate.promise);
    const b = queue.add(() => 'b');
    const closed = track(queue.close());
    await expect(queue.add(() => 'c')).rejects.toBeInstanceOf(ClosedError);
    gate.resolve();
    await Promise.all([a, b]);
    await flush();
    expect(closed.state).toBe('fulfilled');
  });

  it('destroy rejects waiting tasks at once and resolves when running ones finish', async () => {
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const running = queue.add(() => gate.promise);
    const controller = new AbortController();
    const waiting = track(queue.add(() => 'never', { signal: controller.signal }));
    const destroyed = track(queue.destroy('shutdown'));
    await flush();
    expect(waiting.error).toBeInstanceOf(ClosedError);
    expect((waiting.error as ClosedError).cause).toBe('shutdown');
    expect(abortListeners(controller.signal)).toBe(0);
    await expect(queue.add(() => 1)).rejects.toBeInstanceOf(ClosedError);
    expect(destroyed.state).toBe('pending');
    gate.resolve();
    await running;
    await flush();
    expect(destroyed.state).toBe('fulfilled');
  });

  it('queued tasks keep the AsyncLocalStorage context of add()', async () => {
    const als = new AsyncLocalStorage<string>();
    const queue = new TaskQueue({ concurrency: 1 });
    const gate = deferred();
    const first = als.run('first', () => queue.add(() => gate.promise));
    const second = als.run('second', () => queue.add(() => als.getStore()));
    gate.resolve();
    await first;
    expect(await second).toBe('second');
  });

  it('keeps no timer while idle, even with rate limiting', async () => {
    const queue = new TaskQueue({ intervalCap: 1, interval: 1000 });
    await queue.add(() => 1);
    expect(vi.getTimerCount()).toBe(0);
    const cleared = queue.add(() => 2).catch((error: unknown) => error);
    expect(vi.getTimerCount()).toBe(1);
    queue.clear();
    expect(vi.getTimerCount()).toBe(0);
    expect(await cleared).toBeInstanceOf(ClearedError);
  });

  it('property: concurrency and strict rate limits hold under random load', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 10, max: 100 }),
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 300 }),
            duration: fc.integer({ min: 0, max: 80 }),
            priority: fc.integer({ min: 0, max: 2 }),
          }),
          { maxLength: 30 },
        ),
        async (concurrency, intervalCap, interval, tasks) => {
          const queue = new TaskQueue({ concurrency, intervalCap, interval, strict: true });
          const t0 = fakeNow();
          const starts: number[] = [];
          let running = 0;
          let maxRunning = 0;
          const done: Promise<unknown>[] = [];
          for (const task of tasks) {
            setTimeout(() => {
              done.push(
                queue.add(
                  async () => {
                    starts.push(fakeNow() - t0);
                    running++;
                    maxRunning = Math.max(maxRunning, running);
                    await sleep(task.duration);
                    running--;
                  },
                  { priority: task.priority },
                ),
              );
            }, task.at);
          }
          await vi.runAllTimersAsync();
          await Promise.all(done);
          expect(done.length).toBe(tasks.length);
          expect(starts.length).toBe(tasks.length);
          expect(maxRunning).toBeLessThanOrEqual(concurrency);
          for (let i = 0; i < starts.length; i++) {
            const inWindow = starts.filter((s) => s >= (starts[i] as number) && s < (starts[i] as number) + interval);
            expect(inWindow.length).toBeLessThanOrEqual(intervalCap);
          }
          expect(queue.waiting + queue.running).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
